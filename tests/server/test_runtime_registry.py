"""The service's registry of running queries is one per process, however its first requests
race, and a cancel reaches a query bound for an engine that is not open yet.

Both were seen as flaky cancels: two requests arriving together made two registries, the
running query was held in the one a DELETE and the drain never looked at, and it ran on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from dap_server.metrics import Metrics
from dap_server.runtime import Runtime

from dap_kernel.errors import QueryCancelled
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings


def _runtime(ws: Workspace) -> Runtime:
    runtime = Runtime(
        query_workers=2,
        light_workers=2,
        per_user_queries=2,
        max_rows=100,
        result_store_mb=1,
        metrics=Metrics(),
        settings=ws.settings,
    )

    def slow_open() -> Workspace:  # as a first request finds it: the workspace takes a moment
        time.sleep(0.05)
        return ws

    runtime.attach(slow_open)
    return runtime


def test_requests_arriving_together_share_one_registry(tmp_path: Path) -> None:
    ws = Workspace(Settings(home=tmp_path / "home", user="tester"))
    runtime = _runtime(ws)
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(runtime.queries)) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen) == 8 and all(q is seen[0] for q in seen)
        state = runtime.queries.start("mine", "tester", named=True)
        assert [s.engine_id for s in runtime.running_here()] == [state.engine_id]
    finally:
        runtime.close()
        ws.close()


def test_a_cancel_reaches_an_engine_opened_after_it(tmp_path: Path) -> None:
    """Cancelled while it is governed, before its engine (chDB here) was ever opened."""
    pytest.importorskip("chdb")
    ws = Workspace(Settings(home=tmp_path / "home", user="tester"))
    try:
        assert "chdb" not in [e.name for e in ws.open_engines()]
        assert ws.cancel("early-1") is False
        with pytest.raises(QueryCancelled):
            ws.session().query("SELECT 1 AS x", query_id="early-1", engine="chdb")
        result = ws.session().query("SELECT 1 AS x", query_id="later-1", engine="chdb")
        assert result.table.to_pylist() == [{"x": 1}]
    finally:
        ws.close()
