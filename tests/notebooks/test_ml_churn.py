"""The churn notebook runs top to bottom on the demo data in a real kernel: train, register,
promote (or not), score and drift, all through the governed session."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dap_kernel.session import Workspace

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "ml_churn.ipynb"


@pytest.mark.slow
def test_ml_churn_runs_top_to_bottom(
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
        o.get("text", "")
        + str(o.get("data", {}).get("text/html", ""))
        + str(o.get("data", {}).get("text/plain", ""))
        for o in outputs
    )
    assert "logistic classification of churned" in text and "roc_auc" in text
    assert "churn_demo v2" in text  # the second version, registered
    assert "not promoted" in text or "is @champion" in text
    assert "population stability" in text or "PSI" in text
    assert (demo_workspace.settings.home / "mlflow" / "mlflow.db").exists()
