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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from dap_kernel.admission import FairPool, FairShare, effective_timeout
from dap_kernel.errors import QueryCancelled
from dap_kernel.ratelimit import Rate, RateLimiter
from dap_kernel.settings import Settings
from dap_kernel.sharedstate.buckets import SharedBuckets
from dap_kernel.sharedstate.queries import QueryState, SharedQueries

from .metrics import Metrics
from .scheduling import ServiceScheduler

if TYPE_CHECKING:
    from dap_kernel.session import Workspace

__all__ = ["CANCELLED_AT_SHUTDOWN", "QueryState", "Runtime"]

CANCELLED_AT_SHUTDOWN = "the service is shutting down: the query was cancelled"


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
        self.result_ttl_s = 900.0
        self.result_store_bytes = int(result_store_mb * 2**20)
        self._queries: SharedQueries | None = None
        self._queries_lock = threading.Lock()
        self._workspace: Callable[[], Workspace] | None = None
        self.max_rows = max_rows
        self.metrics = metrics
        self.settings = settings or Settings.from_env()
        self.started = time.time()
        self.scheduler: ServiceScheduler | None = None  # set by the extension once it listens
        # Shared by the service's workers through the metadata database: see ratelimit.
        self.limiter = RateLimiter(
            Rate(self.settings.rate_limit_per_min),
            shared=SharedBuckets(lambda: self.open_workspace().meta),
        )
        self.draining = False  # stopping: readiness 503, no new query admitted
        self.inflight = 0  # identified requests being served (touched on the event loop only)
        self._grace_cut = False

    def attach(self, open_workspace: Callable[[], Workspace]) -> None:
        """How to reach the workspace (opened on first use) whose database holds what the
        workers share."""
        self._workspace = open_workspace

    def open_workspace(self) -> Workspace:
        assert self._workspace is not None, "Runtime.attach first"
        return self._workspace()

    @property
    def queries(self) -> SharedQueries:
        """The REST queries of every worker of this service (opens the workspace).

        Made once, under a lock: the first requests arrive together, and a second registry
        would hold this process's running queries where a cancel or the drain never looks."""
        with self._queries_lock:
            if self._queries is None:
                ws = self.open_workspace()
                self._queries = SharedQueries(
                    ws.meta,
                    ws.secrets.cipher(),
                    ttl_s=self.result_ttl_s,
                    max_result_bytes=self.result_store_bytes,
                )
            return self._queries

    def running_here(self) -> list[QueryState]:
        """Queries running in this process (none when no workspace was ever opened)."""
        return self._queries.running() if self._queries is not None else []

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
            for state in self.running_here():
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
