"""REST ``lineage/{table}``: the lab extension's fields, plus edges and column edges, governed."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dap_kernel.lineage import ColumnEdge, LineageStore
from dap_kernel.session import Workspace
from tests.server.conftest import Api


def record(ws: Workspace, tmp_path: Path) -> Path:
    """rates.csv → main.rates (registered); main.orders + main.rates → main.daily → main.vip."""
    csv = tmp_path / "rates.csv"
    csv.write_text("currency,rate\nEUR,1.0\nUSD,1.1\n")
    ws.catalog.register_file("main.rates", str(csv))
    ws.catalog.create_table("main.daily", pl.DataFrame({"total": [1.0], "rate": [1.0]}))
    ws.catalog.create_table("main.vip", pl.DataFrame({"total": [1.0]}))
    store = LineageStore(ws.meta)
    store.record(
        "main.daily",
        ["main.orders", "main.rates"],
        [
            ColumnEdge("main.orders", "amount", "main.daily", "total"),
            ColumnEdge("main.rates", "rate", "main.daily", "rate"),
        ],
        process="pipeline:daily",
        run_id="run-1",
    )
    store.record(
        "main.vip",
        ["main.daily"],
        [ColumnEdge("main.daily", "total", "main.vip", "total")],
        process="sql:tester",
    )
    return csv


async def test_registered_file_table_keeps_its_source(
    api: Api, governed: Workspace, tmp_path: Path
) -> None:
    csv = record(governed, tmp_path)
    reply = await api("GET", "lineage/main.rates")
    assert reply.status == 200
    body = reply.body
    assert body["table"] == "main.rates"
    assert body["upstream"] == [{"name": str(csv), "kind": "file"}]
    assert body["downstream"] == [
        {"name": "main.daily", "kind": "table"},
        {"name": "main.vip", "kind": "table"},
    ]
    assert {"source": str(csv), "target": "main.rates", "process": "catalog"}.items() <= next(
        e for e in body["edges"] if e["target"] == "main.rates"
    ).items()
    assert body["column"] is None


async def test_table_graph_with_edges_and_columns(
    api: Api, governed: Workspace, tmp_path: Path
) -> None:
    csv = record(governed, tmp_path)
    body = (await api("GET", "lineage/daily", as_="ann")).body
    assert body["table"] == "main.daily"
    assert [n["name"] for n in body["upstream"]] == ["main.orders", "main.rates", str(csv)]
    assert body["downstream"] == [{"name": "main.vip", "kind": "table"}]
    edge = next(e for e in body["edges"] if e["source"] == "main.orders")
    assert edge["target"] == "main.daily" and edge["process"] == "pipeline:daily"
    assert edge["run_id"] == "run-1" and edge["recorded_at"].endswith("Z")
    assert {
        "source_table": "main.orders",
        "source_column": "amount",
        "target_table": "main.daily",
        "target_column": "total",
    } in body["columns"]
    shallow = (await api("GET", "lineage/main.daily", params={"depth": "1"})).body
    assert [n["name"] for n in shallow["upstream"]] == ["main.orders", "main.rates"]


async def test_column_lineage_by_parameter_or_path(
    api: Api, governed: Workspace, tmp_path: Path
) -> None:
    record(governed, tmp_path)
    by_param = (await api("GET", "lineage/main.vip", params={"column": "total"})).body
    assert by_param["table"] == "main.vip" and by_param["column"] == "total"
    assert by_param["upstream"] == [
        {"name": "main.daily.total", "kind": "column"},
        {"name": "main.orders.amount", "kind": "column"},
    ]
    by_path = (await api("GET", "lineage/main.vip.total")).body
    assert by_path == by_param


async def test_lineage_is_governed(api: Api, governed: Workspace, tmp_path: Path) -> None:
    record(governed, tmp_path)
    assert (await api("GET", "lineage/main.daily", as_="bob")).status == 403
    governed.admin("tester").grant("SELECT", "main.daily", "user", "bob")
    body = (await api("GET", "lineage/main.daily", as_="bob")).body
    assert body["upstream"] == [
        {"name": "(restricted)", "kind": "restricted"},
        {"name": "(restricted 2)", "kind": "restricted"},
        {"name": "(restricted 3)", "kind": "restricted"},  # rates.csv feeds only main.rates
    ]
    assert body["downstream"] == [{"name": "(restricted 4)", "kind": "restricted"}]
    assert body["columns"] == []
    text = str(body)
    assert "main.orders" not in text and "rates" not in text and "main.vip" not in text


async def test_lineage_errors(api: Api, governed: Workspace, tmp_path: Path) -> None:
    record(governed, tmp_path)
    missing = await api("GET", "lineage/main.nope", as_="ann")
    assert missing.status == 404 and missing.body["error"] == "unknown_table"
    no_column = await api("GET", "lineage/main.daily", params={"column": "nope"})
    assert no_column.status == 404 and "no column nope" in no_column.body["message"]
    bad = await api("GET", "lineage/main.daily", params={"column": "a;b"})
    assert bad.status == 400 and bad.body["error"] == "invalid_request"
    deep = await api("GET", "lineage/main.daily", params={"depth": "999"})
    assert deep.status == 400
