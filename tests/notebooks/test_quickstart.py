"""The quickstart notebook runs top to bottom on the demo data in a real kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dap_kernel.session import Workspace

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAP_HOME", str(demo_workspace.settings.home))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = {
        i: "".join(
            o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
            for o in cell.get("outputs", [])
        )
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
    }
    text = "\n".join(outputs.values())
    assert "error" not in {o.get("output_type") for c in nb.cells for o in c.get("outputs", [])}
    assert "tester" in text  # %dap whoami
    assert "main.customers" in text  # %dap catalog
    assert "3 rows in" in text  # the region revenue query: AMER, APAC, EMEA
    assert "did you mean orders" in text
    assert "function read_csv() is not allowed" in text
    assert "one statement at a time" in text
