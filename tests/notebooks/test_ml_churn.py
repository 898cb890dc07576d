"""The churn notebook runs top to bottom on the demo data in a real kernel: train, register,
promote (or not), score and drift, all through the governed session."""

from __future__ import annotations

import pytest

from dap_kernel.session import Workspace
from tests.notebooks.runner import run_notebook


@pytest.mark.slow
def test_ml_churn_runs_top_to_bottom(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(demo_workspace.settings.home)
    text = run_notebook("ml_churn.ipynb", {"DAP_HOME": home}, monkeypatch).text
    assert "logistic classification of churned" in text and "roc_auc" in text
    assert "churn_demo v2" in text  # the second version, registered
    assert "not promoted" in text or "is @champion" in text
    assert "population stability" in text or "PSI" in text
    assert (demo_workspace.settings.home / "mlflow" / "mlflow.db").exists()
