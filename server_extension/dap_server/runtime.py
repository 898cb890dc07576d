"""Server-side state shared by all requests: thread pools, per-user limits, running queries.

Queries run on their own pool so a long one never blocks the event loop or metadata reads; each
user may have only so many queries at once, so one user cannot take every worker.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

from dap_kernel.errors import (
    DapError,
    QueryCancelled,
    QueryIdInUse,
    TooManyQueries,
    UnknownQuery,
)
from dap_kernel.session import QueryResult

from .metrics import Metrics


@dataclass
class QueryState:
    query_id: str
    owner: str
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
        self._states: OrderedDict[str, QueryState] = OrderedDict()
        self._bytes = 0  # of the results held
        self._lock = threading.Lock()

    def start(self, query_id: str, owner: str) -> QueryState:
        with self._lock:
            if query_id in self._states:
                raise QueryIdInUse(f"query id {query_id} is already in use: choose another")
            state = QueryState(query_id, owner)
            self._states[query_id] = state
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

    def get(self, query_id: str, owner: str, *, manager: bool = False) -> QueryState:
        """Another user's query is reported as unknown: its id must not reveal that it exists."""
        with self._lock:
            state = self._states.get(query_id)
        if state is None or (state.owner != owner and not manager):
            raise UnknownQuery(f"no query {query_id} of yours is known to this server")
        return state

    def _trim(self) -> None:
        if len(self._states) <= self.max_entries and self._bytes <= self.max_bytes:
            return
        # Oldest first; a look at the first few suffices (running ones are skipped, not dropped).
        for query_id in list(islice(self._states, 64)):
            if len(self._states) <= self.max_entries and self._bytes <= self.max_bytes:
                return
            state = self._states[query_id]
            if state.status == "running":
                continue
            if state.result is not None:
                self._bytes -= state.result.table.nbytes
            del self._states[query_id]


class UserLimiter:
    """At most ``limit`` queries at once per user; the next one is refused with 429."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, user: str) -> None:
        with self._lock:
            count = self._counts.get(user, 0)
            if self.limit > 0 and count >= self.limit:
                raise TooManyQueries(
                    f"{user} already has {count} queries running (the limit is {self.limit}); "
                    "wait for one to finish"
                )
            self._counts[user] = count + 1

    def release(self, user: str) -> None:
        with self._lock:
            count = self._counts.get(user, 1) - 1
            if count <= 0:
                self._counts.pop(user, None)
            else:
                self._counts[user] = count


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
    ) -> None:
        self.query_pool = ThreadPoolExecutor(query_workers, thread_name_prefix="dap-query")
        self.light_pool = ThreadPoolExecutor(light_workers, thread_name_prefix="dap-api")
        self.limiter = UserLimiter(per_user_queries)
        self.queries = QueryRegistry(max_bytes=int(result_store_mb * 2**20))
        self.max_rows = max_rows
        self.metrics = metrics
        self.started = time.time()

    def close(self) -> None:
        self.query_pool.shutdown(wait=False, cancel_futures=True)
        self.light_pool.shutdown(wait=False, cancel_futures=True)
