"""The A/B test notebook runs top to bottom on the demo data in a real kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dap_kernel.session import Workspace

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "ab_test.ipynb"


@pytest.mark.slow
def test_ab_test_runs_top_to_bottom(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAP_HOME", str(demo_workspace.settings.home))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert "error" not in {o.get("output_type") for o in outputs}
    text = "\n".join(
        o.get("text", "") + "".join(str(v) for k, v in o.get("data", {}).items() if "text" in k)
        for o in outputs
    )
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert "['" in text and "sample ratio mismatch: False" in text
    assert "orders per customer" in text and "revenue per customer" in text
    assert "ordered at all" in text and "True" in text.split("size")[-1]  # magic == API
    assert len(plots) >= 1  # the forest plot
