"""The embedded default engine: DuckDB, locked down so SQL cannot reach files on its own.

DuckDB 2.0 with only its built-in extensions (parquet, json, icu, core_functions) is enough:
Delta tables are read as the Parquet files of their current snapshot (the lake hands us the
file list), so neither the ``delta`` extension nor any downloadable extension is loaded. Fewer
extensions also means fewer ways out of the sandbox: no scanners, no ``httpfs``.

The lockdown order matters: first ``allowed_directories``/``allowed_paths`` (the lake and the
registered external files), then ``enable_external_access=false``, then
``lock_configuration=true`` so no later ``SET`` can undo it. Registering a new external file
outside the allowed set reopens the database with the wider set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import duckdb
import pyarrow as pa

from ..engine_errors import engine_error
from ..errors import QueryCancelled, QueryFailed
from .base import (
    CANCEL,
    CLICKHOUSE_KIND,
    PARAMS,
    PROGRESS,
    STREAM,
    Binding,
    Engine,
    Params,
    only_on_clickhouse,
)
from .cancels import EarlyCancels
from .names import RelationNames, quote_ident


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@functools.lru_cache(maxsize=4096)
def _allowed_root(kind: str, path: str) -> tuple[str, str] | None:
    """(setting, path) that must be allowed for the engine to scan a source's files.

    Cached: it touches the file system, and binding runs on every query.
    """
    if kind in ("parquet", "csv", "json"):
        if any(ch in path for ch in "*?[") or Path(path).is_dir():
            base = Path(path.split("*")[0].split("?")[0].split("[")[0])
            base = base if base.is_dir() else base.parent
            return ("dir", str(base.resolve()) + "/")
        return ("file", str(Path(path).resolve()))
    return None


# Queries at once that report their progress (one cursor each, made at connect).
PROGRESS_CURSORS = 8


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"
    capabilities = frozenset({CANCEL, PROGRESS, STREAM, PARAMS})

    def __init__(
        self,
        lake_dir: Path,
        threads: int = 0,
        memory_limit: str = "",
    ) -> None:
        self.lake_dir = lake_dir
        self.threads = threads
        self.memory_limit = memory_limit
        self._allowed_dirs: set[str] = {str(lake_dir.resolve()) + "/"}
        self._allowed_files: set[str] = set()
        self._lock = threading.RLock()
        # Raw relations live under schemas no user can name; only secured sources reach them.
        self.names = RelationNames()
        self._views: dict[str, str] = {}
        self._materialized: set[str] = set()
        self._running: dict[str, duckdb.DuckDBPyConnection] = {}
        # Cursors that report progress (see _connect), free for the next query; and those a
        # cancel may still interrupt, which are never handed to another query.
        self._progress_cursors: list[duckdb.DuckDBPyConnection] = []
        self._interrupted: set[int] = set()
        # Cancels that arrived before their query started (a REST DELETE racing the POST).
        self._early_cancels = EarlyCancels()
        self._con = self._connect()

    # -- connection and lockdown ------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection:
        self.lake_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(":memory:")
        if self.threads:
            con.execute(f"SET threads={int(self.threads)}")
        if self.memory_limit:
            con.execute(f"SET memory_limit={quote_literal(self.memory_limit)}")
        dirs = ", ".join(quote_literal(d) for d in sorted(self._allowed_dirs))
        con.execute(f"SET allowed_directories=[{dirs}]")
        if self._allowed_files:
            files = ", ".join(quote_literal(f) for f in sorted(self._allowed_files))
            con.execute(f"SET allowed_paths=[{files}]")
        con.execute("SET autoinstall_known_extensions=false")
        con.execute("SET autoload_known_extensions=false")
        con.execute("SET enable_external_access=false")
        # Progress is a setting of each cursor (DuckDB does not share it between cursors), and
        # after the lock below no cursor may change a setting: the cursors that report progress
        # are made now. Queries beyond them run on plain cursors, without progress.
        self._progress_cursors = [_progress_cursor(con) for _ in range(PROGRESS_CURSORS)]
        con.execute("SET enable_progress_bar_print=false")  # DAP's own bars; no text on stdout
        con.execute("SET lock_configuration=true")
        return con

    def _allow(self, bindings: Sequence[Binding]) -> None:
        widened = False
        for binding in bindings:
            root = _allowed_root(binding.kind, binding.location)
            if root is None:
                continue
            kind, path = root
            if kind == "dir" and path not in self._allowed_dirs:
                self._allowed_dirs.add(path)
                widened = True
            elif (
                kind == "file"
                and path not in self._allowed_files
                and not any(path.startswith(d) for d in self._allowed_dirs)
            ):
                self._allowed_files.add(path)
                widened = True
        if widened:
            self._reconnect(self._con)

    def _reconnect(self, failed: duckdb.DuckDBPyConnection) -> None:
        """A new locked-down connection in place of ``failed`` (if no one replaced it yet);
        every relation is bound again on its next use."""
        with self._lock:
            if self._con is not failed:
                return
            self._close_idle_cursors()
            self._con = self._connect()
            self._views.clear()
            self._materialized.clear()
            # An invalidated database may refuse even to close: it is dropped anyway.
            with contextlib.suppress(duckdb.Error):
                failed.close()

    def _fatal(self, failed: duckdb.DuckDBPyConnection, error: duckdb.Error) -> QueryFailed:
        """DuckDB marks its database invalid after an internal error, and every later
        statement on it fails: reconnect, so one bad statement does not stop the service."""
        self._reconnect(failed)
        return QueryFailed(
            "the engine hit an internal error and was restarted; run the statement again "
            f"({self.names.scrub(_first_line(error))})"
        )

    # -- views over catalog tables -----------------------------------------------------------

    def bind(self, bindings: Sequence[Binding]) -> None:
        with self._lock:
            self._allow(bindings)
            con = self._con
            try:
                for binding in bindings:
                    if self._views.get(binding.qualified_name) == binding.signature:
                        continue
                    self._create_view(binding)
                    self._views[binding.qualified_name] = binding.signature
            except duckdb.FatalException as e:
                raise self._fatal(con, e) from e
            except duckdb.Error as e:  # CREATE SCHEMA, the Arrow copy: one line, never raw
                raise engine_error(self.names.scrub(_first_line(e))) from e

    def relation(self, schema: str, name: str) -> str:
        """The engine's own (quoted) name of a bound relation, for SQL written by DAP itself."""
        return f"{quote_ident(self.names.schema(schema))}.{quote_ident(name)}"

    def _create_view(self, b: Binding) -> None:
        target = self.relation(b.schema, b.name)
        self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.names.schema(b.schema))}")
        was_table = b.qualified_name in self._materialized
        if b.arrow is not None:
            # Registered Arrow data is private to one connection and queries run on cursors:
            # copy it into a table every cursor sees.
            if b.qualified_name in self._views and not was_table:
                self._con.execute(f"DROP VIEW IF EXISTS {target}")
            registered = f"__dap_arrow_{uuid.uuid4().hex}"
            self._con.register(registered, b.arrow)
            try:
                self._con.execute(
                    f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {quote_ident(registered)}"
                )
            finally:
                self._con.unregister(registered)
            self._materialized.add(b.qualified_name)
            return
        if was_table:
            self._con.execute(f"DROP TABLE IF EXISTS {target}")
            self._materialized.discard(b.qualified_name)
        if b.kind == "delta":
            files = ", ".join(quote_literal(f) for f in b.files)
            hive = ", hive_partitioning=true" if b.options.get("partition_columns") else ""
            # By name: after schema evolution old files lack the new columns (read as null).
            source = f"read_parquet([{files}], union_by_name=true{hive})"
        elif b.kind == "parquet":
            source = f"read_parquet({quote_literal(b.location)})"
        elif b.kind == "csv":
            opts = "".join(f", {k}={quote_literal(str(v))}" for k, v in sorted(b.options.items()))
            source = f"read_csv({quote_literal(b.location)}{opts})"
        elif b.kind == "json":
            source = f"read_json_auto({quote_literal(b.location)})"
        elif b.kind == CLICKHOUSE_KIND:
            raise only_on_clickhouse(b.schema, b.name)
        else:
            raise QueryFailed(f"the DuckDB engine cannot read {b.kind!r} tables")
        try:
            self._con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM {source}")
        except duckdb.Error as e:
            # Views bind lazily: a broken source surfaces here or at the first query.
            raise engine_error(self.names.scrub(_first_line(e))) from e

    # -- running queries -------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        params: Params = None,
        *,
        query_id: str | None = None,
        limit: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> pa.Table:
        with self._lock:
            con = self._con
            pooled = bool(query_id and self._progress_cursors)
            cursor = self._progress_cursors.pop() if pooled else con.cursor()
            if query_id:
                if self._early_cancels.take(query_id):
                    cursor.close()
                    raise QueryCancelled("the query was cancelled")
                self._running[query_id] = cursor

        def run() -> pa.Table:
            # ``sql()`` (a relation) streams Arrow without the extra copy a DB-API result makes.
            relation = cursor.sql(sql, params=params) if params else cursor.sql(sql)
            if relation is None:  # a statement without a result set
                return pa.table({})
            if limit is None and on_batch is None:
                return relation.to_arrow_table()
            return _fetch(relation, limit, on_batch)

        try:
            # Only the main thread receives Ctrl-C (SIGINT): a notebook's `dap.sql` waits where
            # it can land. Elsewhere (the service's query threads, cancelled through
            # ``cancel``) the query runs on the calling thread, without a thread per query.
            if threading.current_thread() is threading.main_thread():
                return _interruptible(run, cursor.interrupt)
            return run()
        except duckdb.InterruptException as e:
            raise QueryCancelled("the query was cancelled") from e
        except duckdb.FatalException as e:
            raise self._fatal(con, e) from e
        except duckdb.Error as e:
            raise engine_error(self.names.scrub(_first_line(e))) from e
        finally:
            self._release(con, cursor, query_id, pooled)

    def _release(
        self,
        con: duckdb.DuckDBPyConnection,
        cursor: duckdb.DuckDBPyConnection,
        query_id: str | None,
        pooled: bool,
    ) -> None:
        """A progress cursor goes back for the next query unless a cancel may still interrupt
        it or its connection was replaced; every other cursor is closed."""
        with self._lock:
            if query_id:
                self._running.pop(query_id, None)
            interrupted = id(cursor) in self._interrupted
            self._interrupted.discard(id(cursor))
            if pooled and not interrupted and con is self._con:
                self._progress_cursors.append(cursor)
                return
        with contextlib.suppress(duckdb.Error):  # the cursor of an invalidated database
            cursor.close()

    def unbind(self, binding: Binding) -> None:
        """Drop a temporary view (used when profiling a source before registering it)."""
        with self._lock:
            target = self.relation(binding.schema, binding.name)
            kind = "TABLE" if binding.qualified_name in self._materialized else "VIEW"
            self._con.execute(f"DROP {kind} IF EXISTS {target}")
            self._materialized.discard(binding.qualified_name)
            self._views.pop(binding.qualified_name, None)

    def cancel(self, query_id: str) -> bool:
        """Interrupt until the query is gone: an interrupt that lands before DuckDB has started
        executing is a no-op, so one call alone could be lost."""
        with self._lock:
            cursor = self._running.get(query_id)
            if cursor is None:
                self._early_cancels.note(query_id)
                return False
            self._interrupted.add(id(cursor))

        def keep_interrupting() -> None:
            deadline = time.monotonic() + 30
            while self._running.get(query_id) is cursor and time.monotonic() < deadline:
                cursor.interrupt()
                time.sleep(0.02)

        threading.Thread(
            target=keep_interrupting, name=f"dap-cancel-{query_id[:8]}", daemon=True
        ).start()
        return True

    def progress(self, query_id: str) -> float | None:
        cursor = self._running.get(query_id)
        if cursor is None:
            return None
        try:
            value = float(cursor.query_progress())
        except duckdb.Error:
            return None
        return value if value >= 0 else None

    def close(self) -> None:
        with self._lock:
            self._close_idle_cursors()
            self._con.close()

    def _close_idle_cursors(self) -> None:
        for cursor in self._progress_cursors:
            with contextlib.suppress(duckdb.Error):
                cursor.close()
        self._progress_cursors = []


def _progress_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    cursor = con.cursor()
    cursor.execute("SET enable_progress_bar=true")  # keeps query_progress() current
    cursor.execute("SET enable_progress_bar_print=false")  # without drawing on stdout
    return cursor


def _interruptible(work: Callable[[], pa.Table], interrupt: Callable[[], None]) -> pa.Table:
    """Run ``work`` on a helper thread while this one waits where Ctrl-C can reach it.

    DuckDB holds the calling thread inside C until the query ends, so a KeyboardInterrupt
    (SIGINT in a notebook kernel) would only land once it had run to completion. Waiting here
    instead, the interrupt stops the query within moments and becomes ``QueryCancelled``.
    The helper thread is kept for the next query (starting a thread per query cost 1–2 ms on a
    busy machine, more than a small query itself).
    """
    cancelled = threading.Event()

    def target() -> pa.Table:
        if cancelled.is_set():  # interrupted before it began: never run it
            raise QueryCancelled("the query was cancelled (interrupted)")
        return work()

    future: Future[pa.Table] = Future()
    try:
        _helpers().submit(future, target)  # inside: Ctrl-C may land while a thread starts
        while True:
            try:  # a timed wait: an async exception is seen between waits
                return future.result(timeout=0.05)
            except FutureTimeout:
                continue
    except KeyboardInterrupt:
        cancelled.set()
        # The cursor is closed after this: wait until the helper is out of it (a query not
        # begun is taken off the queue, or sees ``cancelled`` and does not run at all).
        while not future.done() and not future.cancel():
            interrupt()
            wait([future], timeout=0.02)
        raise QueryCancelled("the query was cancelled (interrupted)") from None


class _Helpers:
    """Daemon threads that run the main thread's queries: one, kept between queries; another
    only while a query someone stopped waiting for (a second Ctrl-C) still runs. Daemons, as
    the thread per query was: a runaway query does not hold up the interpreter's exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[pa.Table], Callable[[], pa.Table]]] = (
            queue.SimpleQueue()
        )
        self._idle = 0  # threads waiting for a job: never fewer than jobs queued
        self._lock = threading.Lock()

    def submit(self, future: Future[pa.Table], fn: Callable[[], pa.Table]) -> None:
        """Run ``fn`` for ``future`` (made by the caller, so it can cancel even a job whose
        submission an interrupt cut short)."""
        with self._lock:
            self._jobs.put((future, fn))
            if self._idle:
                self._idle -= 1  # an idle thread takes it
                return
        threading.Thread(target=self._loop, name="dap-query", daemon=True).start()

    def _loop(self) -> None:
        while True:
            future, fn = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as e:  # handed to the waiting thread, which raises it
                    future.set_exception(e)
            del future, fn  # hold no result while idle
            with self._lock:
                self._idle += 1


_helper_pool: _Helpers | None = None
_helper_lock = threading.Lock()


def _helpers() -> _Helpers:
    global _helper_pool
    with _helper_lock:
        if _helper_pool is None:
            _helper_pool = _Helpers()
        return _helper_pool


def _forget_helpers_in_child() -> None:
    """A forked child has none of the parent's threads, and its locks may be held by one."""
    global _helper_pool, _helper_lock
    _helper_pool, _helper_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers_in_child)


def _fetch(
    result: duckdb.DuckDBPyRelation, limit: int | None, on_batch: Callable[[int], None] | None
) -> pa.Table:
    reader = result.to_arrow_reader(100_000)
    batches: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        if limit is not None and rows + batch.num_rows > limit:
            batch = batch.slice(0, limit - rows)
        batches.append(batch)
        rows += batch.num_rows
        if on_batch is not None:
            on_batch(rows)
        if limit is not None and rows >= limit:
            break
    return pa.Table.from_batches(batches, schema=reader.schema)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
