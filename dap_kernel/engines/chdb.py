"""ClickHouse in process (chDB): the same governed statements, transpiled to ClickHouse SQL.

Fail closed here as on DuckDB, by a different construction, since chDB (like
``clickhouse-local``) reads any path the process can through ``file()``, ``url()`` or ``s3()``:

- **Governed data arrives as bound inputs, never as a path.** :meth:`ChdbEngine.bind` reads the
  files of a table's current Delta snapshot (the list the core hands over) with pyarrow and
  copies them into a ``Memory`` table under a private database (``"main#<token>"``, see
  :mod:`.names`). No SQL the engine runs names a lake path, so no SQL can vary one.
- **Every statement runs read-only**: ``SETTINGS readonly=1`` on each query, which refuses
  every table function (``file``, ``url``, ``s3``, ``remote``, ``Python``…), writes and
  ``SET`` — but not ``INTO OUTFILE`` (which the check below refuses). The governed rewrite
  refuses table functions before (``rewrite.qualify_tables``); this is the engine's own lock.
- **The final SQL is checked** (:func:`checked_statement`) before it runs: no table function, no
  ``SETTINGS`` of its own, no scalar function that reaches outside (the scalar ``file()``,
  ``url*``, ``getSetting``, ``dictGet``…), and every schema-qualified table is a private bound
  relation. A rewrite bug that let any of these through is an error, not data.
- ``prefer_column_name_to_alias=1`` on every query: ClickHouse otherwise resolves a name in
  ``WHERE`` to a ``SELECT`` alias of that name first — in a secured source, a row filter on a
  masked column would test the *masked* value (``region <> 'APAC'`` on a redacted region lets
  every row through). With it, filters see the stored columns, as in DuckDB and SQL.
- SQL's answers, not ClickHouse's defaults, on every query: ``join_use_nulls=1`` (otherwise
  an outer join's non-matches get default values, 0 or '', not NULL) and
  ``aggregate_functions_null_for_empty=1`` (otherwise ``sum`` of no rows is 0, not NULL;
  ``count`` stays 0). UPPER/LOWER/REVERSE become their UTF-8 forms (ClickHouse's plain ones
  change ASCII letters only), and ``sha256`` gives DuckDB's hex text, so hash masks agree.

chDB runs one embedded server per process (one data path), so every :class:`ChdbEngine` of the
process shares one chDB session; each keeps its relations under its own random token and drops
them on :meth:`~ChdbEngine.close`. Queries are serialized on that session.

Cancel works between result chunks: a cancelled query stops when its next chunk arrives
(chDB has no interrupt of a query that has not produced one yet). Progress is not reported.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from ..engine_errors import engine_error
from ..errors import EngineUnavailable, QueryCancelled, QueryFailed
from .base import CANCEL, STREAM, Binding, Engine, Params
from .cancels import EarlyCancels
from .clickhouse_sql import checked_statement, clickhouse_message, inline_parameters, read_binding
from .names import RelationNames, quote_ident

__all__ = ["QUERY_SETTINGS", "ChdbEngine", "checked_statement", "inline_parameters"]

# Run with every governed statement: the engine's lock, and SQL's NULLs (see above).
QUERY_SETTINGS = (
    "SETTINGS readonly=1, join_use_nulls=1, aggregate_functions_null_for_empty=1, "
    "prefer_column_name_to_alias=1"
)


class _Shared:
    """The process's one chDB session (chDB allows one embedded server per process)."""

    lock = threading.RLock()
    session: Any = None
    users = 0

    @classmethod
    def acquire(cls) -> Any:
        with cls.lock:
            if cls.session is None:
                try:
                    from chdb import session as chdb_session
                except ImportError as e:
                    raise EngineUnavailable(
                        "the chdb engine needs the chdb package: pip install 'dap[clickhouse]'"
                    ) from e
                cls.session = chdb_session.Session()  # type: ignore[no-untyped-call]
                # Closed before the interpreter tears down what chDB's shutdown still uses.
                atexit.register(cls.session.close)
            cls.users += 1
            return cls.session


class ChdbEngine(Engine):
    """Governed SQL on ClickHouse (chDB, in process), over bound copies of the lake's data."""

    name = "chdb"
    dialect = "clickhouse"
    capabilities = frozenset({CANCEL, STREAM})

    def __init__(self, lake_dir: Any = None, threads: int = 0, memory_limit: str = "") -> None:
        self.lake_dir = lake_dir
        self.threads = threads
        self.memory_limit = memory_limit
        self.names = RelationNames()
        self._session = _Shared.acquire()
        self._bound: dict[str, str] = {}  # qualified name -> signature
        self._databases: set[str] = set()
        self._running: dict[str, threading.Event] = {}
        self._early_cancels = EarlyCancels()
        self._closed = False

    # -- binding -----------------------------------------------------------------------------

    def relation(self, schema: str, name: str) -> str:
        return f"{quote_ident(self.names.schema(schema))}.{quote_ident(name)}"

    def bind(self, bindings: Sequence[Binding]) -> None:
        with _Shared.lock:
            for binding in bindings:
                if self._bound.get(binding.qualified_name) == binding.signature:
                    continue
                self._load(binding, read_binding(binding))
                self._bound[binding.qualified_name] = binding.signature

    def _load(self, binding: Binding, data: pa.Table) -> None:
        database = quote_ident(self.names.schema(binding.schema))
        target = self.relation(binding.schema, binding.name)
        self._run_trusted(f"CREATE DATABASE IF NOT EXISTS {database}")
        self._databases.add(self.names.schema(binding.schema))
        self._run_trusted(f"DROP TABLE IF EXISTS {target}")
        # chDB's Python() table function reads a local variable of its caller by name: the
        # data is handed over in memory, never as a path.
        dap_bound_rows = data  # noqa: F841 (read by chDB through this frame)
        try:
            self._session.query(
                f"CREATE TABLE {target} ENGINE = Memory AS SELECT * FROM Python(dap_bound_rows)",
                "CSV",
            )
        except Exception as e:  # chDB raises RuntimeError/ChdbError with its message
            raise engine_error(self.names.scrub(clickhouse_message(e))) from None

    def unbind(self, binding: Binding) -> None:
        with _Shared.lock:
            self._run_trusted(f"DROP TABLE IF EXISTS {self.relation(binding.schema, binding.name)}")
            self._bound.pop(binding.qualified_name, None)

    def _run_trusted(self, sql: str) -> None:
        try:
            self._session.query(sql, "CSV")
        except Exception as e:  # chDB raises RuntimeError/ChdbError with its message
            raise engine_error(self.names.scrub(clickhouse_message(e))) from None

    # -- running -----------------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        params: Params = None,
        *,
        query_id: str | None = None,
        limit: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> pa.Table:
        sql = checked_statement(inline_parameters(sql, params), self.names)
        text = f"{sql} {QUERY_SETTINGS}"
        stop = threading.Event()
        with _Shared.lock:
            if query_id:
                if self._early_cancels.take(query_id):
                    raise QueryCancelled("the query was cancelled")
                self._running[query_id] = stop
            try:
                return self._stream(text, stop, limit, on_batch)
            finally:
                if query_id:
                    self._running.pop(query_id, None)

    def execute_internal(self, sql: str) -> pa.Table:
        """Trusted ClickHouse SQL of DAP itself (a health check); still read-only."""
        return self._stream(f"{sql} {QUERY_SETTINGS}", threading.Event(), None, None)

    def _stream(
        self,
        text: str,
        stop: threading.Event,
        limit: int | None,
        on_batch: Callable[[int], None] | None,
    ) -> pa.Table:
        try:
            stream = self._session.send_query(text, "Arrow")
            reader = stream.record_batch(rows_per_batch=100_000)
            batches: list[pa.RecordBatch] = []
            rows = 0
            try:
                for batch in reader:
                    if stop.is_set():
                        raise QueryCancelled("the query was cancelled")
                    if limit is not None and rows + batch.num_rows > limit:
                        batch = batch.slice(0, limit - rows)
                    batches.append(batch)
                    rows += batch.num_rows
                    if on_batch is not None:
                        on_batch(rows)
                    if limit is not None and rows >= limit:
                        break
            finally:
                with contextlib.suppress(Exception):
                    stream.cancel()  # frees the stream; a no-op once exhausted
            if stop.is_set():
                raise QueryCancelled("the query was cancelled")
            if not batches:
                # An empty stream carries no schema: the one-shot form of the same statement
                # does (run again: an empty answer is cheap to repeat, mostly).
                empty: pa.Table = self._session.query(text, "ArrowTable")
                return empty
            return pa.Table.from_batches(batches, schema=reader.schema)
        except QueryCancelled:
            raise
        except Exception as e:  # chDB's errors carry ClickHouse's message
            raise engine_error(self.names.scrub(clickhouse_message(e))) from None

    def cancel(self, query_id: str) -> bool:
        stop = self._running.get(query_id)
        if stop is None:
            self._early_cancels.note(query_id)
            return False
        stop.set()
        return True

    def progress(self, query_id: str) -> float | None:
        return None  # chDB reports no progress of a running query

    def close(self) -> None:
        with _Shared.lock:
            if self._closed:
                return
            self._closed = True
            for database in sorted(self._databases):
                with contextlib.suppress(QueryFailed):
                    self._run_trusted(f"DROP DATABASE IF EXISTS {quote_ident(database)}")
            self._databases.clear()
            self._bound.clear()
