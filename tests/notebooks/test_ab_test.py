"""The A/B test notebook runs top to bottom on the demo data in a real kernel."""

from __future__ import annotations

import pytest

from dap_kernel.session import Workspace
from tests.notebooks.runner import run_notebook


@pytest.mark.slow
def test_ab_test_runs_top_to_bottom(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_notebook(
        "ab_test.ipynb", {"DAP_HOME": str(demo_workspace.settings.home)}, monkeypatch
    )
    text, plots = run.text, run.plots
    assert "['" in text and "sample ratio mismatch: False" in text
    assert "orders per customer" in text and "revenue per customer" in text
    assert "ordered at all" in text and "True" in text.split("size")[-1]  # magic == API
    assert len(plots) >= 1  # the forest plot
