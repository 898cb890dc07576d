"""Models are governed like the rows they learn from: an analyst trains on their rows as they
see them, nothing of a governed row reaches the MLflow store, promotion is earned and audited,
and ``dap.ml`` costs nothing until it is used."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from dap_kernel import ml
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.ml.tracking import store_for
from tests.kernel.test_layers import import_graph
from tests.ml.conftest import SECRETS, Data


def test_a_row_filtered_analyst_trains_on_their_rows_only(data: Data) -> None:
    ann = data.session("ann")

    model = ml.train("accounts", "churned", model="logistic", track=False, session=ann)

    emea = data.rows_of("EMEA").height
    assert model.rows == emea < data.frame.height  # her governed count, not the raw count
    assert model.user == "ann" and model.name is None and model.run_id is None
    dropped = dict(model.features.dropped)
    assert "codename" in dropped and "masked" in dropped["codename"]  # redacted: one value
    # a SELECT that tries to widen her view is rewritten like any query
    sneaky = ml.train(
        "SELECT * FROM accounts WHERE region <> 'EMEA' OR true",
        "churned",
        model="logistic",
        track=False,
        session=ann,
    )
    assert sneaky.rows == emea
    for hostile in ("SELECT 1 AS x; DROP TABLE accounts", "accounts; DROP TABLE accounts"):
        with pytest.raises(DapError):
            ml.train(hostile, "x", track=False, session=ann)
    with pytest.raises(ml.MLError):  # a write is no source
        ml.train("WITH t AS (SELECT 1) INSERT INTO accounts SELECT * FROM t", "x", session=ann)
    assert data.session().sql("SELECT count(*) FROM accounts").item() == data.frame.height
    with pytest.raises(DapError):  # bob may read nothing
        ml.train("accounts", "churned", track=False, session=data.session("bob"))
    with pytest.raises(ml.MLError, match="governed SQL"):
        ml.train(data.frame, "churned", session=ann)  # type: ignore[arg-type]


def test_no_governed_value_reaches_the_mlflow_store(data: Data) -> None:
    """ann sees codename and email redacted: her models hold neither. No model holds a row or
    an e-mail (text with many values is left out), whoever trains it; scoring and drift write
    nothing to the store."""
    ann, raj, tester = data.session("ann"), data.session("raj"), data.session()
    ml.train("accounts", "churned", model="logistic", name="churn", session=ann)
    ml.train("accounts", "churned", model="logistic", features=["email", "tenure"], session=tester)
    data.ws.admin("tester").grant("SELECT", "model:churn", "user", "raj")
    ml.predict("churn", "accounts", session=raj)
    ml.drift("models:/churn@champion", "SELECT * FROM accounts WHERE segment = 'pro'", session=ann)

    root = store_for(ann).artifacts.parent  # type: ignore[union-attr]
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    files = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]
    assert any(f.endswith("mlflow.db") for f in files) and len(files) > 10
    distinctive = [s.encode() for s in SECRETS] + [b"secret@example.com", b"acct17."]
    for path in files:
        with open(path, "rb") as handle:
            content = handle.read()
        for value in distinctive:
            assert value not in content, (path, value)


def test_promotion_needs_the_threshold_and_is_audited(data: Data) -> None:
    tester = data.session()
    weak = ml.train(
        "accounts", "churned", model="logistic", features=["region"], name="churn", session=tester
    )
    strong = ml.train("accounts", "churned", model="logistic", name="churn", session=tester)
    assert weak.aliases == ("challenger", "champion") and strong.version == 2
    assert strong.metric("roc_auc") > weak.metric("roc_auc") + 0.1

    with pytest.raises(ml.PromotionRefused, match="does not beat"):
        ml.promote("churn", 2, min_improvement=0.5, session=tester)
    done = ml.promote("churn", 2, min_improvement=0.05, session=tester)

    assert (done.version, done.previous, done.metric) == (2, 1, "roc_auc")
    assert ml.predict("churn", "SELECT * FROM accounts LIMIT 3", session=tester).height == 3
    with pytest.raises(ml.PromotionRefused, match="champion already"):
        ml.promote("churn", 2, session=tester)
    with pytest.raises(ml.PromotionRefused):  # back to the weak one: worse, refused
        ml.promote("churn", 1, session=tester)
    with pytest.raises(QueryRefused):  # ann may not manage tester's model
        ml.promote("churn", 1, session=data.session("ann"))
    with pytest.raises(QueryRefused):  # nor register a version under its name
        ml.train("accounts", "churned", model="logistic", name="churn", session=data.session("ann"))
    data.ws.admin("tester").grant("MODIFY", "model:churn", "user", "ann")
    with pytest.raises(ml.PromotionRefused):  # now she may try: the metric still decides
        ml.promote("churn", 1, session=data.session("ann"))

    records = data.ws.audit.tail(50, action="model_promote")
    decisions = [(r.principal, r.decision) for r in reversed(records)]
    assert decisions == [
        ("tester", "failed"),
        ("tester", "allowed"),
        ("tester", "failed"),
        ("tester", "failed"),
        ("ann", "refused"),
        ("ann", "failed"),
    ]
    allowed = next(r for r in records if r.decision == "allowed")
    assert "model:churn v2 to @champion" in allowed.statement
    assert data.ws.audit.verify() is None  # the chain holds
    registered = data.ws.audit.tail(50, action="model_register")
    assert [r.decision for r in reversed(registered)] == ["allowed", "allowed", "refused"]


def test_model_securables_are_checked_by_the_admin(data: Data) -> None:
    admin = data.ws.admin("tester")
    admin.grant("SELECT", "model:not-trained-yet", "group", "analysts")  # before it exists
    with pytest.raises(DapError, match="invalid model name"):
        admin.grant("SELECT", "model:Bad Name", "user", "ann")
    with pytest.raises(ml.MLError, match="invalid model name"):
        ml.predict("../x@champion", "accounts", session=data.session())


def test_importing_dap_loads_neither_sklearn_nor_mlflow() -> None:
    code = (
        "import sys, dap_kernel, dap_kernel.ml, dap_kernel.ml.predict, dap_kernel.magics.ml; "
        "print(','.join(m for m in ('sklearn', 'mlflow', 'skops') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"loaded at import: {loaded}"


def test_ml_sits_below_the_client_and_the_session_knows_nothing_of_it() -> None:
    graph = import_graph()
    modules = [m for m in graph if m.startswith("dap_kernel.ml")]
    assert {"dap_kernel.ml.train", "dap_kernel.ml.tracking", "dap_kernel.ml.drift"} <= set(modules)
    for module in modules:
        assert not graph[module] & {"dap_kernel.client", "dap_kernel.local", "dap_kernel.magics"}
        assert "dap_kernel.session" not in graph[module]
    assert not graph["dap_kernel.session"] & set(modules)
