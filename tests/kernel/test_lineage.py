"""Lineage: worked out from SQL, stored as a graph, governed, drawn, emitted as OpenLineage."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from sqlalchemy import func, select

import dap_kernel as dap
from dap_kernel.errors import DapError, QueryRefused, SqlSyntaxError, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.lineage import (
    ColumnEdge,
    LineageColumnEdgeRow,
    LineageEdgeRow,
    LineageGraph,
    LineageStore,
    classify_source,
    emit_run,
    record_sql,
    sql_lineage,
)
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"


def edges(columns: list[ColumnEdge]) -> set[tuple[str, str, str]]:
    """(target column, source table, source column) of column edges."""
    return {(c.target_column, c.source_table, c.source_column) for c in columns}


# -- SQL → lineage -----------------------------------------------------------------------------


def test_joins_ctes_aggregates_case_and_windows() -> None:
    sql = """
        WITH paid AS (SELECT customer_id, amount, order_date FROM raw_orders WHERE amount > 0)
        SELECT c.region AS region,
               sum(p.amount) AS total,
               CASE WHEN c.vip THEN 'gold' ELSE 'std' END AS tier,
               row_number() OVER (PARTITION BY c.region ORDER BY max(p.order_date)) AS rank,
               count(*) AS n
        FROM paid AS p JOIN Main.Customers AS c ON c.id = p.customer_id
        GROUP BY 1, 3
    """
    sources, columns = sql_lineage(sql, "Daily_Sales")
    assert sources == ["main.raw_orders", "main.customers"]  # the CTE is not a source
    assert {c.target_table for c in columns} == {"main.daily_sales"}
    assert edges(columns) == {
        ("region", "main.customers", "region"),
        ("total", "main.raw_orders", "amount"),
        ("tier", "main.customers", "vip"),
        ("rank", "main.customers", "region"),
        ("rank", "main.raw_orders", "order_date"),
    }  # count(*) reads no column


def test_subquery_and_alias_resolve_through_schemas() -> None:
    schemas = {
        "main.orders": {"id": "BIGINT", "customer_id": "BIGINT", "amount": "DOUBLE"},
        "main.customers": {"id": "BIGINT", "name": "VARCHAR"},
    }
    sql = """
        SELECT name AS who, spent
        FROM (SELECT customer_id, sum(amount) AS spent FROM orders GROUP BY 1) AS s
        JOIN customers ON customers.id = s.customer_id
    """
    sources, columns = sql_lineage(sql, "main.spend", schemas=schemas)
    assert set(sources) == {"main.orders", "main.customers"}
    assert edges(columns) == {
        ("who", "main.customers", "name"),
        ("spent", "main.orders", "amount"),
    }


def test_star_expands_with_schemas_and_stays_table_level_without() -> None:
    schemas = {"main.orders": {"id": "BIGINT", "amount": "DECIMAL(10,2)"}}
    sources, columns = sql_lineage(
        "CREATE TABLE copy AS SELECT * FROM orders", "copy", schemas=schemas
    )
    assert sources == ["main.orders"]
    assert edges(columns) == {("id", "main.orders", "id"), ("amount", "main.orders", "amount")}
    sources, columns = sql_lineage("CREATE TABLE copy AS SELECT * FROM orders", "copy")
    assert sources == ["main.orders"] and columns == []


def test_insert_select_maps_columns_by_position() -> None:
    sql = (
        "WITH s AS (SELECT id, amount FROM main.orders) "
        "INSERT INTO main.facts (order_id, value) SELECT id, amount * 2 FROM s"
    )
    sources, columns = sql_lineage(sql, "main.facts")
    assert sources == ["main.orders"]
    assert edges(columns) == {("order_id", "main.orders", "id"), ("value", "main.orders", "amount")}
    # Without a column list, the target table's own columns (from schemas) name the targets.
    _, columns = sql_lineage(
        "INSERT INTO main.facts SELECT id, amount FROM main.orders",
        "main.facts",
        schemas={"main.facts": {"k": "BIGINT", "v": "DOUBLE"}},
    )
    assert edges(columns) == {("k", "main.orders", "id"), ("v", "main.orders", "amount")}


def test_plain_input_names_stand_for_their_source() -> None:
    sources, columns = sql_lineage(
        "SELECT i.id, c.name FROM input AS i JOIN main.customers AS c ON c.id = i.customer_id",
        "main.enriched",
        inputs={"input": "/data/orders.csv"},
    )
    assert sources == ["/data/orders.csv", "main.customers"]
    assert edges(columns) == {("id", "/data/orders.csv", "id"), ("name", "main.customers", "name")}


def test_bad_sql_is_a_clear_error() -> None:
    with pytest.raises(SqlSyntaxError, match="cannot read the SQL"):
        sql_lineage("SELEC id FRM orders", "x")
    with pytest.raises(DapError, match="not DELETE"):
        sql_lineage("DELETE FROM orders", "x")
    with pytest.raises(DapError, match="exactly one statement"):
        sql_lineage("SELECT 1; SELECT 2", "x")
    assert sql_lineage("CREATE TABLE t (a INT)", "t") == ([], [])


def test_sources_are_classified_and_urls_redacted() -> None:
    assert classify_source("Orders") == ("table", "main.orders")
    assert classify_source("tpch.lineitem") == ("table", "tpch.lineitem")
    assert classify_source("orders.csv") == ("file", "orders.csv")
    assert classify_source("/data/x/*.parquet") == ("file", "/data/x/*.parquet")
    assert classify_source("file:///data/a.json") == ("file", "/data/a.json")
    assert classify_source("postgresql://dap:s3cret@db:5432/shop?password=x") == (
        "database",
        "postgresql://db:5432/shop",
    )
    assert classify_source("https://u:p@api.example.com/v1/sales?api_key=k#x") == (
        "api",
        "https://api.example.com/v1/sales",
    )
    assert classify_source("file:weird name") == ("file", "weird name")


# -- the stored graph --------------------------------------------------------------------------


def count_rows(ws: Workspace) -> tuple[int, int]:
    with ws.meta.session() as s:
        tables = s.execute(select(func.count()).select_from(LineageEdgeRow)).scalar_one()
        columns = s.execute(select(func.count()).select_from(LineageColumnEdgeRow)).scalar_one()
    return tables, columns


def chain(ws: Workspace, tmp_path: Path) -> LineageStore:
    """orders.csv → main.raw_orders (registered) → main.orders → main.daily → main.report,
    main.customers → main.daily; an API feeds main.report."""
    csv = tmp_path / "orders.csv"
    csv.write_text("id,amount\n1,2.5\n2,4.0\n")
    ws.catalog.register_file("main.raw_orders", str(csv))
    for name, columns in {
        "orders": ["id", "amount"],
        "customers": ["id", "region"],
        "daily": ["region", "total"],
        "report": ["total_eur"],
    }.items():
        ws.catalog.create_table(f"main.{name}", pl.DataFrame({c: [1] for c in columns}))
    store = LineageStore(ws.meta)
    store.record(
        "main.orders",
        ["main.raw_orders"],
        [ColumnEdge("main.raw_orders", "amount", "main.orders", "amount")],
        process="pipeline:load",
        run_id="r1",
    )
    record_daily(store)
    store.record(
        "main.report",
        ["main.daily", "https://svc:pw@api.example.com/fx?token=t"],
        [ColumnEdge("main.daily", "total", "main.report", "total_eur")],
        process="pipeline:report",
    )
    return store


def record_daily(store: LineageStore) -> None:
    """What a statement of tester's records for ``main.daily`` (``chain`` records it once)."""
    store.record(
        "main.daily",
        ["main.orders", "main.customers"],
        [
            ColumnEdge("main.orders", "amount", "main.daily", "total"),
            ColumnEdge("main.customers", "region", "main.daily", "region"),
        ],
        process="sql:tester",
    )


def names(nodes: Any) -> list[str]:
    return [n.name for n in nodes]


def test_record_replaces_what_the_same_process_recorded(
    workspace: Workspace, tmp_path: Path
) -> None:
    store = chain(workspace, tmp_path)
    before = count_rows(workspace)
    assert before == (5, 4)
    for _ in range(3):  # a re-run records the same again: no duplicates
        record_daily(store)
    assert count_rows(workspace) == before
    store.record("main.daily", ["main.orders"], process="sql:tester")  # changed: replaced
    assert store.graph("main.daily").upstream[0].name == "main.orders"
    assert "main.customers" not in names(store.graph("main.daily").upstream)
    assert count_rows(workspace) == (4, 2)
    store.record("main.daily", ["main.customers"], process="pipeline:other")  # another process
    assert set(names(store.graph("main.daily", depth=1).upstream)) == {
        "main.orders",
        "main.customers",
    }


def test_graph_is_transitive_both_ways_up_to_depth(workspace: Workspace, tmp_path: Path) -> None:
    store = chain(workspace, tmp_path)
    csv = str(tmp_path / "orders.csv")
    graph = store.graph("main.orders")
    assert [(n.name, n.kind) for n in graph.upstream] == [
        ("main.raw_orders", "table"),
        (csv, "file"),  # the registered table's location, as lineage/{table} always showed
    ]
    assert names(graph.downstream) == ["main.daily", "main.report"]
    processes = {(e.source, e.target): e.process for e in graph.edges}
    assert processes[(csv, "main.raw_orders")] == "catalog"
    assert processes[("main.raw_orders", "main.orders")] == "pipeline:load"
    assert next(e for e in graph.edges if e.process == "pipeline:load").run_id == "r1"
    assert names(store.graph("main.orders", depth=1).downstream) == ["main.daily"]
    assert names(store.graph("main.orders", depth=1).upstream) == ["main.raw_orders"]
    report = store.graph("main.report")
    kinds = {n.name: n.kind for n in report.upstream}
    assert kinds["https://api.example.com/fx"] == "api"  # no password, no token
    assert "pw" not in json.dumps(report.to_dict()) and "token" not in json.dumps(report.to_dict())
    assert set(kinds) == {
        "main.daily",
        "https://api.example.com/fx",
        "main.orders",
        "main.customers",
        "main.raw_orders",
        csv,
    }
    assert report.downstream == []
    # Column edges into the graph's tables come with a table graph.
    daily = store.graph("main.daily")
    assert ColumnEdge("main.orders", "amount", "main.daily", "total") in daily.columns
    lonely = store.graph("main.nothing")
    assert names(lonely.nodes) == ["main.nothing"] and lonely.edges == [] and lonely.upstream == []


def test_column_lineage_is_transitive(workspace: Workspace, tmp_path: Path) -> None:
    store = chain(workspace, tmp_path)
    graph = store.graph("main.daily", "total")
    assert graph.root == "main.daily.total" and graph.column == "total"
    assert names(graph.upstream) == [
        "main.orders.amount",
        "main.raw_orders.amount",
        str(tmp_path / "orders.csv"),
    ]
    assert [n.kind for n in graph.upstream] == ["column", "column", "file"]
    assert [(n.name, n.kind) for n in graph.downstream] == [("main.report.total_eur", "column")]
    assert "main.customers.region" not in names(graph.nodes)
    text = graph.to_text()
    assert "main.orders.amount ← main.raw_orders.amount" in text
    assert names(store.graph("main.daily", "region").upstream) == ["main.customers.region"]


def test_text_dot_svg_and_dict_views(workspace: Workspace, tmp_path: Path) -> None:
    store = chain(workspace, tmp_path)
    graph = store.graph("main.orders")
    csv = tmp_path / "orders.csv"
    assert graph.to_text() == (
        "main.orders\n"
        "upstream:\n"
        f"  main.raw_orders ← file {csv}\n"
        "downstream:\n"
        "  main.daily\n"
        "  main.report ← main.daily"
    )
    assert '"main.raw_orders" -> "main.orders" [label="pipeline:load"];' in graph.to_dot()
    svg = graph.to_svg()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for name in ("main.raw_orders", "main.orders", "main.daily", "main.report", str(csv)):
        assert f'data-name="{name}"' in svg
    assert svg.count('class="dap-lineage-link"') == len(graph.edges) == 4
    data = json.loads(json.dumps(graph.to_dict()))
    assert data["table"] == "main.orders" and data["column"] is None
    assert LineageGraph.from_dict(data).to_text() == graph.to_text()


# -- governance --------------------------------------------------------------------------------


def test_dap_lineage_is_governed(governed: Workspace, tmp_path: Path) -> None:
    store = LineageStore(governed.meta)
    governed.catalog.create_table("main.daily", pl.DataFrame({"total": [1.0]}))
    governed.catalog.create_table("main.vip", pl.DataFrame({"total": [1.0]}))
    store.record(
        "main.daily",
        ["main.orders", "/secret/extra.csv"],
        [ColumnEdge("main.orders", "amount", "main.daily", "total")],
        process="sql:tester",
    )
    store.record("main.vip", ["main.daily"], process="sql:tester")
    store.record("main.orders", ["/data/orders.csv"], process="ingest:orders.csv")
    admin = governed.admin("tester")
    admin.add_user("cy", {})
    admin.grant("SELECT", "main.daily", "user", "cy")
    cy = governed.session(Principal(name="cy"))
    graph = dap.lineage("main.daily", session=cy)
    assert [(n.name, n.kind) for n in graph.upstream] == [
        ("/secret/extra.csv", "file"),  # feeds main.daily, which cy may read
        ("(restricted)", "restricted"),  # main.orders
        ("(restricted 2)", "restricted"),  # /data/orders.csv feeds only main.orders
    ]
    assert [(n.name, n.kind) for n in graph.downstream] == [("(restricted 3)", "restricted")]
    assert ("(restricted 2)", "(restricted)") in [(e.source, e.target) for e in graph.edges]
    shown = json.dumps(graph.to_dict())
    for hidden in ("main.orders", "main.vip", "/data/orders.csv", "amount"):
        assert hidden not in shown
    assert graph.columns == []  # the only column edge comes from a restricted table
    column = dap.lineage("main.daily.total", session=cy)
    assert [(n.name, n.kind) for n in column.upstream] == [("(restricted)", "restricted")]
    # ann (analyst) reads everything; bob nothing; unknown names are errors.
    ann = dap.lineage("daily", session=governed.session(Principal(name="ann")))
    assert "main.orders" in names(ann.upstream) and names(ann.downstream) == ["main.vip"]
    with pytest.raises(QueryRefused):
        dap.lineage("main.daily", session=governed.session(Principal(name="bob")))
    with pytest.raises(UnknownTable, match="not in the catalog"):
        dap.lineage("main.dialy", session=cy)
    with pytest.raises(UnknownTable, match="has no column nope"):
        dap.lineage("main.daily.nope", session=cy)


def test_record_sql_records_and_emits(workspace: Workspace, tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "amount": [1.0, 2.0], "region": ["a", "b"]})
    workspace.catalog.create_table("main.orders", frame)
    events = tmp_path / "ol" / "events.ndjson"
    workspace.settings = replace(workspace.settings, openlineage_file=str(events))
    session = workspace.session()
    sql = (
        "CREATE TABLE main.by_region AS SELECT region, sum(amount) AS total FROM orders GROUP BY 1"
    )
    sources, columns = record_sql(session, sql, "main.by_region", run_id="run-7")
    assert sources == ["main.orders"]
    assert edges(columns) == {
        ("region", "main.orders", "region"),
        ("total", "main.orders", "amount"),
    }
    graph = LineageStore(workspace.meta).graph("main.by_region")
    assert [(e.source, e.process, e.run_id) for e in graph.edges] == [
        ("main.orders", "sql:tester", "run-7")
    ]
    (event,) = [json.loads(line) for line in events.read_text().splitlines()]
    assert event["eventType"] == "COMPLETE" and event["job"]["name"] == "sql:tester"
    assert record_sql(session, "SELEC nonsense", "main.x") == ([], [])  # never raises


# -- OpenLineage -------------------------------------------------------------------------------


def test_events_to_a_file_are_json_lines(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "lineage" / "events.ndjson"
    settings = replace(workspace.settings, openlineage_file=str(path))
    run_id = str(uuid.uuid4())
    columns = [
        ColumnEdge("main.orders", "amount", "main.daily", "total"),
        ColumnEdge("/data/fx.csv", "rate", "main.daily", "total"),
    ]
    emit_run(settings, "pipeline:daily", ["main.orders", "/data/fx.csv"], [], run_id, "START")
    returned = emit_run(
        settings,
        job="pipeline:daily",
        inputs=["main.orders", "/data/fx.csv"],
        outputs=["main.daily"],
        run_id=run_id,
        state="complete",
        column_lineage=columns,
    )
    emit_run(
        settings, "pipeline:daily", [], ["main.daily"], "not-a-uuid", "failed", error="boom\nat x"
    )
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "FAIL"]
    start, done, failed = events
    assert done == returned
    ns = f"dap://{os.uname().nodename.lower()}{workspace.settings.home}"
    assert done["job"] == {"namespace": ns, "name": "pipeline:daily", "facets": {}}
    assert done["run"]["runId"] == start["run"]["runId"] == run_id
    assert [(d["namespace"], d["name"]) for d in done["inputs"]] == [
        (ns, "main.orders"),
        ("file", "/data/fx.csv"),
    ]
    (output,) = done["outputs"]
    assert (output["namespace"], output["name"]) == (ns, "main.daily")
    fields = output["facets"]["columnLineage"]["fields"]
    assert [(f["namespace"], f["name"], f["field"]) for f in fields["total"]["inputFields"]] == [
        (ns, "main.orders", "amount"),
        ("file", "/data/fx.csv", "rate"),
    ]
    assert uuid.UUID(failed["run"]["runId"])  # DAP's own run ids become UUIDs
    assert failed["run"]["facets"]["errorMessage"]["message"] == "boom"
    assert emit_run(workspace.settings, "j", [], [], "r", "COMPLETE") is None  # nothing set


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:  # the http.server API
        length = int(self.headers.get("Content-Length", "0"))
        self.received.append((self.path, json.loads(self.rfile.read(length))))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_events_over_http_reach_a_real_server(
    workspace: Workspace, collector: tuple[str, list[tuple[str, dict[str, Any]]]]
) -> None:
    url, received = collector
    settings = replace(workspace.settings, openlineage_url=url)
    emit_run(settings, "pipeline:a", ["/data/a.csv"], ["main.a"], "run-1", "START")
    emit_run(
        replace(settings, openlineage_url=f"{url}/custom/events"),
        "pipeline:a",
        [],
        ["main.a"],
        "run-1",
        "COMPLETE",
    )
    assert [(path, body["eventType"]) for path, body in received] == [
        ("/api/v1/lineage", "START"),
        ("/custom/events", "COMPLETE"),
    ]
    assert received[0][1]["inputs"] == [
        {"namespace": "file", "name": "/data/a.csv", "facets": {}, "inputFacets": {}}
    ]
    assert received[0][1]["run"]["runId"] == received[1][1]["run"]["runId"]


def test_emit_failures_are_warnings_not_errors(
    workspace: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    blocked = tmp_path / "a-directory"
    blocked.mkdir()
    settings = replace(
        workspace.settings,
        openlineage_url=f"http://user:hunter2@127.0.0.1:{port}/lineage",
        openlineage_file=str(blocked),
    )
    with caplog.at_level(logging.WARNING, logger="dap_kernel.lineage"):
        event = emit_run(settings, "pipeline:x", ["main.a"], ["main.b"], "r", "COMPLETE")
    assert event is not None and event["eventType"] == "COMPLETE"
    messages = [r.getMessage() for r in caplog.records]
    assert any("not written to" in m for m in messages)
    assert any(f"not sent to http://127.0.0.1:{port}/lineage" in m for m in messages)
    assert not any("hunter2" in m for m in messages)
    with caplog.at_level(logging.WARNING, logger="dap_kernel.lineage"):
        assert emit_run(settings, "pipeline:x", [], [], "r", "NOT-A-STATE") is None


# -- front doors -------------------------------------------------------------------------------


@pytest.fixture
def shell(workspace: Workspace, tmp_path: Path) -> Iterator[InteractiveShell]:
    chain(workspace, tmp_path)
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=workspace.session))
    ip.user_ns.clear()
    yield ip
    InteractiveShell.clear_instance()


def test_magic_draws_and_returns_the_graph(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = shell.run_line_magic("dap", "lineage main.daily")
    assert isinstance(graph, LineageGraph)
    assert names(graph.downstream) == ["main.report"]
    drawing = graph._repr_html_()
    assert "<svg" in drawing and 'data-name="main.orders"' in drawing
    assert shell.run_line_magic("dap", "lineage main.daily.total --depth 1 --name g") is None
    bound = shell.user_ns["g"]
    assert isinstance(bound, LineageGraph) and names(bound.upstream) == ["main.orders.amount"]
    shell.run_line_magic("dap", "help")
    assert "%dap lineage TABLE[.COL]" in capsys.readouterr().out
    for line, message in [
        ("lineage", "name a table"),
        ("lineage main.daily --depth x", "whole number"),
        ("lineage main.daily --color red", "unknown option"),
        ("lineage main.nope", "not in the catalog"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("dap", line)


def test_cli_prints_upstream_and_downstream(workspace: Workspace, tmp_path: Path) -> None:
    chain(workspace, tmp_path)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    environ.update({"DAP_HOME": str(workspace.settings.home), "DAP_USER": "tester"})

    def dap_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DAP, *args], capture_output=True, text=True, env=environ, timeout=120
        )

    result = dap_cli("lineage", "main.orders")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "main.orders",
        "upstream:",
        f"  main.raw_orders ← file {tmp_path / 'orders.csv'}",
        "downstream:",
        "  main.daily",
        "  main.report ← main.daily",
    ]
    as_json = dap_cli("lineage", "main.daily.total", "--format", "json", "--depth", "1")
    assert json.loads(as_json.stdout)["upstream"] == [
        {"name": "main.orders.amount", "kind": "column"}
    ]
    missing = dap_cli("lineage", "main.ordrs")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: table main.ordrs is not in the catalog")
    assert "Traceback" not in missing.stderr


def test_lineage_through_the_dap_service(dap_service: Any) -> None:
    from dap_kernel.settings import Settings
    from dap_kernel.transport import HttpSession

    ws = Workspace(Settings(home=dap_service.home, user="tester"))
    store = LineageStore(ws.meta)
    process = f"test:{uuid.uuid4().hex}"
    store.record(
        "main.order_lines",
        ["main.orders"],
        [ColumnEdge("main.orders", "order_id", "main.order_lines", "order_id")],
        process=process,
    )
    try:
        with HttpSession(dap_service.url, api_key=dap_service.keys["ann"]) as ann:
            graph = dap.lineage("main.orders", session=ann)
            assert "main.order_lines" in names(graph.downstream)
            column = dap.lineage("main.order_lines.order_id", session=ann)
            assert column.root == "main.order_lines.order_id"
            assert names(column.upstream) == ["main.orders.order_id"]
        with (
            HttpSession(dap_service.url, api_key=dap_service.keys["bob"]) as bob,
            pytest.raises(QueryRefused),
        ):
            dap.lineage("main.orders", session=bob)
    finally:
        store.record("main.order_lines", [], process=process)  # leave the shared home as it was
        ws.close()


def test_store_works_on_each_metadata_database(meta_url: str, tmp_path: Path) -> None:
    from dap_kernel.settings import Settings

    ws = Workspace(Settings(home=tmp_path / "home", meta_url=meta_url, user="tester"))
    try:
        store = chain(ws, tmp_path)
        assert names(store.graph("main.orders").downstream) == ["main.daily", "main.report"]
        assert names(store.graph("main.report", "total_eur").upstream)[:2] == [
            "main.daily.total",
            "main.orders.amount",
        ]
        assert store.forget("main.report") == 2
        assert store.graph("main.daily").downstream == []
    finally:
        ws.close()
