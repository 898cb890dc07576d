"""Live dashboards redraw when a table behind them gets a new version, and only then."""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl
import pytest

from dap_kernel.dashboards import Dashboard
from dap_kernel.dashboards.live import LiveRefresh
from dap_kernel.errors import DapError
from dap_kernel.session import Workspace


def wait_for(what: Callable[[], bool], timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_new_version_redraws_and_nothing_else_does(workspace: Workspace) -> None:
    workspace.catalog.create_table(
        "main.events", pl.DataFrame({"id": [1, 2, 3], "page": ["/", "/a", "/"]}), owner="tester"
    )
    session = workspace.session()
    d = Dashboard("Events", source="events", session=session)
    tile = d.kpi("id", agg="count", title="Events")
    d.refresh()
    assert tile.value == 3 and "main.events" in d.tables

    live = d.live(every=0.5)
    try:
        time.sleep(1.6)  # three checks of an unchanged table
        assert live.refreshes == 0
        session.sql("INSERT INTO events SELECT 4 AS id, '/b' AS page")  # a new version
        assert wait_for(lambda: tile.value == 4), "the new version was not drawn"
        assert live.refreshes == 1
        time.sleep(1.1)
        assert live.refreshes == 1  # and nothing more while nothing changes
    finally:
        live.stop()
    assert not live.running


def test_no_faster_than_half_a_second() -> None:
    with pytest.raises(DapError, match="at most every 0.5 s"):
        LiveRefresh(dict, lambda: None, every_s=0.1)


def test_a_failing_refresh_does_not_end_the_watch() -> None:
    versions = iter([{"t": 1}, {"t": 2}, {"t": 3}, {"t": 3}] + [{"t": 3}] * 100)
    calls: list[int] = []

    def refresh() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the engine hiccupped")

    live = LiveRefresh(lambda: next(versions), refresh, every_s=0.5).start()
    try:
        assert wait_for(lambda: len(calls) == 2, timeout_s=5)
        assert live.running and live.refreshes == 1
    finally:
        live.stop()
