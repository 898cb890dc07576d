"""Every REST endpoint through a real Jupyter Server: governed answers, JSON errors."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select

from dap_kernel.session import Workspace
from dap_kernel.sharedstate.queries import QUERIES
from tests.server.conftest import Api, Fetch

LONG_SQL = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"


async def test_health_answers_without_identity(api: Api) -> None:
    reply = await api("GET", "health", as_=None)
    assert reply.status == 200
    assert reply.body["ready"] is True and reply.body["checks"] == {
        "metadata": "ok",
        "engine": "ok",
    }


async def test_whoami_by_jupyter_token_and_by_api_key(api: Api) -> None:
    owner = await api("GET", "whoami")
    assert owner.body["user"] == "tester" and owner.body["source"] == "jupyter"
    ann = await api("GET", "whoami", as_="ann")
    assert ann.body["user"] == "ann" and ann.body["source"] == "apikey"
    assert ann.body["groups"] == ["analysts"] and ann.body["multi_user"] is True


async def test_catalog_lists_what_each_user_may_read(api: Api) -> None:
    ann = await api("GET", "catalog", as_="ann")
    by_name = {t["name"]: t for t in ann.body["tables"]}
    assert "main.customers" in by_name
    assert by_name["main.customers"]["row_count"] is None  # a row filter applies to ann
    assert by_name["main.orders"]["row_count"] > 0
    bob = await api("GET", "catalog", as_="bob")
    assert bob.body["tables"] == []
    flagged = await api("GET", "catalog", as_="bob", params={"include_denied": "true"})
    assert flagged.body["tables"] and not any(t["readable"] for t in flagged.body["tables"])
    assert all(t["row_count"] is None for t in flagged.body["tables"])
    search = await api("GET", "catalog", as_="ann", params={"q": "customer"})
    assert next(t["name"] for t in search.body["tables"]) == "main.customers"


async def test_table_detail_is_governed(api: Api) -> None:
    reply = await api("GET", "catalog/main.customers", as_="ann", params={"sample": "50"})
    assert reply.status == 200
    detail = reply.body
    columns = {c["name"]: c for c in detail["columns"]}
    assert columns["email"]["masked"] is True
    assert columns["email"]["min_value"] is None and columns["email"]["max_value"] is None
    assert detail["row_filtered"] is True and detail["row_count"] is None
    rows = [dict(zip(detail["sample_columns"], r, strict=True)) for r in detail["sample_rows"]]
    assert rows and {r["region"] for r in rows} == {"EMEA"}
    assert all(r["email"].startswith("***@") for r in rows)
    admin = await api("GET", "catalog/customers", params={"sample": "3"})
    admin_columns = {c["name"]: c for c in admin.body["columns"]}
    assert admin_columns["email"]["min_value"] and not admin_columns["email"]["masked"]
    assert "@" in admin.body["sample_rows"][0][admin.body["sample_columns"].index("email")]


async def test_table_detail_says_which_distinct_counts_are_estimates(
    api: Api, governed: Workspace
) -> None:
    exact = await api("GET", "catalog/main.products")
    columns = {c["name"]: c for c in exact.body["columns"]}
    assert columns["product_id"]["distinct_count"] == exact.body["row_count"]
    assert not any(c["distinct_approx"] for c in columns.values())
    governed.catalog.exact_distinct_rows = 10  # as DAP_EXACT_DISTINCT_ROWS=10 would
    governed.catalog.refresh("main.products")
    estimated = await api("GET", "catalog/main.products")
    assert all(c["distinct_approx"] for c in estimated.body["columns"])
    assert all(c["distinct_count"] is not None for c in estimated.body["columns"])
    # A masked column's statistics stay hidden, estimate flag included.
    ann = await api("GET", "catalog/main.customers", as_="ann")
    email = next(c for c in ann.body["columns"] if c["name"] == "email")
    assert (email["distinct_count"], email["distinct_approx"], email["min_value"]) == (
        None,
        False,
        None,
    )


async def test_table_detail_errors(api: Api) -> None:
    denied = await api("GET", "catalog/main.customers", as_="bob")
    assert denied.status == 403 and denied.body["error"] == "query_refused"
    missing = await api("GET", "catalog/main.nope", as_="ann")
    assert missing.status == 404 and missing.body["error"] == "unknown_table"
    bad = await api("GET", "catalog/main.customers", as_="ann", params={"sample": "-1"})
    assert bad.status == 400 and bad.body["error"] == "invalid_request"
    assert "sample" in bad.body["message"]


async def test_query_returns_json_rows_under_the_callers_filter(api: Api) -> None:
    sql = "SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region"
    ann = await api("POST", "query", as_="ann", body={"sql": sql})
    assert ann.status == 200
    assert ann.body["columns"] == [
        {"name": "region", "type": "string"},
        {"name": "n", "type": "int64"},
    ]
    assert [r[0] for r in ann.body["rows"]] == ["EMEA"]
    raj = await api("POST", "query", as_="raj", body={"sql": sql})
    assert [r[0] for r in raj.body["rows"]] == ["APAC"]
    admin = await api("POST", "query", body={"sql": sql})
    assert [r[0] for r in admin.body["rows"]] == ["AMER", "APAC", "EMEA"]
    assert sum(r[1] for r in admin.body["rows"]) == 200


async def test_query_params_are_bound(api: Api) -> None:
    body = {
        "sql": "SELECT count(*) AS n FROM orders WHERE order_id <= :top",
        "params": {"top": 10},
    }
    reply = await api("POST", "query", as_="ann", body=body)
    assert reply.body["rows"] == [[10]]
    missing = await api("POST", "query", as_="ann", body={"sql": body["sql"]})
    assert missing.status == 400 and missing.body["error"] == "missing_parameter"


async def test_paging_and_row_limit(api: Api) -> None:
    sql = "SELECT order_id FROM orders ORDER BY order_id"
    first = await api("POST", "query", as_="ann", body={"sql": sql, "limit": 25, "page_size": 10})
    page = first.body
    assert page["row_count"] == 25 and page["truncated"] is True
    assert [r[0] for r in page["rows"]] == list(range(1, 11)) and page["next_offset"] == 10
    second = await api(
        "GET", f"query/{page['query_id']}", as_="ann", params={"offset": "20", "page_size": "10"}
    )
    assert [r[0] for r in second.body["rows"]] == list(range(21, 26))
    assert second.body["next_offset"] is None and second.body["status"] == "finished"
    # Another user cannot read (or learn of) ann's query.
    other = await api("GET", f"query/{page['query_id']}", as_="raj")
    assert other.status == 404 and other.body["error"] == "unknown_query"


async def test_query_as_arrow_stream(api: Api) -> None:
    reply = await api(
        "POST",
        "query",
        as_="ann",
        body={"sql": "SELECT customer_id, email, region FROM customers ORDER BY 1"},
        headers={"Accept": "application/vnd.apache.arrow.stream"},
    )
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(reply.raw).read_all()
    assert table.column_names == ["customer_id", "email", "region"]
    assert table.num_rows == int(reply.headers["X-DAP-Row-Count"]) > 0
    assert set(table.column("region").to_pylist()) == {"EMEA"}
    assert all(e.startswith("***@") for e in table.column("email").to_pylist())


@pytest.mark.parametrize(
    ("sql", "status", "code"),
    [
        ("SELEC 1", 400, "sql_syntax_error"),
        ("SELECT * FROM read_csv('/etc/passwd')", 403, "query_refused"),
        ("DROP TABLE main.orders", 403, "query_refused"),
        ("SELECT * FROM main.nothing_here", 404, "unknown_table"),
        ("SELECT 1/0::INT AS x FROM orders WHERE error('boom') IS NULL", 400, "query_failed"),
    ],
)
async def test_query_errors_are_one_json_line(api: Api, sql: str, status: int, code: str) -> None:
    reply = await api("POST", "query", as_="ann", body={"sql": sql})
    assert (reply.status, reply.body["error"]) == (status, code)
    assert "\n" not in reply.body["message"]


async def test_every_answer_carries_the_security_headers(api: Api) -> None:
    """Governed rows are not cached by a browser or proxy, the URL does not travel in a
    Referer, other sites cannot frame or embed the answer: on success and on every error."""
    from dap_server.headers import HEADERS

    replies = [
        await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"}),
        await api("GET", "catalog", as_=None),  # 401
        await api("POST", "query", as_="ann", body={"sql": "SELEC 1"}),  # 400
        await api("GET", "catalog/main.nope", as_="ann"),  # 404
        await api("GET", "catalog/main.customers", as_="bob"),  # 403
    ]
    assert [r.status for r in replies] == [200, 401, 400, 404, 403]
    for reply in replies:
        for name, value in HEADERS.items():
            assert reply.headers.get(name) == value, (reply.status, name)
        assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
        # Plain HTTP: no HSTS (tests/server/test_tls.py checks it is there over HTTPS).
        assert "Strict-Transport-Security" not in reply.headers


async def test_malformed_requests(api: Api) -> None:
    not_json = await api("POST", "query", as_="ann", raw_body=b"{nope")
    assert not_json.status == 400 and not_json.body["error"] == "invalid_request"
    unknown_field = await api("POST", "query", as_="ann", body={"sql": "SELECT 1", "lmit": 3})
    assert unknown_field.status == 400 and "lmit" in unknown_field.body["message"]
    wrong_type = await api("POST", "query", as_="ann", body=["SELECT 1"])
    assert wrong_type.status == 400


async def test_result_cache_hits_and_follows_table_changes(api: Api, governed: Workspace) -> None:
    body = {"sql": "SELECT count(*) AS n FROM orders"}
    first = await api("POST", "query", as_="ann", body=body)
    again = await api("POST", "query", as_="ann", body=body)
    assert (first.body["cached"], again.body["cached"]) == (False, True)
    assert first.body["rows"] == again.body["rows"]
    uncached = await api("POST", "query", as_="ann", body={**body, "cache": False})
    assert uncached.body["cached"] is False
    # Same SQL, another row filter: never served from ann's entry.
    raj = await api("POST", "query", as_="raj", body={"sql": "SELECT count(*) FROM customers"})
    ann = await api("POST", "query", as_="ann", body={"sql": "SELECT count(*) FROM customers"})
    assert raj.body["rows"] != ann.body["rows"] and ann.body["cached"] is False
    # A new version of the table invalidates: the next answer is fresh and counts the new row.
    row = governed.session().sql("SELECT * FROM main.orders ORDER BY order_id LIMIT 1")
    governed.catalog.write("main.orders", row.with_columns(order_id=row["order_id"] + 10**9))
    after = await api("POST", "query", as_="ann", body=body)
    assert after.body["cached"] is False
    assert after.body["rows"][0][0] == first.body["rows"][0][0] + 1


async def test_cancel_a_running_query(api: Api) -> None:
    query_id = "cancel-me-0001"
    running = asyncio.ensure_future(
        api("POST", "query", as_="ann", body={"sql": LONG_SQL, "query_id": query_id})
    )
    status: dict[str, Any] = {}
    for _ in range(200):
        await asyncio.sleep(0.05)
        status = (await api("GET", f"query/{query_id}", as_="ann")).body
        if status.get("status") == "running":
            break
    assert status["status"] == "running"
    assert (await api("DELETE", f"query/{query_id}", as_="raj")).status == 404
    cancel = await api("DELETE", f"query/{query_id}", as_="ann")
    assert cancel.body == {"query_id": query_id, "cancelled": True}
    reply = await running
    assert reply.status == 409 and reply.body["error"] == "query_cancelled"
    final = await api("GET", f"query/{query_id}", as_="ann")
    assert final.body["status"] == "cancelled"


async def test_query_timeout(api: Api) -> None:
    reply = await api("POST", "query", as_="ann", body={"sql": LONG_SQL, "timeout": 0.3})
    assert reply.status == 408 and reply.body["error"] == "query_timeout"


async def test_a_long_query_does_not_block_other_requests(api: Api) -> None:
    long = asyncio.ensure_future(
        api("POST", "query", as_="ann", body={"sql": LONG_SQL, "timeout": 5})
    )
    await asyncio.sleep(0.2)
    quick = await api("POST", "query", as_="raj", body={"sql": "SELECT 42 AS x"})
    assert quick.body["rows"] == [[42]]
    assert not long.done(), "the quick query had to wait for the long one"
    assert (await long).status == 408


async def test_query_build_then_run(api: Api) -> None:
    spec = {
        "table": "customers",
        "filters": [{"column": "segment", "op": "in", "value": ["consumer", "enterprise"]}],
        "group_by": ["segment"],
        "aggregates": [{"func": "count"}],
        "order_by": [{"column": "segment"}],
    }
    built = await api("POST", "query/build", as_="ann", body=spec)
    assert built.status == 200, built.body
    assert "consumer" not in built.body["sql"]  # values are bound, not pasted
    assert built.body["params"] == {"p0": "consumer", "p1": "enterprise"}
    run = await api(
        "POST", "query", as_="ann", body={"sql": built.body["sql"], "params": built.body["params"]}
    )
    direct = await api(
        "POST",
        "query",
        as_="ann",
        body={
            "sql": "SELECT segment, count(*) FROM customers WHERE segment IN "
            "('consumer', 'enterprise') GROUP BY 1 ORDER BY 1"
        },
    )
    assert run.body["rows"] == direct.body["rows"] and run.body["rows"]
    refused = await api("POST", "query/build", as_="bob", body=spec)
    assert refused.status == 403
    bad = await api("POST", "query/build", as_="ann", body={**spec, "group_by": ["nope"]})
    assert bad.status == 400 and bad.body["error"] == "invalid_query_spec"


async def test_access_check(api: Api) -> None:
    body = {
        "checks": [
            {"action": "SELECT", "securable": "main.customers"},
            {"action": "MANAGE_GRANTS", "securable": "*"},
        ]
    }
    ann = await api("POST", "access/check", as_="ann", body=body)
    assert [r["allowed"] for r in ann.body["results"]] == [True, False]
    assert ann.body["results"][1]["reason"]
    bob = await api("POST", "access/check", as_="bob", body=body)
    assert [r["allowed"] for r in bob.body["results"]] == [False, False]


async def test_audit_own_records_or_all_for_managers(api: Api) -> None:
    await api("POST", "query", as_="ann", body={"sql": "SELECT count(*) FROM orders"})
    await api("POST", "query", as_="raj", body={"sql": "SELECT count(*) FROM products"})
    ann = await api("GET", "audit", as_="ann")
    assert ann.body["records"] and {r["user"] for r in ann.body["records"]} == {"ann"}
    assert ann.body["records"][0]["channel"] == "rest"
    assert (await api("GET", "audit", as_="ann", params={"user": "raj"})).status == 403
    admin = await api("GET", "audit", params={"user": "raj", "verify": "true"})
    assert {r["user"] for r in admin.body["records"]} == {"raj"}
    assert admin.body["chain_ok"] is True


async def test_api_keys_lifecycle(api: Api, keys: dict[str, str]) -> None:
    created = await api("POST", "apikeys", body={"name": "report bot", "user": "ann"})
    assert created.status == 201 and created.body["token"].startswith("dap_")
    token = created.body["token"]
    keys["bot"] = token
    assert (await api("GET", "whoami", as_="bot")).body["user"] == "ann"
    listed = await api("GET", "apikeys", as_="ann")
    assert all("token" not in k for k in listed.body["keys"])
    assert created.body["key_id"] in {k["key_id"] for k in listed.body["keys"]}
    # raj may neither see nor revoke ann's key, nor create keys for others.
    assert (await api("DELETE", f"apikeys/{created.body['key_id']}", as_="raj")).status == 404
    other = await api("POST", "apikeys", as_="raj", body={"name": "x", "user": "ann"})
    assert other.status == 403
    revoked = await api("DELETE", f"apikeys/{created.body['key_id']}", as_="ann")
    assert revoked.body["state"] == "revoked"
    gone = await api("GET", "whoami", as_="bot")
    assert gone.status == 401 and "revoked" in gone.body["message"]
    # A query-only key cannot manage keys (it could otherwise mint a stronger one).
    weak = await api("POST", "apikeys", as_="ann-query-only", body={"name": "escalate"})
    assert weak.status == 403 and weak.body["error"] == "insufficient_scope"


async def test_lineage(api: Api, governed: Workspace, tmp_path: Path) -> None:
    csv = tmp_path / "rates.csv"
    csv.write_text("currency,rate\nEUR,1.0\nUSD,1.1\n")
    governed.catalog.register_file("main.rates", str(csv))
    admin = await api("GET", "lineage/main.rates")
    assert admin.body["table"] == "main.rates"
    assert admin.body["upstream"] == [{"name": str(csv), "kind": "file"}]
    assert admin.body["downstream"] == []
    delta = await api("GET", "lineage/main.orders", as_="ann")
    assert delta.body["upstream"] == []
    assert (await api("GET", "lineage/main.orders", as_="bob")).status == 403


async def test_connectors(api: Api, tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE stores (id INTEGER, city TEXT)")
    created = await api("POST", "connectors", body={"name": "shop", "url": f"sqlite:///{db}"})
    assert created.status == 201 and created.body["kind"] == "sqlite"
    pg = await api(
        "POST",
        "connectors",
        body={"name": "warehouse", "url": "postgresql://etl:s3cret-pw@127.0.0.1:1/dw"},
    )
    assert pg.status == 201 and "s3cret-pw" not in json.dumps(pg.body)
    listed = await api("GET", "connectors", as_="ann")  # analysts may use connectors
    assert {c["name"] for c in listed.body["connectors"]} == {"shop", "warehouse"}
    assert "s3cret-pw" not in listed.raw.decode()
    tested = await api("POST", "connectors/shop/test", as_="ann")
    assert tested.body["ok"] is True and "stores" in tested.body["objects"]
    dead = await api("POST", "connectors/warehouse/test", as_="ann")
    assert dead.body["ok"] is False and "s3cret-pw" not in dead.raw.decode()
    assert (
        await api("POST", "connectors", as_="ann", body={"name": "x", "url": "sqlite:///x"})
    ).status == 403
    assert (await api("GET", "connectors", as_="bob")).status == 403
    missing = await api("POST", "connectors/nope/test", as_="ann")
    assert missing.status == 404


async def test_metrics_and_openapi(api: Api, jp_fetch: Fetch) -> None:
    await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS one"})
    await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS one"})
    await api("GET", "catalog", as_=None)
    response = await jp_fetch("dap", "metrics")
    text = response.body.decode()
    assert 'dap_http_requests_total{method="POST",route="query",status="200"}' in text
    assert 'dap_result_cache_lookups_total{result="hit"}' in text
    assert 'dap_errors_total{code="unauthenticated"}' in text
    assert "dap_query_duration_seconds_bucket" in text
    doc = (await api("GET", "openapi.json")).body
    assert doc["openapi"] == "3.1.0"
    assert "/dap/api/v1/query" in doc["paths"] and "/dap/metrics" in doc["paths"]
    query = doc["paths"]["/dap/api/v1/query"]["post"]
    assert "application/vnd.apache.arrow.stream" in query["responses"]["200"]["content"]
    assert query["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "QueryRequest"
    )


async def test_metrics_report_the_streams_of_the_home(
    api: Api, jp_fetch: Fetch, governed: Workspace
) -> None:
    from dap_kernel.streams.state import StreamState, write_state

    home = governed.settings.home
    running = StreamState(name="main.clicks", spec={}, pid=os.getpid(), status="running")
    running.lag, running.rows, running.events_per_s = {"0": 5, "1": 7}, 1234, 2500.5
    running.latency_p50_ms, running.latency_p99_ms = 180.0, 640.0
    write_state(home, running)
    write_state(home, StreamState(name="main.views", spec={}, pid=os.getpid(), status="stopped"))

    text = (await jp_fetch("dap", "metrics")).body.decode()

    assert 'dap_stream_up{stream="main.clicks"} 1.0' in text
    assert 'dap_stream_up{stream="main.views"} 0.0' in text
    assert 'dap_stream_lag_events{stream="main.clicks"} 12.0' in text
    assert 'dap_stream_events_per_second{stream="main.clicks"} 2500.5' in text
    assert 'dap_stream_event_to_queryable_p99_milliseconds{stream="main.clicks"} 640.0' in text
    assert 'dap_stream_rows{stream="main.views"} 0.0' in text
    assert 'dap_stream_lag_events{stream="main.views"}' not in text  # never measured


async def test_batch_runs_a_report_in_one_round_trip(api: Api) -> None:
    body = {
        "queries": [
            {"sql": "SELECT region, count(*) AS n FROM customers GROUP BY 1"},
            {
                "sql": "SELECT count(*) AS n FROM orders WHERE order_id <= :top",
                "params": {"top": 5},
            },
            {"sql": "SELECT * FROM read_csv('/etc/passwd')"},
            {"sql": "SELECT channel, count(*) FROM orders GROUP BY 1 ORDER BY 1", "page_size": 1},
        ]
    }
    reply = await api("POST", "query/batch", as_="ann", body=body)
    assert reply.status == 200
    first, second, refused, paged = reply.body["results"]
    assert [r[0] for r in first["rows"]] == ["EMEA"]
    assert second["rows"] == [[5]]
    assert refused["status"] == "failed" and refused["error"]["error"] == "query_refused"
    assert len(paged["rows"]) == 1 and paged["next_offset"] == 1
    more = await api("GET", f"query/{paged['query_id']}", as_="ann", params={"offset": "1"})
    assert more.body["rows"] and more.body["offset"] == 1


async def test_an_answer_with_every_row_is_not_held(api: Api, governed: Workspace) -> None:
    """An unnamed query answered whole leaves nothing on the service (no copy of its rows, no
    registry write on the busiest path); a named one, or one with pages left, is held."""

    def held_ids() -> set[str]:
        with governed.meta.connection() as con:
            return {r.query_id for r in con.execute(select(QUERIES.c.query_id)).all()}

    sql = "SELECT channel, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1"
    whole = (await api("POST", "query", as_="ann", body={"sql": sql})).body
    assert whole["rows"] and whole["next_offset"] is None and whole["held"] is False
    gone = await api("GET", f"query/{whole['query_id']}", as_="ann")
    assert gone.status == 404 and gone.body["error"] == "unknown_query"
    arrow = await api(
        "POST",
        "query",
        as_="ann",
        body={"sql": sql},
        headers={"Accept": "application/vnd.apache.arrow.stream"},
    )
    assert arrow.status == 200
    paged = (await api("POST", "query", as_="ann", body={"sql": sql, "page_size": 1})).body
    assert paged["next_offset"] == 1 and paged["held"] is True
    named = (await api("POST", "query", as_="ann", body={"sql": sql, "query_id": "mine-0001"})).body
    assert named["next_offset"] is None and named["held"] is True
    again = await api("GET", "query/mine-0001", as_="ann")
    assert again.status == 200 and again.body["rows"] == named["rows"]
    batch = await api(
        "POST",
        "query/batch",
        as_="ann",
        body={"queries": [{"sql": sql}, {"sql": "SELECT * FROM nowhere"}]},
    )
    answered, failed = batch.body["results"]
    assert answered["held"] is False and failed["held"] is True
    assert (await api("GET", f"query/{failed['query_id']}", as_="ann")).body["status"] == "failed"
    assert held_ids() >= {paged["query_id"], "mine-0001", failed["query_id"]}
    let_go = {whole["query_id"], answered["query_id"], arrow.headers["X-DAP-Query-Id"]}
    assert not held_ids() & let_go


async def test_unknown_query_string_parameters_are_ignored(api: Api) -> None:
    """JupyterLab adds a cache-buster (`?1732752000000`) to GETs; bodies stay strict."""
    reply = await api("GET", "catalog", as_="ann", params={"1732752000000": ""})
    assert reply.status == 200 and reply.body["tables"]
