"""An analysis logged to MLflow holds the result's figures, aggregates only, in DAP's store."""

from __future__ import annotations

import pytest

from dap_kernel.experiments import analyze, log_result
from dap_kernel.ml.tracking import active, store_for
from tests.experiments.conftest import EXPERIMENT, Lab
from tests.experiments.test_analysis import METRICS


def test_a_result_becomes_an_mlflow_run_of_aggregates(lab: Lab) -> None:
    session = lab.session()
    result = analyze(EXPERIMENT, METRICS, exposures="exposures", session=session)

    run_id = log_result(result, session=session, run_name="week 1")

    store = store_for(session)
    assert str(lab.ws.settings.home) in store.uri  # DAP's own store, not MLflow's default
    with active(store) as mlflow:
        run = mlflow.get_run(run_id)
        assert mlflow.get_experiment(run.info.experiment_id).name == "ab/new_checkout"
        artifacts = {a.path for a in mlflow.MlflowClient(store.uri).list_artifacts(run_id)}
    post = result["post"]
    logged = run.data.metrics
    assert logged["post.treatment.pvalue"] == pytest.approx(post.pvalue)
    assert logged["post.treatment.lift"] == pytest.approx(post.lift)
    assert logged["units.control"] == result.units[0]
    assert run.data.tags["dap.user"] == "tester" and run.data.tags["dap.srm"] == "False"
    assert run.data.params["variants"] == "control,treatment"
    assert artifacts == {"result.html", "forest_plot.html"}
    # aggregates only: no unit id or row value of the activity table is in the store
    files = [p for p in (lab.ws.settings.home / "mlflow").rglob("*") if p.is_file()]
    blob = b"".join(p.read_bytes() for p in files)
    some_revenue = f"{lab.activity['revenue'][17]:.6f}".encode()
    assert some_revenue not in blob
