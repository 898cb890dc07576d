"""Choosing the engine at every front door: DAP_ENGINE, ``dap sql --engine``, ``%%dap sql
--engine``, ``dap.sql(..., engine=)``; an engine DAP does not know is a one-line error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import dap_kernel as dap
from dap_kernel.errors import ConfigError
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"
COUNT = "SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region"


@pytest.mark.parametrize("engine", ["chdb", "spark"])
def test_dap_engine_setting_makes_another_engine_the_default(
    demo_home: Path, tmp_path: Path, engine: str, spark_session: object
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester", engine=engine))
    try:
        assert ws.engine.name == engine and ws.local_engine.name == "duckdb"
        session = ws.session(Principal("tester", source="test"))
        on_chdb = session.sql(COUNT)
        assert (
            on_chdb["n"].cast(pl.Int64).to_list()
            == session.sql(COUNT, engine="duckdb")["n"].to_list()
        )
        # Writes profile the new table with the local engine; the data lands in the lake.
        session.sql("CREATE TABLE main.regions AS SELECT DISTINCT region FROM customers")
        assert ws.catalog.get("main.regions").row_count == on_chdb.height
        assert ws.audit.tail(limit=5, principal="tester")[-1].reason == f"engine {engine}"
    finally:
        ws.close()
    with pytest.raises(ConfigError, match="DAP_ENGINE='oracle' is not supported"):
        Settings(home=home, engine="oracle")


def test_python_api_takes_an_engine(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch, spark_session: object
) -> None:
    monkeypatch.setenv("DAP_HOME", str(demo_home))
    assert dap.sql(COUNT, engine="chdb").rows() == dap.sql(COUNT).rows()
    assert dap.sql(COUNT, engine="spark").rows() == dap.sql(COUNT).rows()
    with pytest.raises(ConfigError, match="unknown engine 'oracle'"):
        dap.sql(COUNT, engine="oracle")


@pytest.mark.parametrize("engine", ["chdb", "spark"])
def test_magic_takes_an_engine(shell: Any, engine: str, spark_session: object) -> None:
    shell.run_cell_magic("dap", f"sql --engine {engine} --name by_region", COUNT)
    frame = shell.user_ns["by_region"]
    assert frame.height == 3
    assert frame.rows() == shell.run_cell_magic("dap", "sql", COUNT).rows()


def test_cli_takes_an_engine(demo_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester"})

    def dap_sql(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DAP, "sql", *args, "--format", "csv", COUNT],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    chdb, duck = dap_sql("--engine", "chdb"), dap_sql("--engine", "duckdb")
    assert chdb.returncode == 0, chdb.stderr
    assert chdb.stdout == duck.stdout and chdb.stdout.startswith("region,n")
    spark = dap_sql("--engine", "spark")  # a JVM of its own, started and stopped by the CLI
    assert spark.returncode == 0, spark.stderr
    assert spark.stdout == duck.stdout
    # Spark's log is quiet (the JVM's own note of its incubator modules stays).
    assert " WARN " not in spark.stderr and "Traceback" not in spark.stderr, spark.stderr
    assert "log level" not in spark.stderr and "FutureWarning" not in spark.stderr
    wrong = dap_sql("--engine", "oracle")
    assert wrong.returncode != 0
    assert "unknown engine 'oracle'" in wrong.stderr and "Traceback" not in wrong.stderr
