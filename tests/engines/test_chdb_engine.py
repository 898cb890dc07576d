"""The chDB engine's own lock: whatever SQL reaches it, only bound private relations are read.

Governance refuses table functions and unknown names first; these tests hand SQL straight to
the engine, as a rewrite bug would, and check the engine refuses it by itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from dap_kernel.engines.base import Binding
from dap_kernel.engines.chdb import QUERY_SETTINGS, ChdbEngine, inline_parameters
from dap_kernel.errors import QueryCancelled, QueryFailed, QueryRefused, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace

pytest.importorskip("chdb")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ChdbEngine]:
    eng = ChdbEngine(lake_dir=tmp_path / "lake")
    eng.bind(
        [
            Binding(
                schema="main",
                name="t",
                kind="arrow",
                location="test",
                signature="1",
                arrow=pa.table({"x": list(range(3000)), "s": ["São"] * 3000}),
            )
        ]
    )
    yield eng
    eng.close()


def test_bound_relations_answer_under_their_private_name(engine: ChdbEngine) -> None:
    t = engine.relation("main", "t")
    assert engine.execute(f"SELECT count(*) AS n FROM {t}").to_pylist() == [{"n": 3000}]
    # DuckDB's character semantics: UPPER of a non-ASCII letter.
    assert engine.execute(f"SELECT DISTINCT UPPER(s) AS u FROM {t}").to_pylist() == [{"u": "SÃO"}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT file('/etc/passwd') AS f",
        "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV')",
        "SELECT * FROM s3('http://127.0.0.1:9/b/k.csv')",
        "SELECT * FROM system.settings",
        "SELECT * FROM t",  # the user's spelling of a catalog table: not a bound relation
        "SELECT * FROM main.t",
        "SELECT getSetting('readonly') AS r",
        "SELECT 1 AS x SETTINGS readonly = 0",
        "SELECT * FROM (SELECT 1 AS x SETTINGS readonly = 0)",
        "SELECT 1; SELECT 2",
        "SELECT 1 AS x FORMAT CSV",
        "SELECT 1 AS x INTO OUTFILE '/tmp/dap-chdb-outfile.csv'",  # readonly=1 allows it
        "DROP TABLE x",
    ],
)
def test_the_engine_refuses_sql_that_reaches_outside(engine: ChdbEngine, sql: str) -> None:
    with pytest.raises(QueryFailed):
        engine.execute(sql)
    assert not Path("/tmp/dap-chdb-outfile.csv").exists()


def test_every_query_runs_read_only(engine: ChdbEngine) -> None:
    """Past its own check, chDB itself refuses table functions: ``readonly=1``."""
    with pytest.raises(QueryFailed, match="readonly"):
        engine._stream(  # the engine's last step, without the check
            f"SELECT * FROM file('/etc/passwd', 'LineAsString') {QUERY_SETTINGS}",
            threading.Event(),
            None,
            None,
        )


def test_outer_joins_give_null_not_default_values(engine: ChdbEngine) -> None:
    t = engine.relation("main", "t")
    rows = engine.execute(
        f"SELECT a.x, b.x AS y FROM {t} AS a LEFT JOIN {t} AS b ON a.x = b.x + 5000 "
        "ORDER BY a.x LIMIT 1"
    ).to_pylist()
    assert rows == [{"x": 0, "y": None}]


def test_parameters_are_quoted_literals() -> None:
    sql = "SELECT * FROM t WHERE a = {n: } AND b = {s: } AND c = '{n: }'"
    assert inline_parameters(sql, {"n": 1, "s": "it's"}) == (
        "SELECT * FROM t WHERE a = 1 AND b = 'it''s' AND c = '{n: }'"
    )
    assert inline_parameters("SELECT {1: }, {2: }", [3, None]) == "SELECT 3, NULL"


def test_cancel_stops_a_running_query(engine: ChdbEngine) -> None:
    t = engine.relation("main", "t")
    with pytest.raises(QueryCancelled):
        engine.execute(
            f"SELECT a.x FROM {t} AS a CROSS JOIN {t} AS b",
            query_id="q1",
            on_batch=lambda rows: engine.cancel("q1"),
        )
    engine.cancel("q2")  # a cancel that arrives before its query
    with pytest.raises(QueryCancelled):
        engine.execute(f"SELECT 1 AS x FROM {t}", query_id="q2")
    assert engine.progress("q1") is None


def test_close_drops_the_engines_relations(tmp_path: Path) -> None:
    eng = ChdbEngine(lake_dir=tmp_path)
    data = pa.table({"x": [1]})
    eng.bind([Binding("main", "gone", "arrow", "test", "1", arrow=data)])
    other = ChdbEngine(lake_dir=tmp_path)  # the process's one chDB session, another token
    eng.close()
    with pytest.raises(QueryFailed):
        other.execute(f"SELECT * FROM {eng.relation('main', 'gone')}")  # not its name
    other.close()


def test_governance_refuses_table_functions_before_chdb(engines_ws: Workspace) -> None:
    session = engines_ws.session(Principal("tester", source="test"))
    before = session.sql("SELECT count(*) AS n FROM orders").item()
    for sql in (
        "SELECT * FROM file('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM url('http://127.0.0.1:9/x')",
        # sqlglot writes SELECT … INTO as CREATE TABLE … AS SELECT for ClickHouse
        "SELECT * INTO orders FROM customers",
        "SELECT * INTO new_table FROM customers",
    ):
        with pytest.raises((QueryRefused, UnknownTable, QueryFailed)):
            session.query(sql, engine="chdb")
    assert "main.new_table" not in engines_ws.catalog.known_names()
    assert session.sql("SELECT count(*) AS n FROM orders", engine="chdb").item() == before
