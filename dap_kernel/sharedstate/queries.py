"""REST queries shared by the service's workers: their owner pages, polls and cancels them
through any worker.

A query is a row of ``service_queries`` under (owner, the owner's id for it). A query whose
caller named its id is written as ``running`` when it starts (the primary key refuses an id
the owner already used, on every worker at once), so another worker can report it running
and have it cancelled; an unnamed one (the id is made here and told only with the answer) is
written once, when it ends, and only if its answer did not carry every row: a result answered
whole is not held (:meth:`SharedQueries.release`), so no copy of its rows rests on the service
and the busiest path, a report's small cached answers, writes nothing. A finished result
rests encrypted (:mod:`.codec`) until ``ttl_s`` after it ended. Cancelling through another
worker sets ``cancel_requested``; the worker running the query looks for such requests
(:meth:`SharedQueries.cancel_requests`).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import cast

import pyarrow as pa
from cryptography.fernet import MultiFernet
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import DapError, QueryCancelled, QueryIdInUse, UnknownQuery
from ..meta import MetaStore
from ..results import QueryResult
from .codec import seal, unseal
from .rows import ServiceQueryRow

QUERIES = cast(Table, ServiceQueryRow.__table__)


class StoredError(DapError):
    """A query's error as another worker recorded it: its code and message, nothing more."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class QueryState:
    query_id: str  # as its owner named it
    owner: str
    # What the engine knows the query by: unique across users, so one user's id never reaches
    # (cancels, reports progress of) another user's query.
    engine_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)  # epoch: compared across processes
    status: str = "running"  # running | finished | failed | cancelled
    result: QueryResult | None = None
    truncated: bool = False
    error: DapError | None = None
    finished: float | None = None
    local: bool = True  # running in this process (its progress and cancel are at hand)
    stored: bool = False  # its row exists (written when it started)
    held: bool = True  # query/{id} knows it until it expires (False: answered whole, let go)


class GroupCommit:
    """One writer thread that runs the writes queued meanwhile in one transaction: a busy
    service commits once for many queries (each write still waits for its commit, so an answer
    never names a query another worker cannot find yet)."""

    def __init__(self, meta: MetaStore, max_batch: int = 64) -> None:
        self.meta = meta
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection], None], Future[None]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="dap-shared-writes", daemon=True)
        self._thread.start()

    def submit(self, op: Callable[[Connection], None]) -> Future[None]:
        """Queue ``op`` for a transaction with the others queued now; done once committed."""
        done: Future[None] = Future()
        self._queue.put((op, done))
        return done

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self.meta.connection() as con:
                    for op, _ in batch:
                        op(con)
            except Exception:  # one bad write must not fail the others: each on its own
                for op, done in batch:
                    try:
                        with self.meta.connection() as con:
                            op(con)
                        done.set_result(None)
                    except Exception as e:
                        done.set_exception(e)
                continue
            for _, done in batch:
                done.set_result(None)


class SharedQueries:
    """The registry of REST queries in the metadata database, for every worker alike."""

    def __init__(
        self,
        meta: MetaStore,
        cipher: MultiFernet,
        ttl_s: float = 900.0,
        max_result_bytes: int = 512 * 2**20,
    ) -> None:
        self.meta = meta
        self.cipher = cipher
        self.ttl_s = ttl_s
        self.max_result_bytes = max_result_bytes
        self._running: dict[tuple[str, str], QueryState] = {}  # this process's, by (owner, id)
        self._lock = threading.Lock()
        self._pruned = 0.0
        self._writes = GroupCommit(meta)

    def start(self, query_id: str, owner: str, *, named: bool) -> QueryState:
        """Register a query of ``owner``; only the owner's own ids can clash (409)."""
        state = QueryState(query_id, owner)
        with self._lock:
            if (owner, query_id) in self._running:
                raise QueryIdInUse(f"query id {query_id} is already in use: choose another")
            self._running[(owner, query_id)] = state
        if named:
            try:
                self._insert_running(state)
                state.stored = True
            except BaseException:
                with self._lock:
                    self._running.pop((owner, query_id), None)
                raise
        return state

    def _insert_running(self, state: QueryState) -> None:
        now = time.time()
        row = {
            "owner": state.owner,
            "query_id": state.query_id,
            "engine_id": state.engine_id,
            "status": "running",
            "started_at": state.started,
            "expires_at": now + self.ttl_s,
        }
        for attempt in (1, 2):
            try:
                with self.meta.connection() as con:
                    con.execute(insert(QUERIES), row)
                return
            except IntegrityError as e:
                # An id of theirs still held: in use, unless what holds it has expired.
                with self.meta.connection() as con:
                    gone = con.execute(
                        delete(QUERIES).where(
                            QUERIES.c.owner == state.owner,
                            QUERIES.c.query_id == state.query_id,
                            QUERIES.c.expires_at <= now,
                        )
                    ).rowcount
                if not gone or attempt == 2:
                    raise QueryIdInUse(
                        f"query id {state.query_id} is already in use: choose another"
                    ) from e

    def fail(
        self, state: QueryState, error: DapError, pending: list[Future[None]] | None = None
    ) -> None:
        """Record why a query did not finish (failed, cancelled, timed out). With ``pending``,
        the write's future goes there instead of being waited for (see :meth:`keep`)."""
        state.finished = time.time()
        state.status = "cancelled" if type(error) is QueryCancelled else "failed"
        state.error = error
        self._end(state, {"error_code": error.code, "error_message": error.message}, pending)

    def keep(
        self,
        state: QueryState,
        result: QueryResult,
        truncated: bool,
        pending: list[Future[None]] | None = None,
    ) -> None:
        """Hold a finished result for paging by its owner, through any worker. Waits for the
        commit, unless ``pending`` collects it: a batch waits once for all of its queries
        (:func:`wait_all`) before it answers."""
        state.finished = time.time()
        state.result, state.truncated, state.status = result, truncated, "finished"
        nbytes = int(result.table.nbytes)
        # Beyond the limit only the answer itself carries the rows: later pages are refused.
        sealed = seal(self.cipher, result.table) if nbytes <= self.max_result_bytes else None
        self._end(
            state,
            {
                "truncated": truncated,
                "cached": result.cached,
                "elapsed_ms": result.elapsed_ms,
                "tables": "\n".join(result.tables),
                "nbytes": nbytes,
                "result": sealed,
            },
            pending,
        )

    def release(self, state: QueryState, result: QueryResult, truncated: bool) -> None:
        """An unnamed query whose answer carries its whole result: nothing is left to page or
        poll, and its id was told to no one before, so nothing is written or held."""
        if state.stored:
            raise ValueError("a named query is held: keep it")
        state.finished = time.time()
        state.result, state.truncated, state.status = result, truncated, "finished"
        state.held = False
        with self._lock:
            self._running.pop((state.owner, state.query_id), None)

    def _end(
        self, state: QueryState, values: dict[str, object], pending: list[Future[None]] | None
    ) -> None:
        values = {
            **values,
            "status": state.status,
            "finished_at": state.finished,
            "expires_at": (state.finished or time.time()) + self.ttl_s,
        }
        key = (state.owner, state.query_id)

        def write(con: Connection) -> None:
            done = (
                state.stored
                and con.execute(
                    update(QUERIES)
                    .where(QUERIES.c.owner == state.owner, QUERIES.c.query_id == state.query_id)
                    .values(**values)
                ).rowcount
            )
            if not done:  # parameters, not .values(): building the statement cost more
                con.execute(
                    insert(QUERIES),
                    {
                        "owner": state.owner,
                        "query_id": state.query_id,
                        "engine_id": state.engine_id,
                        "started_at": state.started,
                        **values,
                    },
                )
            self._prune(con)

        def forget(_: Future[None]) -> None:  # found in the database from now on
            with self._lock:
                self._running.pop(key, None)

        done = self._writes.submit(write)
        done.add_done_callback(forget)
        if pending is None:
            done.result()
        else:
            pending.append(done)

    def _prune(self, con: Connection) -> None:
        """Drop what has expired, now and then (any worker's writes do it for all)."""
        now = time.time()
        if now - self._pruned < 5.0:
            return
        self._pruned = now
        con.execute(delete(QUERIES).where(QUERIES.c.expires_at <= now))

    def get(self, query_id: str, owner: str) -> QueryState:
        """Only the owner's namespace is searched: another user's query with the same id is as
        unknown as an id never used, so an id reveals nothing about anyone else's queries."""
        with self._lock:
            state = self._running.get((owner, query_id))
        if state is not None:
            return state
        with self.meta.connection() as con:
            row = con.execute(
                select(QUERIES).where(
                    QUERIES.c.owner == owner,
                    QUERIES.c.query_id == query_id,
                    QUERIES.c.expires_at > time.time(),
                )
            ).one_or_none()
        if row is None:
            raise UnknownQuery(f"no query {query_id} of yours is known to this server")
        state = QueryState(
            query_id,
            owner,
            engine_id=row.engine_id,
            started=row.started_at,
            status=row.status,
            truncated=bool(row.truncated),
            finished=row.finished_at,
            local=False,
        )
        if row.error_code is not None:
            state.error = StoredError(row.error_code, row.error_message or "")
        if row.status == "finished":
            table = unseal(self.cipher, row.result) if row.result is not None else None
            if table is None:
                raise UnknownQuery(f"the result of query {query_id} is no longer held")
            state.result = _result(table, row.engine_id, row)
        return state

    def request_cancel(self, state: QueryState) -> bool:
        """Ask the worker running ``state`` to cancel it; False when it is no longer running."""
        with self.meta.connection() as con:
            return bool(
                con.execute(
                    update(QUERIES)
                    .where(
                        QUERIES.c.owner == state.owner,
                        QUERIES.c.query_id == state.query_id,
                        QUERIES.c.status == "running",
                    )
                    .values(cancel_requested=True)
                ).rowcount
            )

    def running(self) -> list[QueryState]:
        """This process's running queries (what a stopping worker cancels)."""
        with self._lock:
            return list(self._running.values())

    def cancel_requests(self) -> list[str]:
        """Engine ids of this process's running queries that a caller cancelled elsewhere."""
        with self._lock:
            mine = {s.engine_id for s in self._running.values()}
        if not mine:
            return []
        with self.meta.connection() as con:
            rows = con.execute(
                select(QUERIES.c.engine_id).where(
                    QUERIES.c.engine_id.in_(mine),
                    QUERIES.c.cancel_requested.is_(True),
                    QUERIES.c.status == "running",
                )
            ).all()
        return [r.engine_id for r in rows]


def forget_results(meta: MetaStore) -> int:
    """Drop the rows of every finished REST query held for paging (an erasure: no copy of an
    erased subject's rows may stay readable); their status stays, their pages are gone."""
    with meta.connection() as con:
        return int(
            con.execute(
                update(QUERIES).where(QUERIES.c.result.is_not(None)).values(result=None)
            ).rowcount
        )


def wait_all(pending: list[Future[None]]) -> None:
    """Wait for the writes :meth:`SharedQueries.keep` left pending; raise the first error."""
    for done in pending:
        done.result()


def _result(table: pa.Table, engine_id: str, row: object) -> QueryResult:
    return QueryResult(
        table,
        engine_id,
        float(getattr(row, "elapsed_ms", 0.0) or 0.0),
        tuple(t for t in str(getattr(row, "tables", "")).split("\n") if t),
        "",
        cached=bool(getattr(row, "cached", False)),
    )
