"""Fair share rules: a default, capped query timeout, and a query pool one user cannot fill."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from dap_kernel.admission import FairPool, FairShare, effective_timeout
from dap_kernel.errors import TooManyQueries
from dap_kernel.settings import Settings

WAIT_S = 10  # generous: only reached when a rule is broken


def _settings(default: float, maximum: float = 0.0) -> Settings:
    return Settings(
        home=Path("/tmp/dap-admission"), query_timeout_s=default, max_query_timeout_s=maximum
    )


@pytest.mark.parametrize(
    ("default", "maximum", "asked", "expected"),
    [
        (300, 0, None, 300),  # nothing asked: the default
        (300, 0, 0, 300),  # 0 or less is "nothing asked", never "no limit"
        (300, 0, -5, 300),
        (300, 0, 10, 10),  # a caller may lower it
        (300, 0, 86_400, 300),  # but not raise it: without a maximum the default is the cap
        (300, 600, 450, 450),  # up to the maximum
        (300, 600, 10_000, 600),
        (900, 600, None, 600),  # a default above the maximum is cut to it
        (0, 600, None, 600),  # no default, yet a maximum: every query has one
        (0, 0, None, 0),  # the administrator turned timeouts off
        (0, 0, 5, 5),
    ],
)
def test_effective_timeout_is_lowered_never_raised(
    default: float, maximum: float, asked: float | None, expected: float
) -> None:
    assert effective_timeout(asked, _settings(default, maximum)) == expected


def test_timeout_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()
    assert (settings.query_timeout_s, settings.max_query_timeout_s) == (300, 0)
    monkeypatch.setenv("DAP_QUERY_TIMEOUT", "60")
    monkeypatch.setenv("DAP_MAX_QUERY_TIMEOUT", "120")
    settings = Settings.from_env()
    assert effective_timeout(None, settings) == 60
    assert effective_timeout(1_000, settings) == 120


@pytest.mark.parametrize("workers", range(1, 9))
@pytest.mark.parametrize("per_user", [0, 1, 2, 4, 8, 100])
@pytest.mark.parametrize("cpus", [0, 1, 2, 16])
def test_one_user_never_runs_on_every_worker(workers: int, per_user: int, cpus: int) -> None:
    share = FairShare(workers=workers, per_user=per_user, cpus=cpus)
    assert 1 <= share.running_per_user < share.workers
    # Whatever one user runs, a user with nothing running may start while any worker is free.
    assert share.may_start(running=0, free=1)
    assert not share.may_start(running=share.running_per_user, free=share.workers)


def test_a_user_running_leaves_the_reserved_worker_to_others() -> None:
    share = FairShare(workers=4, per_user=8, reserve=1)
    assert share.may_start(running=1, free=2)
    assert not share.may_start(running=1, free=1)  # the last one is for someone idle
    assert FairShare(workers=4, per_user=8, cpus=2).running_per_user == 1
    assert FairShare(workers=8, per_user=8, running=2, cpus=16).running_per_user == 2


class Gate:
    """Jobs that block until released, and record the order they started in."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._events: dict[str, threading.Event] = {}

    def job(self, name: str) -> Callable[[], str]:
        self._events[name] = threading.Event()

        def run() -> str:
            with self._lock:
                self.started.append(name)
            self._events[name].set()
            assert self._release.wait(WAIT_S)
            return name

        return run

    def wait_started(self, name: str) -> None:
        assert self._events[name].wait(WAIT_S), f"{name} never started"

    def release(self) -> None:
        self._release.set()


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.release()


def test_a_second_user_starts_while_the_first_is_at_its_limit(gate: Gate) -> None:
    pool = FairPool(FairShare(workers=4, per_user=8, cpus=16))  # ann may run 3 at once
    try:
        ann = [pool.submit("ann", gate.job(f"ann{i}")) for i in range(5)]
        for i in range(3):
            gate.wait_started(f"ann{i}")
        assert (pool.running("ann"), pool.waiting("ann")) == (3, 2)
        raj = pool.submit("raj", gate.job("raj"))
        gate.wait_started("raj")  # at once, on the worker kept free for him
        assert not any(f.done() for f in ann)
        gate.release()
        assert raj.result(WAIT_S) == "raj"
        assert sorted(f.result(WAIT_S) for f in ann) == [f"ann{i}" for i in range(5)]
    finally:
        pool.shutdown()


def test_more_than_the_user_limit_is_refused_at_once(gate: Gate) -> None:
    pool = FairPool(FairShare(workers=2, per_user=2))
    try:
        first = pool.submit("ann", gate.job("a"))
        pool.submit("ann", gate.job("b"))  # waits in ann's queue
        with pytest.raises(TooManyQueries, match="the limit is 2"):
            pool.submit("ann", gate.job("c"))
        other = pool.submit("raj", gate.job("r"))
        gate.wait_started("r")
        gate.release()
        assert first.result(WAIT_S) == "a" and other.result(WAIT_S) == "r"
        pool.submit("ann", lambda: "again").result(WAIT_S)  # slots come back
    finally:
        pool.shutdown()


def test_a_freed_worker_goes_to_the_user_with_fewest_running() -> None:
    """ann floods first; raj and eve, who arrive later, are served before ann's backlog."""
    release = {name: threading.Event() for name in ("ann0", "ann1", "raj", "eve")}
    started: list[str] = []
    lock = threading.Lock()

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            with lock:
                started.append(name)
            if name in release:
                assert release[name].wait(WAIT_S)

        return run

    pool = FairPool(FairShare(workers=3, per_user=8, cpus=16))  # ann runs at most 2
    try:
        futures: list[Future[None]] = [pool.submit("ann", job(f"ann{i}")) for i in range(4)]
        futures.append(pool.submit("raj", job("raj")))  # takes the reserved worker
        futures.append(pool.submit("eve", job("eve")))  # waits: nothing free
        release["ann0"].set()  # a worker frees: eve (nothing running) goes before ann2
        release["raj"].set()
        release["eve"].set()
        release["ann1"].set()
        for future in futures:
            future.result(WAIT_S)
        assert started.index("eve") < started.index("ann2")
    finally:
        pool.shutdown()


def test_shutdown_cancels_what_waits(gate: Gate) -> None:
    pool = FairPool(FairShare(workers=2, per_user=8))
    running = pool.submit("ann", gate.job("a"))
    waiting = pool.submit("ann", gate.job("b"))
    gate.wait_started("a")
    pool.shutdown()
    assert waiting.cancelled()
    gate.release()
    assert running.result(WAIT_S) == "a"


def test_a_draining_pool_admits_nothing_and_fails_the_queued() -> None:
    import threading

    from dap_kernel.admission import FairPool, FairShare
    from dap_kernel.errors import QueryCancelled, ShuttingDown

    pool = FairPool(FairShare(workers=2, per_user=8, reserve=1))
    release = threading.Event()
    running = pool.submit("ann", release.wait)
    queued = pool.submit("ann", lambda: "never")  # ann's share is one running query
    assert pool.active() == 2
    pool.drain()
    with pytest.raises(ShuttingDown):
        pool.submit("raj", lambda: 1)
    assert pool.fail_waiting(QueryCancelled("shutting down")) == 1
    with pytest.raises(QueryCancelled):
        queued.result(timeout=5)
    release.set()
    assert running.result(timeout=5) is True  # admitted before the drain: it finishes
    pool.shutdown()
    assert pool.active() == 0
