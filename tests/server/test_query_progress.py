"""REST `query/{id}` reports the engine's progress while the query runs (what the builder's
progress bar polls), and nothing of another user's query."""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl

from dap_kernel.session import Workspace
from tests.server.conftest import Api


async def test_a_running_query_reports_progress_that_moves(api: Api, governed: Workspace) -> None:
    rows = 6_000_000
    governed.catalog.create_table(
        "main.big", pl.DataFrame({"i": range(rows)}).with_columns(s=pl.col("i").cast(pl.String))
    )
    governed.admin("tester").grant("SELECT", "main.big", "user", "ann")
    query_id = "progress-0001"
    sql = "SELECT count(DISTINCT md5(s || CAST(i AS VARCHAR))) AS n FROM main.big"
    running = asyncio.ensure_future(
        api("POST", "query", as_="ann", body={"sql": sql, "query_id": query_id})
    )
    seen: list[float] = []
    others: list[int] = []
    while not running.done():
        asked = await api("GET", f"query/{query_id}", as_="ann", params={"page_size": "1"})
        status: dict[str, Any] = asked.body
        if status.get("status") == "running" and status.get("progress") is not None:
            seen.append(status["progress"])
            others.append((await api("GET", f"query/{query_id}", as_="raj")).status)
        await asyncio.sleep(0.05)
    reply = await running
    assert reply.status == 200 and reply.body["rows"] == [[rows]]
    assert any(0 < p < 100 for p in seen), seen
    assert set(others) <= {404}
