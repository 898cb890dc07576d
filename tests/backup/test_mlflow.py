"""The MLflow store comes across: a model registered before the backup scores the same rows
the same way in a home restored to another path (MLflow's absolute artifact locations moved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from dap_kernel import ml
from dap_kernel.backup import backup, restore
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Home


def test_a_registered_model_scores_the_same_after_restore(source: Home, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    frame = pl.DataFrame({"id": np.arange(200), "x": x, "y": (x + rng.normal(size=200)) > 0})
    source.ws.catalog.create_table("accounts", frame, owner="tester")
    tester = source.ws.session()
    ml.train("accounts", "y", model="logistic", name="churn", cv=2, session=tester)
    query = "SELECT * FROM accounts ORDER BY id LIMIT 20"
    before = ml.predict("models:/churn@champion", query, session=tester)

    result = backup(tester, tmp_path / "backup")
    assert any(p.startswith("home/mlflow/mlflow.db") for p in result.manifest.files)
    assert any("/artifacts/" in p for p in result.manifest.files)
    settings = Settings(home=tmp_path / "elsewhere" / "home", user="tester")
    restore(tmp_path / "backup", settings, key_file=source.path / "secrets.key")
    new = Workspace(settings)
    hidden = source.path.with_name("source-home-away")
    source.path.rename(hidden)  # the restored home must not lean on the source's files
    try:
        after = ml.predict("models:/churn@champion", query, session=new.session())
        assert after.equals(before)
    finally:
        hidden.rename(source.path)
        new.close()
    # the restored store names only its own artifacts, never the source home's
    db = (tmp_path / "elsewhere" / "home" / "mlflow" / "mlflow.db").read_bytes()
    assert str(source.path).encode() not in db
