"""Time travel, statement inputs, and the two SQL statements that write (CTAS, INSERT … SELECT)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import polars as pl
import pytest

from dap_kernel.errors import DapError, QueryRefused, SchemaMismatch, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace


@pytest.fixture
def versions(workspace: Workspace) -> tuple[Workspace, datetime]:
    """main.events at version 0 (2 rows), then 1 (3 rows), then 2 (amount doubled)."""
    workspace.catalog.create_table(
        "events", pl.DataFrame({"id": [1, 2], "amount": [10, 20], "region": ["EMEA", "APAC"]})
    )
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    workspace.catalog.write(
        "events", pl.DataFrame({"id": [3], "amount": [30], "region": ["EMEA"]}), "append"
    )
    workspace.catalog.write(
        "events",
        pl.DataFrame({"id": [1, 2, 3], "amount": [20, 40, 60], "region": ["EMEA", "APAC", "EMEA"]}),
        "overwrite",
    )
    return workspace, between


def test_as_of_a_version_or_a_time(versions: tuple[Workspace, datetime]) -> None:
    ws, between = versions
    s = ws.session()
    total = "SELECT count(*) AS n, sum(amount) AS s FROM events"
    assert s.sql(total).row(0) == (3, 120)
    assert s.sql(total, as_of=0).row(0) == (2, 30)
    assert s.sql(total, as_of=1).row(0) == (3, 60)
    assert s.sql(total, as_of="1").row(0) == (3, 60)
    assert s.sql(total, as_of=between).row(0) == (2, 30)
    assert s.sql(total, as_of=between.isoformat()).row(0) == (2, 30)
    # The current table is unchanged for everyone else after a time-travelled read.
    assert s.sql(total).row(0) == (3, 120)


def test_sql_time_travel_per_table(versions: tuple[Workspace, datetime]) -> None:
    ws, between = versions
    s = ws.session()
    changed = s.sql(
        "SELECT n.id, o.amount AS before, n.amount AS after "
        "FROM events FOR VERSION AS OF 1 AS o JOIN events AS n USING (id) ORDER BY id"
    )
    assert changed.rows() == [(1, 10, 20), (2, 20, 40), (3, 30, 60)]
    at_time = s.sql(
        f"SELECT count(*) FROM events FOR TIMESTAMP AS OF '{between.isoformat()}'"
    ).item()
    assert at_time == 2


def test_time_travel_errors(versions: tuple[Workspace, datetime]) -> None:
    ws, _ = versions
    s = ws.session()
    with pytest.raises(DapError, match=r"no version numbered 9 \(versions 0 to 2"):
        s.sql("SELECT * FROM events", as_of=9)
    with pytest.raises(DapError, match="did not exist yet at 2001-01-01"):
        s.sql("SELECT * FROM events", as_of="2001-01-01")
    with pytest.raises(DapError, match="is not a timestamp"):
        s.sql("SELECT * FROM events", as_of="last tuesday")
    with pytest.raises(DapError, match="versions start at 0"):
        s.sql("SELECT * FROM events", as_of=-1)


def test_time_travel_keeps_row_filters(governed: Workspace) -> None:
    """A filter written today applies to yesterday's rows too."""
    ann = governed.session(Principal("ann"))
    now = ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list()
    then = ann.sql("SELECT DISTINCT region FROM customers FOR VERSION AS OF 0")
    assert now == ["EMEA"] and then["region"].to_list() == ["EMEA"]
    masked = ann.sql("SELECT email FROM customers FOR VERSION AS OF 0 LIMIT 1").item()
    assert "*" in masked or "@" not in masked.split("@")[0]
    with pytest.raises(QueryRefused):
        governed.session(Principal("bob")).sql("SELECT * FROM customers", as_of=0)


def test_inputs_are_visible_to_one_statement(workspace: Workspace) -> None:
    workspace.catalog.create_table("prices", pl.DataFrame({"sku": ["a", "b"], "price": [2, 5]}))
    s = workspace.session()
    batch = pl.DataFrame({"sku": ["a", "b", "a"], "qty": [1, 2, 3]})
    out = s.sql(
        "SELECT sku, sum(qty * price) AS total FROM input JOIN prices USING (sku) "
        "GROUP BY sku ORDER BY sku",
        inputs={"input": batch},
    )
    assert out.rows() == [("a", 8), ("b", 10)]
    with pytest.raises(UnknownTable):
        s.sql("SELECT * FROM input")  # gone after the statement
    assert "input" not in str(workspace.engine.execute_internal("SHOW ALL TABLES").to_pylist())


def test_inputs_need_no_grant_but_catalog_tables_still_do(governed: Workspace) -> None:
    bob = governed.session(Principal("bob"))
    mine = pl.DataFrame({"x": [1, 2]})
    assert bob.sql("SELECT sum(x) FROM input", inputs={"input": mine}).item() == 3
    with pytest.raises(QueryRefused):
        bob.sql("SELECT * FROM input JOIN customers ON true", inputs={"input": mine})


def test_create_table_as_select_is_governed(governed: Workspace) -> None:
    ann = governed.session(Principal("ann"))
    governed.admin("tester").grant("CREATE", "main", "user", "ann")
    out = ann.sql("CREATE TABLE emea AS SELECT customer_id, region, email FROM customers")
    assert out["table"].item() == "main.emea" and out["rows_written"].item() > 0
    # The new table holds only what ann could read: her region, emails masked.
    made = governed.session().sql("SELECT DISTINCT region FROM emea")["region"].to_list()
    assert made == ["EMEA"]
    assert governed.catalog.get("emea").owner == "ann"
    with pytest.raises(QueryRefused):
        governed.session(Principal("bob")).sql("CREATE TABLE b AS SELECT 1 AS x")
    assert "main.b" not in governed.catalog.known_names()


def test_insert_select_appends_in_the_table_shape(workspace: Workspace) -> None:
    s = workspace.session()
    s.sql("CREATE TABLE t AS SELECT 1::BIGINT AS id, 'a' AS name, 1.5::DOUBLE AS score")
    assert s.sql("INSERT INTO t SELECT 2, 'b', 2")["rows_written"].item() == 1
    assert s.sql("INSERT INTO t (score, id) VALUES (9, 3)")["version"].item() == 2
    assert s.sql("SELECT * FROM t ORDER BY id").rows() == [
        (1, "a", 1.5),
        (2, "b", 2.0),
        (3, None, 9.0),
    ]
    version = workspace.catalog.get("t").version
    with pytest.raises(SchemaMismatch, match="no column nope"):
        s.sql("INSERT INTO t (nope) SELECT 1")
    with pytest.raises(SchemaMismatch):
        s.sql("INSERT INTO t SELECT 'not a number', 'x', 1")
    assert workspace.catalog.get("t").version == version  # nothing half-written
    with pytest.raises(QueryRefused, match="CREATE TABLE needs AS SELECT"):
        s.sql("CREATE TABLE u (a INT)")
    with pytest.raises(QueryRefused, match="not allowed"):
        s.sql("INSERT INTO t SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(QueryRefused, match="DELETE statements are not allowed"):
        s.sql("DELETE FROM t")
    s.sql("CREATE OR REPLACE TABLE t AS SELECT 7 AS only")
    assert s.sql("SELECT * FROM t").rows() == [(7,)]
    assert s.sql("SELECT count(*) FROM t FOR VERSION AS OF 2").item() == 3


def test_writes_are_audited(workspace: Workspace) -> None:
    s = workspace.session()
    s.sql("CREATE TABLE a AS SELECT 1 AS x")
    workspace.audit.flush()
    events = workspace.audit.tail(5)
    assert any(e.action == "write" and "main.a" in e.tables for e in events)


def test_writes_record_table_and_column_lineage(workspace: Workspace) -> None:
    import dap_kernel as dap

    s = workspace.session()
    workspace.catalog.create_table("o", pl.DataFrame({"id": [1, 2], "amt": [1, 2], "c": [1, 1]}))
    workspace.catalog.create_table("c", pl.DataFrame({"c": [1], "region": ["EMEA"]}))
    s.sql(
        "CREATE TABLE r AS SELECT c.region, sum(o.amt) AS total FROM o JOIN c USING (c) GROUP BY 1"
    )
    s.sql("CREATE TABLE top AS SELECT region FROM r")
    graph = dap.lineage("main.r", session=s)
    assert {n.name for n in graph.upstream} == {"main.o", "main.c"}
    assert [n.name for n in graph.downstream] == ["main.top"]
    by_column = {(e.target_column, e.source_table, e.source_column) for e in graph.columns}
    assert ("total", "main.o", "amt") in by_column and ("region", "main.c", "region") in by_column
