"""Server limits set by traits: queries per user at once, and rows per result."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dap_kernel.session import Workspace
from tests.server.conftest import Api

LONG_SQL = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"


@pytest.fixture
def jp_server_config(governed: Workspace) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {
            "dap_home": str(governed.settings.home),
            "identity": "owner",
            "per_user_queries": 1,
            "max_rows": 50,
        },
    }


async def test_one_user_cannot_take_every_worker(api: Api) -> None:
    long = asyncio.ensure_future(
        api("POST", "query", as_="ann", body={"sql": LONG_SQL, "timeout": 3})
    )
    await asyncio.sleep(0.3)
    second = await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"})
    assert second.status == 429 and second.body["error"] == "too_many_queries"
    other = await api("POST", "query", as_="raj", body={"sql": "SELECT 1 AS x"})
    assert other.status == 200
    assert (await long).status == 408
    again = await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"})
    assert again.status == 200  # the slot is given back, also after a timeout


async def test_results_are_cut_at_max_rows(api: Api) -> None:
    reply = await api("POST", "query", as_="ann", body={"sql": "SELECT * FROM orders"})
    assert reply.body["row_count"] == 50 and reply.body["truncated"] is True
    asked = await api("POST", "query", as_="ann", body={"sql": "SELECT * FROM orders", "limit": 10})
    assert asked.body["row_count"] == 10
    more = await api("POST", "query", as_="ann", body={"sql": "SELECT * FROM orders", "limit": 999})
    assert more.body["row_count"] == 50
