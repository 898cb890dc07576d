"""Server-side state shared by all requests: thread pools, per-user limits, running queries.

Queries run on their own pool so a long one never blocks the event loop or metadata reads. That
pool shares its workers fairly (:mod:`dap_kernel.admission`): one user never holds every worker,
and a user with nothing running always finds one free. Query ids live in a namespace per user:
another user's id is unknown to you, and you may reuse it for your own query.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

from dap_kernel.admission import FairPool, FairShare, effective_timeout
from dap_kernel.errors import DapError, QueryCancelled, QueryIdInUse, UnknownQuery
from dap_kernel.ratelimit import Rate, RateLimiter
from dap_kernel.session import QueryResult
from dap_kernel.settings import Settings

from .metrics import Metrics
from .scheduling import ServiceScheduler

CANCELLED_AT_SHUTDOWN = "the service is shutting down: the query was cancelled"


@dataclass
class QueryState:
    query_id: str  # as its owner named it
    owner: str
    # What the engine knows the query by: unique across users, so one user's id never reaches
    # (cancels, reports progress of) another user's query.
    engine_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.monotonic)
    status: str = "running"  # running | finished | failed | cancelled
    result: QueryResult | None = None
    truncated: bool = False
    error: DapError | None = None
    finished: float | None = None


class QueryRegistry:
    """Running and recent queries, so their owner can page, poll and cancel them.

    Finished results are kept for paging, bounded by count and bytes (oldest dropped first).
    """

    def __init__(self, max_entries: int = 1000, max_bytes: int = 512 * 2**20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[str, str], QueryState] = OrderedDict()  # (owner, id)
        self._bytes = 0  # of the results held
        self._lock = threading.Lock()

    def start(self, query_id: str, owner: str) -> QueryState:
        """Register a query under its owner's name; only the owner's own ids can clash."""
        with self._lock:
            if (owner, query_id) in self._states:
                raise QueryIdInUse(f"query id {query_id} is already in use: choose another")
            state = QueryState(query_id, owner)
            self._states[(owner, query_id)] = state
            return state

    def fail(self, state: QueryState, error: DapError) -> None:
        """Record why a query did not finish (failed, cancelled, timed out)."""
        state.finished = time.monotonic()
        state.status = "cancelled" if type(error) is QueryCancelled else "failed"
        state.error = error
        with self._lock:
            self._trim()

    def keep(self, state: QueryState, result: QueryResult, truncated: bool) -> None:
        """Hold a finished result for paging (the oldest results make room)."""
        state.finished = time.monotonic()
        with self._lock:
            state.result, state.truncated, state.status = result, truncated, "finished"
            self._bytes += result.table.nbytes
            self._trim()

    def get(self, query_id: str, owner: str) -> QueryState:
        """Only the owner's namespace is searched: another user's query with the same id is as
        unknown as an id never used, so an id reveals nothing about anyone else's queries."""
        with self._lock:
            state = self._states.get((owner, query_id))
        if state is None:
            raise UnknownQuery(f"no query {query_id} of yours is known to this server")
        return state

    def running(self) -> list[QueryState]:
        with self._lock:
            return [s for s in self._states.values() if s.status == "running"]

    def _trim(self) -> None:
        if len(self._states) <= self.max_entries and self._bytes <= self.max_bytes:
            return
        # Oldest first; a look at the first few suffices (running ones are skipped, not dropped).
        for key in list(islice(self._states, 64)):
            if len(self._states) <= self.max_entries and self._bytes <= self.max_bytes:
                return
            state = self._states[key]
            if state.status == "running":
                continue
            if state.result is not None:
                self._bytes -= state.result.table.nbytes
            del self._states[key]


class Runtime:
    """Created once by the extension; endpoints reach it through ``Call.runtime``."""

    def __init__(
        self,
        *,
        query_workers: int,
        light_workers: int,
        per_user_queries: int,
        max_rows: int,
        result_store_mb: float,
        metrics: Metrics,
        settings: Settings | None = None,
        reserved_query_workers: int = 1,
        user_running_queries: int = 0,
    ) -> None:
        self.share = FairShare(
            workers=query_workers,
            per_user=per_user_queries,
            reserve=reserved_query_workers,
            running=user_running_queries,
            cpus=os.cpu_count() or 0,
        )
        self.query_pool = FairPool(self.share, thread_name_prefix="dap-query")
        self.light_pool = ThreadPoolExecutor(light_workers, thread_name_prefix="dap-api")
        self.queries = QueryRegistry(max_bytes=int(result_store_mb * 2**20))
        self.max_rows = max_rows
        self.metrics = metrics
        self.settings = settings or Settings.from_env()
        self.started = time.time()
        self.scheduler: ServiceScheduler | None = None  # set by the extension once it listens
        # Per process (issue 17 moves it to a shared store): see dap_kernel.ratelimit.
        self.limiter = RateLimiter(Rate(self.settings.rate_limit_per_min))
        self.draining = False  # stopping: readiness 503, no new query admitted
        self.inflight = 0  # identified requests being served (touched on the event loop only)
        self._grace_cut = False

    def timeout(self, requested: float | None) -> float:
        """The seconds a REST query may run: the caller's wish, capped by the server's maximum."""
        return effective_timeout(requested, self.settings)

    def wake_scheduler(self) -> None:
        """A run was queued: let this server's scheduler start it now, not at its next tick."""
        if self.scheduler is not None:
            self.scheduler.wake()

    def begin_drain(self) -> None:
        """Refuse new queries and fail readiness from now on (a load balancer stops sending)."""
        self.draining = True
        self.query_pool.drain()

    def cut_grace(self) -> None:
        """A second stop signal: cancel what runs now rather than at the end of the grace."""
        self._grace_cut = True

    def busy(self) -> bool:
        return self.inflight > 0 or self.query_pool.active() > 0

    async def drain(self, grace_s: float, cancel: Callable[[str], object]) -> int:
        """Let admitted work finish for up to ``grace_s`` seconds, then cancel the queries still
        running (``cancel(engine_id)``; their callers get QueryCancelled) and fail those still
        waiting for a worker. Runs on the event loop, which goes on serving the answers.
        Returns how many queries were cancelled."""
        self.begin_drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.busy() and loop.time() < deadline and not self._grace_cut:
            await asyncio.sleep(0.05)
        cancelled = 0
        if self.busy():
            cancelled = self.query_pool.fail_waiting(QueryCancelled(CANCELLED_AT_SHUTDOWN))
            for state in self.queries.running():
                cancel(state.engine_id)
                cancelled += 1
            deadline = loop.time() + 10  # an interrupted query stops within moments
            while self.busy() and loop.time() < deadline:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # the last answers leave before the loop stops
        return cancelled

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.query_pool.shutdown()
        self.light_pool.shutdown(wait=False, cancel_futures=True)
