"""Fair share over REST: one user's runaway queries cannot hold another user's query back, and
no caller gets past the administrator's timeout. (Latency figures: bench/fairshare.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dap_kernel.session import Workspace
from tests.server.conftest import Api, Reply

LONG_SQL = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"


@pytest.fixture
def jp_server_config(governed: Workspace) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {
            "dap_home": str(governed.settings.home),
            "identity": "owner",
            "query_workers": 2,  # so one user may run only one at a time
            "per_user_queries": 2,  # running or waiting
            "query_timeout": 0.5,
            "max_query_timeout": 2.0,
        },
    }


async def _until_running(api: Api, user: str, query_id: str) -> None:
    for _ in range(200):
        reply = await api("GET", f"query/{query_id}", as_=user)
        if reply.status == 200 and reply.body["status"] == "running":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{query_id} never ran")


def _long(api: Api, query_id: str) -> asyncio.Future[Reply]:
    body = {"sql": LONG_SQL, "query_id": query_id, "timeout": 30, "cache": False}
    return asyncio.ensure_future(api("POST", "query", as_="ann", body=body))


async def test_a_second_user_is_admitted_while_the_first_is_at_its_limit(api: Api) -> None:
    first = _long(api, "ann-runaway-1")
    await _until_running(api, "ann", "ann-runaway-1")
    second = _long(api, "ann-runaway-2")  # waits in ann's own queue: the last worker is kept
    await asyncio.sleep(0.05)
    third = await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"})
    assert third.status == 429 and third.body["error"] == "too_many_queries"
    quick = await api("POST", "query", as_="raj", body={"sql": "SELECT 42 AS x"})
    assert quick.status == 200 and quick.body["rows"] == [[42]]
    assert not first.done() and not second.done(), "raj had to wait for ann's queries"
    # Stop ann's queries instead of waiting for their timeouts.
    assert (await api("DELETE", "query/ann-runaway-1", as_="ann")).body["cancelled"] is True
    assert (await first).body["error"] == "query_cancelled"
    await _until_running(api, "ann", "ann-runaway-2")
    assert (await api("DELETE", "query/ann-runaway-2", as_="ann")).body["cancelled"] is True
    assert (await second).body["error"] == "query_cancelled"
    again = await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"})
    assert again.status == 200  # her slots came back


async def test_a_caller_may_lower_the_timeout_but_not_raise_it(api: Api) -> None:
    asked_more = await api("POST", "query", as_="ann", body={"sql": LONG_SQL, "timeout": 3600})
    assert asked_more.status == 408 and asked_more.body["error"] == "query_timeout"
    assert "longer than 2 s" in asked_more.body["message"]  # the maximum, not the 3600 asked
    default = await api("POST", "query", as_="ann", body={"sql": LONG_SQL})
    assert default.status == 408 and "longer than 0.5 s" in default.body["message"]
    lowered = await api("POST", "query", as_="ann", body={"sql": LONG_SQL, "timeout": 0.2})
    assert lowered.status == 408 and "longer than 0.2 s" in lowered.body["message"]


async def test_exports_keep_the_same_timeout(api: Api) -> None:
    body = {"sql": LONG_SQL, "format": "csv", "timeout": 3600}
    reply = await api("POST", "export", as_="ann", body=body)
    assert reply.status == 408 and "longer than 2 s" in reply.body["message"]
