"""Small REST holes closed: query ids per user, bad `as_of` and `params` are 400s, XSRF with a
stray Authorization header, and who may read /dap/metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dap_kernel.session import Workspace
from tests.server.conftest import Api, Fetch
from tests.server.test_xsrf import _login_cookie

LONG_SQL = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"
METRICS_TOKEN = "scrape-me-0123456789"


@pytest.fixture
def jp_server_config(governed: Workspace) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {
            "dap_home": str(governed.settings.home),
            "identity": "owner",
            "metrics_token": METRICS_TOKEN,
        },
    }


def _without_id(body: dict[str, Any], query_id: str) -> str:
    return json.dumps(body).replace(query_id, "<id>")


# -- query ids -------------------------------------------------------------------------------


async def test_another_users_query_id_is_as_unknown_as_one_never_used(api: Api) -> None:
    mine = await api(
        "POST", "query", as_="ann", body={"sql": "SELECT 1 AS x", "query_id": "ann-q-0001"}
    )
    assert mine.status == 200
    for method in ("GET", "DELETE"):
        taken = await api(method, "query/ann-q-0001", as_="raj")
        never = await api(method, "query/never-used-0001", as_="raj")
        assert taken.status == never.status == 404
        assert _without_id(taken.body, "ann-q-0001") == _without_id(never.body, "never-used-0001")


async def test_the_same_id_string_is_free_for_another_user(api: Api) -> None:
    body = {"sql": "SELECT 1 AS x", "query_id": "shared-id-0001"}
    assert (await api("POST", "query", as_="ann", body=body)).status == 200
    raj = await api("POST", "query", as_="raj", body={**body, "sql": "SELECT 2 AS x"})
    assert raj.status == 200 and raj.body["rows"] == [[2]]  # no 409 telling ann's id exists
    ann = await api("GET", "query/shared-id-0001", as_="ann")
    assert ann.body["rows"] == [[1]]  # her result is hers
    again = await api("POST", "query", as_="ann", body=body)
    assert again.status == 409 and again.body["error"] == "query_id_in_use"  # her own, yes


async def test_cancelling_ones_own_id_never_stops_another_users_query(api: Api) -> None:
    body = {"sql": LONG_SQL, "query_id": "same-long-0001", "cache": False}
    ann = asyncio.ensure_future(api("POST", "query", as_="ann", body=body))
    raj = asyncio.ensure_future(api("POST", "query", as_="raj", body=body))
    for user in ("ann", "raj"):
        for _ in range(200):
            state = await api("GET", "query/same-long-0001", as_=user)
            if state.status == 200 and state.body["status"] == "running":
                break
            await asyncio.sleep(0.02)
        assert state.body["status"] == "running", user
    assert (await api("DELETE", "query/same-long-0001", as_="raj")).body["cancelled"] is True
    assert (await raj).body["error"] == "query_cancelled"
    still = await api("GET", "query/same-long-0001", as_="ann")
    assert still.body["status"] == "running" and not ann.done()
    assert (await api("DELETE", "query/same-long-0001", as_="ann")).body["cancelled"] is True
    assert (await ann).body["error"] == "query_cancelled"


# -- input out of range ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of",
    [
        10**30,
        2**64,
        2**63,
        -1,
        "9" * 40,
        "99999-01-01",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "2024-13-45",
        "x" * 10_000,
    ],
)
async def test_an_out_of_range_as_of_is_a_400(api: Api, as_of: Any) -> None:
    body = {"sql": "SELECT count(*) FROM main.orders", "as_of": as_of}
    reply = await api("POST", "query", as_="ann", body=body)
    assert reply.status == 400, reply.body
    assert "internal" not in reply.body["error"]


@pytest.mark.parametrize("depth", [33, 1_000, 10_000, 100_000])
async def test_deeply_nested_params_are_a_400(api: Api, depth: int) -> None:
    for inner in ("1", '{"a": 1}'):
        deep = "[" * depth + inner + "]" * depth
        raw = ('{"sql": "SELECT :a AS x", "params": {"a": ' + deep + "}}").encode()
        reply = await api("POST", "query", as_="ann", raw_body=raw)
        assert reply.status == 400 and reply.body["error"] == "invalid_request", reply.body
        exported = raw.replace(b'"sql"', b'"format": "csv", "sql"')
        assert (await api("POST", "export", as_="ann", raw_body=exported)).status == 400


async def test_nested_params_of_a_sane_depth_still_work(api: Api) -> None:
    body = {"sql": "SELECT :a AS x", "params": {"a": [[1, 2], [3]]}}
    reply = await api("POST", "query", as_="ann", body=body)
    assert reply.status == 200 and reply.body["rows"] == [[[[1, 2], [3]]]]


# -- XSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Basic YW5uOnB3", "Bearer not-a-key", "Negotiate abc"])
async def test_a_stray_authorization_header_does_not_lift_the_xsrf_check(
    jp_fetch: Fetch, jp_auth_header: dict[str, str], api: Api, header: str
) -> None:
    token = jp_auth_header["Authorization"].split(" ", 1)[1]
    cookie = await _login_cookie(jp_fetch, token)
    forged = await api(
        "POST",
        "query",
        as_=None,
        body={"sql": "SELECT 42 AS x"},
        headers={"Cookie": cookie, "Authorization": header},
    )
    assert forged.status == 403 and "xsrf" in forged.body["message"].lower()
    # With the XSRF token the same cookie request goes through.
    ok = await api(
        "POST",
        "query",
        as_=None,
        body={"sql": "SELECT 42 AS x"},
        headers={
            "Cookie": f"{cookie}; _xsrf=abc123",
            "X-XSRFToken": "abc123",
            "Authorization": header,
        },
    )
    assert ok.status == 200 and ok.body["rows"] == [[42]]


# -- metrics ---------------------------------------------------------------------------------


async def test_metrics_need_an_admin_or_the_metrics_token(api: Api) -> None:
    for user in ("ann", "bob"):
        refused = await api("GET", "/dap/metrics", as_=user)
        assert refused.status == 403 and refused.body["error"] == "query_refused"
    assert (await api("GET", "/dap/metrics", as_=None)).status == 401
    admin = await api("GET", "/dap/metrics", as_="tester")
    assert admin.status == 200 and b"dap_http_requests_total" in admin.raw
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    scraped = await api("GET", "/dap/metrics", as_="jupyter", headers=scraper)
    assert scraped.status == 200 and b"dap_http_requests_total" in scraped.raw
    wrong = {"Authorization": f"Bearer {METRICS_TOKEN}x"}
    assert (await api("GET", "/dap/metrics", as_="jupyter", headers=wrong)).status == 401
    # The token reads the metrics and nothing else.
    assert (await api("GET", "catalog", as_="jupyter", headers=scraper)).status == 401
