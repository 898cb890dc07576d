"""The quickstart notebook runs top to bottom on the demo data in a real kernel."""

from __future__ import annotations

import pytest

from dap_kernel.session import Workspace
from tests.notebooks.runner import run_notebook


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(demo_workspace.settings.home)
    text = run_notebook("quickstart.ipynb", {"DAP_HOME": home}, monkeypatch, timeout=120).text
    assert "tester" in text  # %dap whoami
    assert "main.customers" in text  # %dap catalog
    assert "3 rows in" in text  # the region revenue query: AMER, APAC, EMEA
    assert "did you mean orders" in text
    assert "function read_csv() is not allowed" in text
    assert "one statement at a time" in text
