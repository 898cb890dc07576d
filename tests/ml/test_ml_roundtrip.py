"""The MLflow round trip: train → register → alias → load → batch and REST predictions equal,
and the grant on ``model:NAME`` decides who may score, in-process and over REST alike."""

from __future__ import annotations

import json

import mlflow
import pytest

from dap_kernel import ml
from dap_kernel.errors import QueryRefused
from dap_kernel.ml.tracking import store_for
from tests.ml.conftest import Data
from tests.server.conftest import Api


async def test_train_register_alias_load_and_score_the_same_everywhere(
    api: Api, data: Data
) -> None:
    tester = data.session()
    model = ml.train("accounts", "churned", model="logistic", name="churn", session=tester)

    assert model.task == "classification" and model.version == 1
    assert model.aliases == ("challenger", "champion")  # the first version is champion too
    assert model.metric("roc_auc") > 0.7 and {m.name for m in model.metrics} == {
        "accuracy",
        "roc_auc",
        "f1",
    }
    assert set(model.features.dates) == {"signup"} and "segment" in model.features.categorical
    assert dict(model.features.dropped).keys() == {"account_id", "email"}
    assert model.versions == (("main.accounts", 0),) and model.tables == ("main.accounts",)
    assert "main.accounts" in model._repr_html_() and model.plot().data[0].name.startswith("ROC")

    # tracked: the run's tags name the source, the versions read and the user
    store = store_for(tester)
    mlflow.set_tracking_uri(store.uri)
    mlflow.set_registry_uri(store.uri)
    run = mlflow.MlflowClient(store.uri, store.uri).get_run(model.run_id)
    assert run.data.tags["dap.user"] == "tester"
    assert json.loads(run.data.tags["dap.table_versions"]) == {"main.accounts": 0}
    assert run.data.tags["dap.source_sql"] == 'SELECT * FROM "accounts"'
    assert run.data.metrics["cv_roc_auc"] == pytest.approx(model.metric("roc_auc"))

    # ann may score once granted; bob may not, whatever door he uses
    data.ws.admin("tester").grant("SELECT", "model:churn", "user", "ann")
    ann, bob = data.session("ann"), data.session("bob")
    query = "SELECT * FROM accounts ORDER BY account_id LIMIT 25"
    batch = ml.predict("models:/churn@champion", query, session=ann)
    assert batch.height == 25 and set(batch["region"]) == {"EMEA"}
    assert batch["codename"].unique().to_list() == ["***"]  # scored as ann sees the rows

    loaded = mlflow.sklearn.load_model("models:/churn@champion")  # the stored model itself
    features = batch.select([c for c, _ in model.features.types]).to_pandas()
    assert [str(v) for v in loaded.predict(features)] == batch["prediction"].to_list()
    assert ml.predict("churn/1", query, session=ann).equals(batch)

    rows = json.loads(batch.drop("prediction", "probability").write_json())
    reply = await api("POST", "models/churn/predict", as_="ann", body={"rows": rows})
    assert reply.status == 200, reply.body
    assert reply.body["version"] == 1
    assert reply.body["prediction"] == batch["prediction"].to_list()
    assert reply.body["probability"] == pytest.approx(batch["probability"].to_list())

    with pytest.raises(QueryRefused, match="bob may not use model churn"):
        ml.predict("churn", query, session=bob)
    refused = await api("POST", "models/churn/predict", as_="bob", body={"rows": rows})
    assert refused.status == 403 and refused.body["error"] == "query_refused"
    assert "EMEA" not in refused.body["message"]
    unknown = await api("POST", "models/nothing/predict", as_="tester", body={"rows": rows})
    assert unknown.status == 404 and unknown.body["error"] == "unknown_model"
    bad = await api("POST", "models/churn/predict", as_="ann", body={"rows": [{"x": 1}]})
    assert bad.status == 400 and "missing" in bad.body["message"]

    # a second version is the challenger; an alias other than champion moves freely
    second = ml.train("accounts", "churned", model="random_forest", name="churn", session=tester)
    assert second.version == 2 and second.aliases == ("challenger",)
    ml.alias("churn", "challenger", 1, session=tester)
    assert ml.predict("churn@challenger", query, session=ann).equals(batch)
    with pytest.raises(QueryRefused):  # ann may use the model, not manage it
        ml.alias("churn", "challenger", 2, session=ann)

    # The same changes over REST end in the same functions: refused, checked, audited alike.
    moved = await api("POST", "models/churn/aliases/challenger", as_="tester", body={"version": 2})
    assert moved.status == 200, moved.body
    assert ml.predict("churn@challenger", query, session=ann).equals(
        ml.predict("churn/2", query, session=ann)
    )
    refused = await api("POST", "models/churn/aliases/challenger", as_="ann", body={"version": 1})
    assert refused.status == 403 and refused.body["error"] == "query_refused"
    champion = await api("POST", "models/churn/aliases/champion", as_="tester", body={"version": 2})
    assert champion.status == 400 and "dap.ml.promote" in champion.body["message"]
    better = second.metric("accuracy") > model.metric("accuracy")
    promoted = await api(
        "POST", "models/churn/promote", as_="tester", body={"version": 2, "metric": "accuracy"}
    )
    assert promoted.status == (200 if better else 409), promoted.body
    if better:
        assert promoted.body["previous"] == 1 and promoted.body["version"] == 2
    else:
        assert promoted.body["error"] == "promotion_refused"
    rest = [r for r in data.ws.audit.tail(50, action="model_alias") if r.channel == "rest"]
    assert {(r.principal, r.decision) for r in rest} >= {("tester", "allowed"), ("ann", "refused")}


def test_batch_scores_into_a_lake_table_through_the_governed_write(data: Data) -> None:
    tester = data.session()
    ml.train("accounts", "churned", model="logistic", name="churn", session=tester)
    data.ws.admin("tester").grant("SELECT", "model:churn", "user", "raj")
    raj = data.session("raj")

    scored = ml.predict("churn", "accounts", into="main.raj_scores", session=raj)

    apac = data.rows_of("APAC").height
    assert scored.height == apac
    stored = tester.sql("SELECT count(*) AS n, count(DISTINCT region) AS r FROM main.raj_scores")
    assert stored.row(0) == (apac, 1)  # raj's rows, as raj saw them
    assert tester.sql("SELECT DISTINCT codename FROM main.raj_scores").item() == "***"
    writes = data.ws.audit.tail(20, principal="raj")
    assert any("raj_scores" in (r.statement or "") and r.decision == "allowed" for r in writes)
