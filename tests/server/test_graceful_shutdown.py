"""`dap serve` under SIGTERM, as a real process: it drains (readiness 503, new queries 503),
lets running queries finish within the grace period, cancels the rest, and exits 0."""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import Service, served

pytestmark = pytest.mark.slow

# Seconds on this machine (a cross product of 5977 × 5977 × 600 rows): long enough to send
# SIGTERM and look at the draining service while it runs, short enough to finish in the grace.
SLOW_SQL = (
    "SELECT count(*) AS n FROM main.order_lines a, main.order_lines b, main.orders c "
    "WHERE c.order_id <= 600"
)
ENDLESS_SQL = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"


def _post_query(service: Service, sql: str, query_id: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"sql": sql}
    if query_id:
        body["query_id"] = query_id
    return httpx.post(
        f"{service.url}/dap/api/v1/query",
        json=body,
        headers={"Authorization": f"Bearer {service.keys['tester']}"},
        timeout=120,
    )


def _start(pool: ThreadPoolExecutor, service: Service, sql: str, query_id: str) -> Future:
    """Send a query from another thread; return once the service says it is running."""
    reply = pool.submit(_post_query, service, sql, query_id)
    headers = {"Authorization": f"Bearer {service.keys['tester']}"}
    for _ in range(400):
        status = httpx.get(f"{service.url}/dap/api/v1/query/{query_id}", headers=headers)
        if status.status_code == 200 and status.json()["status"] == "running":
            return reply
        time.sleep(0.05)
    raise AssertionError(f"the query never ran: {status.text}")


def _process(service: Service) -> subprocess.Popen[bytes]:
    assert service.process is not None
    return service.process


def test_sigterm_drains_lets_the_running_query_finish_and_exits_0(
    demo_home: Path, tmp_path: Path
) -> None:
    with (
        served(demo_home, tmp_path, env={"DAP_SHUTDOWN_GRACE_S": "120"}) as service,
        ThreadPoolExecutor(2) as pool,
    ):
        lines = _post_query(service, "SELECT count(*) FROM main.order_lines").json()["rows"][0][0]
        orders = _post_query(
            service, "SELECT count(*) FROM main.orders WHERE order_id <= 600"
        ).json()["rows"][0][0]
        running = _start(pool, service, SLOW_SQL, "slow-0001")
        _process(service).send_signal(signal.SIGTERM)

        ready = httpx.get(f"{service.url}/dap/api/v1/health/ready")
        for _ in range(100):  # the signal lands within moments
            if ready.status_code == 503:
                break
            time.sleep(0.05)
            ready = httpx.get(f"{service.url}/dap/api/v1/health/ready")
        assert not running.done(), "the slow query ended before the drain could be seen"
        assert ready.status_code == 503, ready.text
        assert ready.json() == {"error": "shutting_down", "message": "the service is shutting down"}
        assert int(ready.headers["Retry-After"]) >= 1
        live = httpx.get(f"{service.url}/dap/api/v1/health/live")
        assert live.status_code == 200  # draining, not dead: no restart wanted
        refused = _post_query(service, "SELECT 1 AS x")
        assert refused.status_code == 503 and refused.json()["error"] == "shutting_down"
        assert "Retry-After" in refused.headers

        reply = running.result(timeout=120)
        assert reply.status_code == 200, reply.text
        assert reply.json()["rows"] == [[lines * lines * orders]]  # complete, not cut short
        assert _process(service).wait(timeout=120) == 0
        log = service.log.read_text()
        assert "Traceback" not in log


def test_past_the_grace_running_queries_are_cancelled_cleanly(
    demo_home: Path, tmp_path: Path
) -> None:
    with (
        served(demo_home, tmp_path, env={"DAP_SHUTDOWN_GRACE_S": "1"}) as service,
        ThreadPoolExecutor(1) as pool,
    ):
        running = _start(pool, service, ENDLESS_SQL, "endless-0001")
        _process(service).send_signal(signal.SIGTERM)
        reply = running.result(timeout=120)
        assert reply.status_code == 409, reply.text
        assert reply.json()["error"] == "query_cancelled"
        assert _process(service).wait(timeout=60) == 0
        log = service.log.read_text()
        assert "Traceback" not in log
        assert "grace period over: cancelled queries: 1" in log


def test_a_second_sigterm_cuts_the_grace_short(demo_home: Path, tmp_path: Path) -> None:
    with (
        served(demo_home, tmp_path, env={"DAP_SHUTDOWN_GRACE_S": "600"}) as service,
        ThreadPoolExecutor(1) as pool,
    ):
        running = _start(pool, service, ENDLESS_SQL, "endless-0002")
        process = _process(service)
        process.send_signal(signal.SIGTERM)
        for _ in range(100):  # draining: the first signal has landed
            if httpx.get(f"{service.url}/dap/api/v1/health/ready").status_code == 503:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        reply = running.result(timeout=120)  # long before the 600 s grace
        assert reply.status_code == 409 and reply.json()["error"] == "query_cancelled"
        assert process.wait(timeout=60) == 0
        assert "Traceback" not in service.log.read_text()
