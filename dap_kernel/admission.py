"""Fair share: how long a query may run, and when one user's query may take a worker.

DuckDB runs every user's queries in one process, on a few worker threads. Without rules, one
user's runaway queries hold every worker and everyone else waits for them to time out. Two
rules, written once here and asked by every door:

* **Timeout.** Every query has one (``DAP_QUERY_TIMEOUT``, 300 s by default); a caller may ask
  for less, never for more than the administrator's maximum (``DAP_MAX_QUERY_TIMEOUT``, by
  default the same as the default): :func:`effective_timeout`.
* **Workers.** One user never runs on every worker, and the last free worker is kept for a user
  who has nothing running (a short ``SELECT`` of someone else starts at once). Queries beyond a
  user's running share wait in that user's own queue; a freed worker goes to the waiting user
  with the fewest queries running (the oldest wait breaks ties), so queues are served round
  robin, not first come first served: :class:`FairShare` (the rule) and :class:`FairPool` (the
  thread pool that follows it, used by the REST service).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import DapError, ShuttingDown, TooManyQueries
from .settings import Settings

T = TypeVar("T")


def effective_timeout(requested: float | None, settings: Settings) -> float:
    """Seconds the query may run (0 = no limit): what the caller asked, capped by the maximum.

    A caller who names nothing (``None``, or 0 and less) gets the default; a caller may lower it
    but never raise it beyond the maximum, whatever door the query comes through.

    >>> from pathlib import Path
    >>> s = Settings(home=Path("/tmp/x"), query_timeout_s=300, max_query_timeout_s=600)
    >>> effective_timeout(None, s), effective_timeout(10, s), effective_timeout(9_999, s)
    (300.0, 10.0, 600.0)
    """
    ceiling = settings.max_query_timeout_s or settings.query_timeout_s
    limit = ceiling if ceiling > 0 else math.inf
    default = min(settings.query_timeout_s or math.inf, limit)
    chosen = default if requested is None or requested <= 0 else min(float(requested), limit)
    return 0.0 if math.isinf(chosen) else float(chosen)


@dataclass(frozen=True)
class FairShare:
    """The admission rule for ``workers`` query threads shared by every user.

    ``per_user`` is the most queries one user may have admitted at once (running and waiting;
    more are refused with :class:`TooManyQueries`, 0 = no such cap). ``reserve`` workers are
    kept for users with nothing running: a user's second (third, …) query starts only while more
    than ``reserve`` workers are free, so one user can never hold every worker. ``running``
    caps one user's running queries further (0 = one fewer than ``cpus``, when that is known):
    DuckDB already spreads one query over every core, so more of one user's queries at once
    add little for that user and take the CPU from everyone else.

    >>> share = FairShare(workers=4, per_user=8)
    >>> share.running_per_user, share.may_start(running=0, free=1), share.may_start(1, 1)
    (3, True, False)
    >>> FairShare(workers=4, per_user=8, cpus=2).running_per_user
    1
    """

    workers: int = 4
    per_user: int = 8
    reserve: int = 1
    running: int = 0
    cpus: int = 0

    def __post_init__(self) -> None:
        if self.reserve < 1:
            object.__setattr__(self, "reserve", 1)
        # Fewer workers than that would let one user's first query take the last one.
        if self.workers <= self.reserve:
            object.__setattr__(self, "workers", self.reserve + 1)

    @property
    def running_per_user(self) -> int:
        """Most queries of one user running at once: never every worker."""
        caps = [self.workers - self.reserve]
        if self.per_user > 0:
            caps.append(self.per_user)
        if self.running > 0:
            caps.append(self.running)
        elif self.cpus > 0:
            caps.append(max(1, self.cpus - 1))
        return min(caps)

    def may_admit(self, admitted: int) -> bool:
        """May a user who has ``admitted`` queries (running and waiting) send one more?"""
        return self.per_user <= 0 or admitted < self.per_user

    def may_start(self, running: int, free: int) -> bool:
        """May a user with ``running`` queries start one more while ``free`` workers are idle?"""
        if free <= 0 or running >= self.running_per_user:
            return False
        return running == 0 or free > self.reserve

    def refusal(self, user: str, admitted: int) -> TooManyQueries:
        return TooManyQueries(
            f"{user} already has {admitted} queries running or waiting (the limit is "
            f"{self.per_user}); wait for one to finish"
        )


@dataclass
class _Job(Generic[T]):
    seq: int
    user: str
    fn: Callable[[], T]
    future: Future[T]


class FairPool:
    """A thread pool that starts work only as :class:`FairShare` allows, one queue per user.

    ``submit`` raises :class:`TooManyQueries` at once when the user is at its limit; otherwise
    it returns a future that runs as soon as the rule lets the user have a worker. A draining
    pool (:meth:`drain`: the service is stopping) admits nothing new, and finishes what it had
    admitted unless :meth:`fail_waiting` gives up on the queued part.
    """

    def __init__(self, share: FairShare, *, thread_name_prefix: str = "dap-query") -> None:
        self.share = share
        self._executor = ThreadPoolExecutor(share.workers, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._busy = 0
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[_Job[Any]]] = {}
        self._closed = False
        self._draining = False

    def submit(self, user: str, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the query pool is shut down")
            if self._draining:
                raise ShuttingDown()
            admitted = self._running.get(user, 0) + len(self._waiting.get(user, ()))
            if not self.share.may_admit(admitted):
                raise self.share.refusal(user, admitted)
            self._waiting.setdefault(user, deque()).append(_Job(next(self._seq), user, fn, future))
            ready = self._pick()
        self._start(ready)
        return future

    def running(self, user: str) -> int:
        with self._lock:
            return self._running.get(user, 0)

    def waiting(self, user: str) -> int:
        with self._lock:
            return len(self._waiting.get(user, ()))

    def drain(self) -> None:
        """Admit nothing new (:class:`ShuttingDown`); what was admitted still runs."""
        with self._lock:
            self._draining = True

    def active(self) -> int:
        """Jobs admitted and not done (running or waiting)."""
        with self._lock:
            return self._busy + sum(len(queue) for queue in self._waiting.values())

    def fail_waiting(self, error: DapError) -> int:
        """Give up on the jobs still waiting for a worker: each one's caller gets ``error``."""
        with self._lock:
            waiting = [job for queue in self._waiting.values() for job in queue]
            self._waiting.clear()
        for job in waiting:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(error)
        return len(waiting)

    def _pick(self) -> list[_Job[Any]]:
        """Jobs that may start now (called under the lock): fewest running first, then oldest."""
        ready: list[_Job[Any]] = []
        while self._waiting:
            free = self.share.workers - self._busy
            if free <= 0:  # the common case under load: nothing to look at
                break
            # One pass, not a sort: with hundreds of users waiting, sorting them for every
            # submit and every finished job was ~70 µs each time.
            best: tuple[int, int] | None = None
            chosen = None
            for user, queue in self._waiting.items():
                running = self._running.get(user, 0)
                if self.share.may_start(running, free):
                    key = (running, queue[0].seq)
                    if best is None or key < best:
                        best, chosen = key, user
            if chosen is None:
                break
            queue = self._waiting[chosen]
            ready.append(queue.popleft())
            if not queue:
                del self._waiting[chosen]
            self._running[chosen] = self._running.get(chosen, 0) + 1
            self._busy += 1
        return ready

    def _start(self, jobs: list[_Job[Any]]) -> None:
        for job in jobs:
            try:
                self._executor.submit(self._run, job)
            except RuntimeError:  # shut down meanwhile: give the worker back, never run it
                job.future.cancel()
                self._run(job)

    def _run(self, job: _Job[Any]) -> None:
        try:
            if job.future.set_running_or_notify_cancel():
                try:
                    job.future.set_result(job.fn())
                except BaseException as e:  # handed to whoever waits on the future
                    job.future.set_exception(e)
        finally:
            with self._lock:
                left = self._running.get(job.user, 1) - 1
                if left > 0:
                    self._running[job.user] = left
                else:
                    self._running.pop(job.user, None)
                self._busy -= 1
                ready = [] if self._closed else self._pick()
            self._start(ready)

    def shutdown(self) -> None:
        """Stop starting work; waiting jobs are cancelled, running ones finish on their own."""
        with self._lock:
            self._closed = True
            waiting = [job for queue in self._waiting.values() for job in queue]
            self._waiting.clear()
        for job in waiting:
            job.future.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
