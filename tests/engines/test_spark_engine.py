"""The Spark engine's own lock: whatever SQL reaches it, only bound private views are read.

Governance refuses table functions and unknown names first; the engine-level tests hand SQL
straight to the engine, as a rewrite bug would, and check that it refuses it by itself (its
check of the final SQL) and that the session is locked under the check (no SQL on files).
The governed-path tests send Spark's own ways out as a user would: each is a DAP error.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dap_kernel.engines.base import CANCEL, PROGRESS, Binding
from dap_kernel.engines.spark import SparkEngine, checked_statement, inline_parameters
from dap_kernel.errors import DapError, QueryCancelled, QueryFailed
from dap_kernel.governance.identity import Principal
from dap_kernel.pipelines import pipeline
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.attacks import leaks

from .conftest import as_user


@pytest.fixture(scope="module")
def lake_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark-lake") / "secret.parquet"
    pq.write_table(pa.table({"secret": ["raw-value"]}), path)
    return path


@pytest.fixture
def engine(tmp_path: Path, spark_session: object) -> Iterator[SparkEngine]:
    eng = SparkEngine(lake_dir=tmp_path / "lake")
    data = pa.table({"x": list(range(3000)), "s": ["São"] * 3000})
    eng.bind([Binding("main", "t", "arrow", "test", "1", arrow=data)])
    yield eng
    eng.close()


def test_bound_views_answer_under_their_private_name(engine: SparkEngine) -> None:
    t = engine.relation("main", "t")
    assert engine.execute(f"SELECT count(*) AS n FROM {t}").to_pylist() == [{"n": 3000}]
    assert engine.execute(f"SELECT DISTINCT UPPER(s) AS u FROM {t}").to_pylist() == [{"u": "SÃO"}]
    assert engine.execute(f"SELECT x FROM {t} ORDER BY x", limit=3).num_rows == 3
    assert engine.execute(f"SELECT url_decode('a%20b') AS u FROM {t} LIMIT 1").to_pylist() == [
        {"u": "a b"}
    ]
    assert engine.capabilities == frozenset({CANCEL, PROGRESS})


def test_the_engine_refuses_sql_that_reaches_outside(engine: SparkEngine, lake_file: Path) -> None:
    t = engine.relation("main", "t")
    for sql in (
        f"SELECT * FROM parquet.`{lake_file}`",
        f"SELECT * FROM {t}, parquet.`{lake_file}` AS p",
        "SELECT * FROM csv.`/etc/passwd`",
        "SELECT * FROM json.`/etc/passwd`",
        "SELECT reflect('java.lang.System', 'getProperty', 'user.name') AS u",
        "SELECT java_method('java.lang.System', 'getenv', 'HOME') AS h",
        "SELECT try_reflect('java.lang.System', 'getenv', 'HOME') AS h",
        f"SELECT input_file_name() AS f FROM {t}",
        "SELECT xpath_string('<a>x</a>', 'a') AS x",
        f"SELECT TRANSFORM(x) USING 'cat /etc/passwd' AS (y) FROM {t}",
        "SELECT * FROM IDENTIFIER('t')",
        "SELECT * FROM range(10)",
        "SELECT * FROM t",  # the user's spelling of a catalog table: not a bound view
        "SELECT * FROM main.t",
        "SELECT * FROM global_temp.t",
        "SELECT * FROM spark_catalog.default.t",
        f"SELECT /*+ BROADCAST(t) */ * FROM {t}",
        f"CREATE TEMPORARY VIEW v USING parquet OPTIONS (path '{lake_file}')",
        f"CREATE TABLE x AS SELECT * FROM {t}",
        f"INSERT INTO {t} VALUES (1, 'a')",
        f"CACHE TABLE {t}",
        "ADD JAR /tmp/x.jar",
        "SET spark.sql.runSQLOnFiles=true",
        "RESET",
        "SHOW TABLES",
        f"DESCRIBE {t}",
        f"SELECT 1 AS a; SELECT * FROM parquet.`{lake_file}`",
        "SELECT system.builtin.reflect('java.lang.System', 'getProperty', 'user.name') AS u",
        "SELECT `java_method`('java.lang.System', 'getenv', 'HOME') AS h",
        f"SELECT * FROM {t}, `main#{engine.names.token}.t` AS v",  # only the check names views
    ):
        with pytest.raises(QueryFailed) as info:
            engine.execute(sql)
        assert "raw-value" not in info.value.message and engine.names.token not in str(info.value)
    # Past its own check the session itself refuses SQL on files (spark.sql.runSQLOnFiles).
    with pytest.raises(QueryFailed):
        engine._run(f"SELECT * FROM parquet.`{lake_file}`", None)


def test_errors_are_one_line_without_private_names_or_keys(engine: SparkEngine) -> None:
    t = engine.relation("main", "t")
    key = "ab" * 64  # like a hash mask's padded key
    for sql in (
        f"SELECT nope FROM {t}",
        f"SELECT sha2(unhex('{key}') || encode(s, 'utf-8'), 256) + x FROM {t} WHERE x = 'a'",
        f"SELECT CAST(s AS INT) AS i FROM {t}",
        f"SELECT x FROM {t} WHERE",
    ):
        with pytest.raises(QueryFailed) as info:
            engine.execute(sql)
        message = str(info.value)
        assert "\n" not in message and engine.names.token not in message, message
        assert not re.search(r"[0-9a-f]{32}", message) and "SELECT" not in message, message
    with pytest.raises(QueryFailed, match="column nope does not exist"):
        engine.execute(f"SELECT nope FROM {t}")


def test_parameters_are_quoted_literals() -> None:
    sql = "SELECT * FROM t WHERE a = :n AND b = :s AND c = ':n'"
    assert inline_parameters(sql, {"n": 1, "s": "it's"}) == (
        "SELECT * FROM t WHERE a = 1 AND b = 'it\\'s' AND c = ':n'"
    )
    assert inline_parameters("SELECT ?, ?", [3, None]) == "SELECT 3, NULL"


def test_the_check_names_views_as_spark_knows_them(engine: SparkEngine) -> None:
    sql = checked_statement(
        f"SELECT c.x FROM {engine.relation('main', 't')} AS c /* a comment */", engine.names
    )
    assert sql == f"SELECT c.x FROM `main#{engine.names.token}.t` AS c"


def test_cancel_stops_a_running_query(engine: SparkEngine) -> None:
    t = engine.relation("main", "t")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            engine.execute(
                f"SELECT count(*) AS n FROM {t} a CROSS JOIN {t} b CROSS JOIN {t} c "
                "WHERE a.x + b.x + c.x = -1",
                query_id="q1",
            )
        except BaseException as e:  # handed to the test's thread
            outcome.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while "q1" not in engine._running and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # its job has started
    progress = engine.progress("q1")
    assert progress is None or 0.0 <= progress <= 100.0
    assert engine.cancel("q1")
    worker.join(60)
    assert not worker.is_alive() and outcome and isinstance(outcome[0], QueryCancelled)
    engine.cancel("q2")  # a cancel that arrives before its query
    with pytest.raises(QueryCancelled):
        engine.execute(f"SELECT 1 AS x FROM {t}", query_id="q2")
    assert engine.execute(f"SELECT count(*) AS n FROM {t}", query_id="q3").num_rows == 1


def test_one_spark_session_per_process(spark_session: object) -> None:
    from dap_kernel.errors import ConfigError

    with pytest.raises(ConfigError, match="runs elsewhere"):
        SparkEngine(remote="sc://127.0.0.1:15002")


def test_close_drops_the_engines_views(tmp_path: Path, spark_session: object) -> None:
    eng = SparkEngine(lake_dir=tmp_path)
    eng.bind([Binding("main", "gone", "arrow", "test", "1", arrow=pa.table({"x": [1]}))])
    other = SparkEngine(lake_dir=tmp_path)  # the process's one Spark, another token
    with pytest.raises(QueryFailed):
        other.execute(f"SELECT * FROM {eng.relation('main', 'gone')}")  # not its name
    eng.close()
    with pytest.raises(QueryFailed):
        eng._run(f"SELECT * FROM `main#{eng.names.token}.gone`", None)
    other.close()


SPARK_WAYS_OUT = [
    "SELECT * FROM parquet.`{lake}`",
    "SELECT * FROM csv.`/etc/passwd`",
    "SELECT reflect('java.lang.System', 'getProperty', 'user.name') AS u",
    "SELECT java_method('java.lang.System', 'getenv', 'HOME') AS h",
    "SELECT input_file_name() AS f, email FROM customers",
    "SELECT TRANSFORM(email) USING 'cat' AS (x) FROM customers",
    "CREATE TEMPORARY VIEW v USING parquet OPTIONS (path '{lake}')",
    "ADD JAR /tmp/x.jar",
    "SET spark.sql.runSQLOnFiles=true",
    "CACHE TABLE customers",
    "SELECT * FROM global_temp.customers",
    "SELECT * FROM IDENTIFIER('customers')",
    "SELECT * FROM customers TABLESAMPLE (100 PERCENT) UNION ALL SELECT * FROM parquet.`{lake}`",
]


@pytest.mark.parametrize("user", ["ann", "bob"])
def test_spark_ways_out_are_dap_errors(engines_ws: Workspace, lake_file: Path, user: str) -> None:
    session = as_user(engines_ws, user)
    for template in SPARK_WAYS_OUT:
        sql = template.replace("{lake}", str(lake_file))
        with pytest.raises(DapError) as info:
            session.query(sql, engine="spark")
        message = info.value.message
        assert "raw-value" not in message and not leaks(message), (sql, message)
        assert "\n" not in message, (sql, message)  # its own text it may see again


def test_governed_sql_runs_on_spark(engines_ws: Workspace) -> None:
    owner = engines_ws.session(Principal("tester", source="test"))
    n = owner.sql("SELECT count(*) AS n FROM orders").item()
    assert owner.sql("SELECT count(*) AS n FROM orders", engine="spark").item() == n


def test_a_pipeline_runs_on_spark_when_it_is_the_default(
    governed_home: Path, tmp_path: Path, spark_session: object
) -> None:
    """``DAP_ENGINE=spark``: a pipeline's SQL steps (its batch bound as ``input``, governed
    tables joined) run on Spark, through the same governed path."""
    home = tmp_path / "home"
    shutil.copytree(governed_home, home)
    source = tmp_path / "o.csv"
    source.write_text("order_id,customer_id\n1,1\n2,2\n3,3\n", encoding="utf-8")
    spec = {
        "name": "enriched",
        "extract": {"file": str(source)},
        "transform": [
            {"sql": "SELECT i.*, c.region FROM input i JOIN main.customers c USING (customer_id)"}
        ],
        "load": {"table": "main.enriched", "mode": "overwrite"},
    }
    ws = Workspace(Settings(home=home, user="tester", engine="spark"))
    try:
        owner = ws.session(Principal("tester", source="test"))
        assert pipeline(spec).run(owner).rows_written == 3
        got = owner.sql("SELECT order_id, region FROM main.enriched ORDER BY order_id").to_dicts()
        assert [r["order_id"] for r in got] == [1, 2, 3] and all(r["region"] for r in got)
        reasons = {e.reason for e in ws.audit.tail(limit=10, principal="tester")}
        assert "engine spark" in reasons
    finally:
        ws.close()


def test_backslashes_in_literals_mean_what_duckdb_reads(engines_ws: Workspace) -> None:
    """DuckDB's ``'x\\'`` is a whole string; Spark reads backslash escapes. If the Spark SQL
    kept DuckDB's spelling, the quote would be escaped and what follows it read as SQL."""
    ann = as_user(engines_ws, "ann")
    sql = (
        "SELECT 'x\\' AS s, email FROM customers WHERE region <> '\\' "
        "OR ' OR 1 = 1 UNION ALL SELECT email FROM customers --' = ''"
    )
    duck = ann.query(sql, engine="duckdb").table.to_pylist()
    spark = ann.query(sql, engine="spark").table.to_pylist()
    assert spark and sorted(map(repr, spark)) == sorted(map(repr, duck))
    assert not leaks(spark) and {r["s"] for r in spark} == {"x\\"}
