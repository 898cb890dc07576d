"""`dap serve --workers 2` as real processes: whichever worker answers, a caller's queries,
cached results and rate limit are the same ones, another user's query stays unknown, and a
killed worker is replaced.

A request is sent to a chosen worker by opening connections until one lands on it (the
`X-DAP-Worker` header says which answered) and keeping that connection.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import Service, served

pytestmark = pytest.mark.slow

API = "/dap/api/v1"
ENDLESS_SQL = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"
ROWS_SQL = "SELECT order_id FROM main.orders ORDER BY order_id LIMIT 7"


def _on_worker(service: Service, worker: str, user: str = "tester") -> httpx.Client:
    """A client whose one kept-alive connection is served by ``worker``."""
    headers = {"Authorization": f"Bearer {service.keys[user]}"}
    for _ in range(400):
        client = httpx.Client(
            base_url=service.url,
            headers=headers,
            timeout=120,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        if client.get(f"{API}/health").headers.get("X-DAP-Worker") == worker:
            return client
        client.close()
        time.sleep(0.01)
    raise AssertionError(f"no connection reached worker {worker}")


def _answered_by(reply: httpx.Response, worker: str) -> httpx.Response:
    assert reply.headers.get("X-DAP-Worker") == worker, "the connection moved to another worker"
    return reply


def _workers(service: Service) -> list[psutil.Process]:
    assert service.process is not None
    return psutil.Process(service.process.pid).children()


def _wait_for_both(service: Service) -> None:
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while seen != {"0", "1"}:
        assert time.monotonic() < deadline, f"only workers {seen} answer"
        try:
            with httpx.Client(base_url=service.url, timeout=5) as client:
                reply = client.get(f"{API}/health")
            seen.add(reply.headers.get("X-DAP-Worker", "?"))
        except httpx.TransportError:
            pass
        time.sleep(0.02)


@pytest.fixture(scope="module")
def two_workers(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("workers")
    with served(demo_home, folder, args=("--workers", "2")) as service:
        _wait_for_both(service)
        yield service


def test_each_worker_runs_on_a_core_of_its_own(two_workers: Service) -> None:
    """Threads handing the GIL to each other across cores cost a worker twice the CPU per
    cached request (bench/RESULTS.md); a worker's DuckDB gets as many threads as its cores."""
    from dap_server.workers import worker_cpus

    expected = sorted(sorted(cores or ()) for cores in worker_cpus(2, True))
    workers = _workers(two_workers)
    assert sorted(sorted(p.cpu_affinity()) for p in workers) == expected
    assert len(os.sched_getaffinity(0)) < 2 or expected[0] != expected[1]
    assert sorted(p.environ().get("DAP_THREADS") for p in workers) == sorted(
        str(len(cores)) for cores in expected
    )


def test_workers_split_the_cores_and_need_not_be_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    from dap_server.workers import Supervisor, worker_cpus

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4})
    assert worker_cpus(2, True) == [{0, 1, 2}, {3, 4}]
    assert worker_cpus(5, True) == [{0}, {1}, {2}, {3}, {4}]
    assert worker_cpus(6, True) == [{0}, {1}, {2}, {3}, {4}, {0}]
    assert worker_cpus(1, True) == [{0, 1, 2, 3, 4}]
    assert Supervisor(2, ["true"], pin=False).cpus == [None, None]


def test_a_query_run_on_one_worker_is_paged_on_the_other_and_unknown_to_other_users(
    two_workers: Service,
) -> None:
    w0, w1 = _on_worker(two_workers, "0"), _on_worker(two_workers, "1")
    raj0, raj1 = _on_worker(two_workers, "0", "raj"), _on_worker(two_workers, "1", "raj")
    with closing(w0), closing(w1), closing(raj0), closing(raj1):
        first = _answered_by(
            w0.post(
                f"{API}/query", json={"sql": ROWS_SQL, "query_id": "pages-001", "page_size": 3}
            ),
            "0",
        )
        assert first.status_code == 200, first.text
        assert first.json()["next_offset"] == 3
        rest = _answered_by(w1.get(f"{API}/query/pages-001", params={"offset": 3}), "1")
        assert rest.status_code == 200, rest.text
        body = rest.json()
        assert body["status"] == "finished" and body["row_count"] == 7
        whole = [r[0] for r in first.json()["rows"]] + [r[0] for r in body["rows"]]
        assert whole == sorted(whole) and len(set(whole)) == 4 + 3
        # The id is tester's: to raj it is unknown on either worker, like an id never used.
        for raj, worker in ((raj0, "0"), (raj1, "1")):
            refused = _answered_by(raj.get(f"{API}/query/pages-001"), worker)
            assert refused.status_code == 404 and refused.json()["error"] == "unknown_query"
            gone = _answered_by(raj.delete(f"{API}/query/pages-001"), worker)
            assert gone.status_code == 404
        # ...and the id stays tester's on the other worker too.
        again = _answered_by(
            w1.post(f"{API}/query", json={"sql": ROWS_SQL, "query_id": "pages-001"}), "1"
        )
        assert again.status_code == 409 and again.json()["error"] == "query_id_in_use"


def test_a_query_running_on_one_worker_is_cancelled_through_the_other(
    two_workers: Service,
) -> None:
    w0, w1 = _on_worker(two_workers, "0"), _on_worker(two_workers, "1")
    with closing(w0), closing(w1), ThreadPoolExecutor(1) as pool:
        reply = pool.submit(
            w0.post, f"{API}/query", json={"sql": ENDLESS_SQL, "query_id": "long-0001"}
        )
        for _ in range(600):
            status = _answered_by(w1.get(f"{API}/query/long-0001"), "1")
            if status.status_code == 200 and status.json()["status"] == "running":
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the query never ran: {status.text}")
        cancel = _answered_by(w1.delete(f"{API}/query/long-0001"), "1")
        assert cancel.status_code == 200 and cancel.json()["cancelled"] is True
        answer = reply.result(timeout=60)
        assert answer.status_code == 409 and answer.json()["error"] == "query_cancelled"
        after = _answered_by(w1.get(f"{API}/query/long-0001"), "1").json()
        assert after["status"] == "cancelled"


def test_a_result_cached_by_one_worker_answers_on_the_other(two_workers: Service) -> None:
    w0, w1 = _on_worker(two_workers, "0", "ann"), _on_worker(two_workers, "1", "ann")
    sql = "SELECT country, count(*) AS n FROM main.customers GROUP BY 1 ORDER BY 1"
    with closing(w0), closing(w1):
        made = _answered_by(w0.post(f"{API}/query", json={"sql": sql, "cache": True}), "0")
        assert made.status_code == 200 and made.json()["cached"] is False
        hit = _answered_by(w1.post(f"{API}/query", json={"sql": sql, "cache": True}), "1")
        assert hit.status_code == 200 and hit.json()["cached"] is True
        assert hit.json()["rows"] == made.json()["rows"]
    # raj (another region's filter) asks the same SQL: not ann's answer, on either worker.
    raj = _on_worker(two_workers, "1", "raj")
    with closing(raj):
        other = _answered_by(raj.post(f"{API}/query", json={"sql": sql, "cache": True}), "1")
        assert other.status_code == 200 and other.json()["cached"] is False
        assert other.json()["rows"] != made.json()["rows"]
    # What rests in the shared store is ciphertext: no column name, no value in the clear.
    with sqlite3.connect(two_workers.home / "meta.db") as db:
        blobs = [r[0] for r in db.execute("SELECT result FROM service_result_cache")]
        blobs += [r[0] for r in db.execute("SELECT result FROM service_queries") if r[0]]
    country = str(made.json()["rows"][0][0]).encode()
    assert blobs and not any(b"country" in b or country in b for b in blobs)


def _whoami_count(client: httpx.Client) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    reply = client.get("/dap/metrics")
    assert reply.status_code == 200, reply.text
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == "dap_http_requests_total" and sample.labels == {
                "route": "whoami",
                "method": "GET",
                "status": "200",
            }:
                return sample.value
    return 0.0


def test_metrics_are_the_services_whichever_worker_is_scraped(two_workers: Service) -> None:
    """A scrape sums every worker's counts: the same total through either worker (one
    worker's own counts would jump between scrapes, and rate() would read resets)."""
    w0, w1 = _on_worker(two_workers, "0"), _on_worker(two_workers, "1")
    with closing(w0), closing(w1):
        before = _whoami_count(w0)
        assert _whoami_count(w1) == before
        for client, times, worker in ((w0, 4, "0"), (w1, 6, "1")):
            for _ in range(times):
                assert _answered_by(client.get(f"{API}/whoami"), worker).status_code == 200
        assert _whoami_count(w0) == before + 10
        assert _whoami_count(w1) == before + 10
        running = w1.get("/dap/metrics").text.splitlines()
        assert "dap_queries_running 0.0" in running  # the workers' sum, no pid label
        assert not any(line.startswith("http_request_duration") for line in running)


def test_rate_limits_are_counted_across_workers(demo_home: Path, tmp_path: Path) -> None:
    # One request a minute, bursts of one: the second, on the other worker, is refused.
    env = {"DAP_RATE_LIMIT_PER_MIN": "1"}
    with served(demo_home, tmp_path, args=("--workers", "2"), env=env) as service:
        _wait_for_both(service)
        w0, w1 = _on_worker(service, "0", "ann"), _on_worker(service, "1", "ann")
        with closing(w0), closing(w1):
            assert _answered_by(w0.get(f"{API}/whoami"), "0").status_code == 200
            refused = _answered_by(w1.get(f"{API}/whoami"), "1")
            assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
            assert _answered_by(w0.get(f"{API}/whoami"), "0").status_code == 429
            # Another caller has a bucket of its own.
            raj = _on_worker(service, "1", "raj")
            with closing(raj):
                assert _answered_by(raj.get(f"{API}/whoami"), "1").status_code == 200


def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(
    demo_home: Path, tmp_path: Path
) -> None:
    with served(demo_home, tmp_path, args=("--workers", "2")) as service:
        _wait_for_both(service)
        before = _workers(service)
        assert len(before) == 2
        victim = before[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        deadline = time.monotonic() + 60
        while True:
            now = [p for p in _workers(service) if p.is_running()]
            if len(now) == 2 and victim.pid not in {p.pid for p in now}:
                break
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        _wait_for_both(service)  # the new one serves
        children = _workers(service)
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(60) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, "a worker outlived the service"
