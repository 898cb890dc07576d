"""A ClickHouse server (``DAP_CLICKHOUSE_URL``) through clickhouse-connect: the same governed,
checked statements as chDB (:mod:`.clickhouse_sql`), run by a server DAP does not own.

Fail closed, as on chDB, plus what a shared server needs:

- **The server cannot read DAP's lake**, and must not: :meth:`ClickHouseEngine.bind` copies
  each table's current snapshot (read here with pyarrow) into a ``MergeTree`` table of a private
  database (``"main#<token>"``, :mod:`.names`) with explicit column types, sorted by the
  table's partition and date columns (:func:`order_key`), and copies again only when the
  binding's signature changes. A table of the server itself is bound as a view instead
  (:mod:`.clickhouse_native`). :meth:`~ClickHouseEngine.close` drops those databases.
  DAP's ClickHouse user needs DDL rights on them; governed statements get ``readonly=1`` as a
  setting of each query, so none can write, ``SET`` or call a table function.
- **The safety settings must exist on the server.** ``prefer_column_name_to_alias`` makes a row
  filter on a masked column test the stored value, not the mask; a server that lacks it resolves
  ``WHERE region <> 'APAC'`` to the masked ``region`` alias (checked on Debian's 18.16: every
  row passes). Such a server is refused with one :class:`~dap_kernel.errors.ConfigError` at
  connect, before any table is copied to it.
- **The password is a secret**: it is never in a message; errors are ClickHouse's first line,
  scrubbed of private names, without the statement.

Cancel is ``KILL QUERY`` by the query's id. Progress is not reported.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..engine_errors import engine_error
from ..errors import ConfigError, EngineUnavailable, QueryCancelled
from .base import CANCEL, CLICKHOUSE_KIND, Binding, Engine, Params
from .cancels import EarlyCancels
from .clickhouse_native import NativeTable, describe, source_sql
from .clickhouse_sql import checked_statement, clickhouse_message, inline_parameters, read_binding
from .names import RelationNames, quote_ident

# Sent with every governed statement (see chdb.QUERY_SETTINGS for why each one).
QUERY_SETTINGS: dict[str, int] = {
    "readonly": 1,
    "join_use_nulls": 1,
    "aggregate_functions_null_for_empty": 1,
    "prefer_column_name_to_alias": 1,
}
# Without these the server would give wrong governed answers (a row filter testing a mask):
# refuse it. The others only bring SQL's NULLs; they are sent when the server knows them.
REQUIRED_SETTINGS = ("readonly", "prefer_column_name_to_alias")

# Arrow types of ClickHouse column types, for the copy of a binding (explicit: 18.16 cannot
# describe an insert's columns to clickhouse-connect) and for an empty answer's schema.
_TO_CLICKHOUSE: tuple[tuple[Callable[[pa.DataType], bool], str], ...] = (
    (pa.types.is_boolean, "UInt8"),
    (pa.types.is_int8, "Int8"),
    (pa.types.is_int16, "Int16"),
    (pa.types.is_int32, "Int32"),
    (pa.types.is_int64, "Int64"),
    (pa.types.is_uint8, "UInt8"),
    (pa.types.is_uint16, "UInt16"),
    (pa.types.is_uint32, "UInt32"),
    (pa.types.is_uint64, "UInt64"),
    (pa.types.is_float32, "Float32"),
    (pa.types.is_floating, "Float64"),
    (pa.types.is_date, "Date"),
    (pa.types.is_timestamp, "DateTime"),
    (pa.types.is_string, "String"),
    (pa.types.is_large_string, "String"),
)


def clickhouse_type(t: pa.DataType, *, nullable: bool = True) -> str:
    """The ClickHouse column type a copied Arrow column gets: Nullable, as Arrow is, except a
    column of the sort key (which old servers refuse to be Nullable; it holds no null)."""
    if pa.types.is_decimal(t):
        name = f"Decimal({t.precision}, {t.scale})"
    else:
        name = next((n for test, n in _TO_CLICKHOUSE if test(t)), "")
    if not name:
        raise ConfigError(f"the clickhouse engine cannot copy a column of type {t}")
    return f"Nullable({name})" if nullable else name


# Sort keys of copies: at most this many columns (a longer key sorts more, prunes no better).
ORDER_KEY_COLUMNS = 3


def order_key(binding: Binding, data: pa.Table) -> list[str]:
    """The sort key of a copy: the lake table's partition columns, then its first date or
    timestamp column — what reports filter ranges on, so the server skips the granules
    outside them. Only columns without nulls (a sort key column is not Nullable); none at
    all leaves the copy unsorted (``ORDER BY tuple()``)."""

    def usable(name: str) -> bool:
        return name in data.column_names and data.column(name).null_count == 0

    key = [str(c) for c in binding.options.get("partition_columns") or [] if usable(str(c))]
    dated = (
        f.name
        for f in data.schema
        if (pa.types.is_date(f.type) or pa.types.is_timestamp(f.type))
        and usable(f.name)
        and f.name not in key
    )
    first = next(dated, None)
    return [*key, *([first] if first else [])][:ORDER_KEY_COLUMNS]


class ClickHouseEngine(Engine):
    """Governed SQL on a ClickHouse server, over bound copies of the lake's data."""

    name = "clickhouse"
    dialect = "clickhouse"
    capabilities = frozenset({CANCEL})

    def __init__(
        self,
        url: str,
        lake_dir: Any = None,
        threads: int = 0,
        *,
        required: Sequence[str] = REQUIRED_SETTINGS,
    ) -> None:
        """``required``: the settings without which the server is refused. Only tests pass
        fewer (to run the client path on a server DAP refuses); configuration cannot."""
        self.lake_dir = lake_dir
        self.threads = threads
        self.names = RelationNames()
        self._client, self._known = connect(url)
        missing = [s for s in required if s not in self._known]
        if missing:
            self._client.close()
            raise ConfigError(
                f"the ClickHouse server {self._version} lacks the setting "
                f"{', '.join(missing)}, which governed row filters need: use a newer server"
            )
        self._settings = {k: v for k, v in QUERY_SETTINGS.items() if k in self._known}
        self._lock = threading.RLock()
        self._bound: dict[str, str] = {}
        self._databases: set[str] = set()
        self._running: set[str] = set()
        self._early_cancels = EarlyCancels()
        self._closed = False

    @property
    def _version(self) -> str:
        return str(getattr(self._client, "server_version", "?"))

    # -- binding -----------------------------------------------------------------------------

    def relation(self, schema: str, name: str) -> str:
        return f"{quote_ident(self.names.schema(schema))}.{quote_ident(name)}"

    def bind(self, bindings: Sequence[Binding]) -> None:
        with self._lock:
            for binding in bindings:
                # A table of the server itself is a view: made once, it reads the live table.
                native = binding.kind == CLICKHOUSE_KIND
                signature = f"view:{binding.location}" if native else binding.signature
                if self._bound.get(binding.qualified_name) == signature:
                    continue
                if native:
                    self._view(binding)
                else:
                    self._load(binding, read_binding(binding))
                self._bound[binding.qualified_name] = signature

    def _view(self, binding: Binding) -> None:
        """A table of this server under its private name (:mod:`.clickhouse_native`)."""
        database = self.names.schema(binding.schema)
        target = self.relation(binding.schema, binding.name)
        self._trusted(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
        self._databases.add(database)
        self._trusted(f"DROP TABLE IF EXISTS {target}")
        self._trusted(f"CREATE VIEW {target} AS SELECT * FROM {source_sql(binding.location)}")

    def describe_native(self, location: str, exact_distinct_rows: int) -> NativeTable:
        """Columns and statistics of a table of this server, computed here (trusted SQL)."""

        def query(sql: str) -> Sequence[Sequence[Any]]:
            try:
                return list(self._client.query(sql).result_rows)
            except Exception as e:  # clickhouse-connect raises its own errors
                raise self._error(e) from None

        return describe(query, location, arrow_type, exact_distinct_rows)

    def _load(self, binding: Binding, data: pa.Table) -> None:
        """A copy of the binding's rows in a MergeTree table sorted by :func:`order_key`
        (on disk, so a copy need not fit in the server's memory), sent column by column."""
        from clickhouse_connect.datatypes.registry import get_from_name

        database = self.names.schema(binding.schema)
        target = self.relation(binding.schema, binding.name)
        key = order_key(binding, data)
        types = [clickhouse_type(f.type, nullable=f.name not in key) for f in data.schema]
        columns = ", ".join(
            f"{quote_ident(f.name)} {t}" for f, t in zip(data.schema, types, strict=True)
        )
        order = ", ".join(quote_ident(k) for k in key)
        self._trusted(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
        self._databases.add(database)
        self._trusted(f"DROP TABLE IF EXISTS {target}")
        self._trusted(
            f"CREATE TABLE {target} ({columns}) ENGINE = MergeTree() ORDER BY ({order})"
            if key
            else f"CREATE TABLE {target} ({columns}) ENGINE = MergeTree() ORDER BY tuple()"
        )
        if data.num_rows:
            try:
                self._client.insert(
                    binding.name,
                    [column.to_pylist() for column in data.columns],
                    database=database,
                    column_names=data.column_names,
                    column_types=[get_from_name(t) for t in types],
                    column_oriented=True,
                )
            except Exception as e:  # clickhouse-connect raises its own errors
                raise self._error(e) from None

    def unbind(self, binding: Binding) -> None:
        with self._lock:
            self._trusted(f"DROP TABLE IF EXISTS {self.relation(binding.schema, binding.name)}")
            self._bound.pop(binding.qualified_name, None)

    def _trusted(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except Exception as e:  # clickhouse-connect raises its own errors
            raise self._error(e) from None

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
        sql = for_the_server(checked_statement(inline_parameters(sql, params), self.names))
        table = self._query(sql, query_id, limit)
        if on_batch is not None:
            on_batch(table.num_rows)
        return table

    def execute_internal(self, sql: str) -> pa.Table:
        """Trusted ClickHouse SQL of DAP itself (a health check); still read-only."""
        return self._query(sql, None, None)

    def _query(self, sql: str, query_id: str | None, limit: int | None) -> pa.Table:
        if not query_id:
            return self._answer(sql, None, limit)
        with self._lock:
            if self._early_cancels.take(query_id):
                raise QueryCancelled("the query was cancelled")
            self._running.add(query_id)
        try:
            return self._answer(sql, query_id, limit)
        finally:
            with self._lock:
                self._running.discard(query_id)

    def _answer(self, sql: str, query_id: str | None, limit: int | None) -> pa.Table:
        settings: dict[str, Any] = dict(self._settings)
        if limit is not None:
            settings.update(max_result_rows=limit, result_overflow_mode="break")
        if query_id:
            settings["query_id"] = query_id
        try:
            # 18.16 has no Arrow output format: native columns, made Arrow here.
            result = self._client.query(sql, settings=settings)
        except Exception as e:  # clickhouse-connect raises its own errors
            if "QUERY_WAS_CANCELLED" in str(e) or "Query was cancelled" in str(e):
                raise QueryCancelled("the query was cancelled") from None
            raise self._error(e) from None
        if not result.column_names:
            # An empty answer carries no columns over the native format: ask for them.
            return self._empty(sql, settings)
        types = [arrow_type(t.name) for t in result.column_types]
        data = result.result_columns if result.result_rows else [[] for _ in types]
        columns = [pa.array(c, type=t) for c, t in zip(data, types, strict=True)]
        table = pa.table(dict(zip(result.column_names, columns, strict=True)))
        return table.slice(0, limit) if limit is not None else table

    def _empty(self, sql: str, settings: dict[str, Any]) -> pa.Table:
        settings = {k: v for k, v in settings.items() if k != "query_id"}
        try:
            described = self._client.query(f"DESCRIBE TABLE ({sql})", settings=settings)
        except Exception as e:  # clickhouse-connect raises its own errors
            raise self._error(e) from None
        return pa.table(
            {
                row[0]: pa.array([], type=arrow_type(row[1]) or pa.string())
                for row in described.result_rows
            }
        )

    def cancel(self, query_id: str) -> bool:
        """KILL QUERY until the query is gone: one sent before the server lists the query
        (it is still on its way) would be lost."""
        with self._lock:
            if query_id not in self._running:
                self._early_cancels.note(query_id)
                return False

        def keep_killing() -> None:
            deadline = time.monotonic() + 30
            while query_id in self._running and time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # a failed KILL changes nothing: retried
                    self._client.command(
                        "KILL QUERY WHERE query_id = %(q)s ASYNC", parameters={"q": query_id}
                    )
                time.sleep(0.05)

        threading.Thread(
            target=keep_killing, name=f"dap-cancel-{query_id[:8]}", daemon=True
        ).start()
        return True

    def progress(self, query_id: str) -> float | None:
        return None

    def _error(self, error: Exception) -> Exception:
        return engine_error(self.names.scrub(server_message(error)))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for database in sorted(self._databases):
                with contextlib.suppress(Exception):
                    self._client.command(f"DROP DATABASE IF EXISTS {quote_ident(database)}")
            self._databases.clear()
            self._bound.clear()
            self._client.close()


# Functions sqlglot writes by their modern ClickHouse names, in the forms every server knows.
def _regexp_replace(node: exp.Expr) -> exp.Expr:
    # DuckDB's regexp_replace without the 'g' option replaces the first match only.
    args = [node.this, node.expression, node.args["replacement"]]
    return exp.Anonymous(this="replaceRegexpOne", expressions=args)


_OLD_FORMS: dict[type[exp.Expr], Callable[[exp.Expr], exp.Expr]] = {
    exp.RegexpReplace: _regexp_replace,
}


def for_the_server(sql: str) -> str:
    """Checked SQL with functions new servers renamed written in their old names (ClickHouse
    keeps the old names as aliases, so this changes nothing on a new server)."""
    tree = sqlglot.parse_one(sql, read="clickhouse")
    for node in list(tree.walk()):
        rewrite = _OLD_FORMS.get(type(node))
        if rewrite is not None:
            node.replace(rewrite(node))
    return tree.sql(dialect="clickhouse")


_QUOTED = re.compile(r"(failed at position \d+(?: \([^)]*\))?):.*$")


def server_message(error: Exception) -> str:
    """A server's message as chDB's would read: without the HTTP wrapping of clickhouse-connect
    and the ``e.what()`` tail of old servers (never the URL: it may carry credentials)."""
    text = clickhouse_message(error)
    for cut in (", e.what() = ", " (for url ", " (version "):
        text = text.split(cut, 1)[0]
    # An old server's syntax error quotes the statement from the failing position: not shown.
    return _QUOTED.sub(r"\1", text).strip()


_FROM_CLICKHOUSE: dict[str, pa.DataType] = {
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "String": pa.string(),
    "Date": pa.date32(),
    "DateTime": pa.timestamp("s"),
}
_DECIMAL = re.compile(r"Decimal\((\d+), *(\d+)\)")


def arrow_type(name: str) -> pa.DataType | None:
    """The Arrow type of a ClickHouse result column (None: let pyarrow infer it), so an empty
    answer still has its columns' types."""
    name = (
        name.removeprefix("Nullable(").removesuffix(")") if name.startswith("Nullable(") else name
    )
    if name.startswith("LowCardinality(") or name.startswith("FixedString("):
        return pa.string()
    if m := _DECIMAL.fullmatch(name):
        return pa.decimal128(int(m[1]), int(m[2]))
    return _FROM_CLICKHOUSE.get(name)


def connect(url: str) -> tuple[Any, set[str]]:
    """A clickhouse-connect client for ``url`` and the names of the server's settings.

    Errors are one line that names the host, never the password."""
    if not url:
        raise EngineUnavailable(
            "the clickhouse engine needs DAP_CLICKHOUSE_URL, the http(s) URL of a ClickHouse server"
        )
    try:
        import clickhouse_connect
    except ImportError as e:
        raise EngineUnavailable(
            "the clickhouse engine needs clickhouse-connect: pip install 'dap[clickhouse]'"
        ) from e
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "DAP_CLICKHOUSE_URL must be an http(s) URL with the user and password in it"
        )
    where = f"{parts.hostname}:{parts.port or 8123}"
    try:
        client = clickhouse_connect.get_client(
            host=parts.hostname,
            port=parts.port or 8123,
            username=urllib.parse.unquote(parts.username or "default"),
            password=urllib.parse.unquote(parts.password or ""),
            database=parts.path.strip("/") or "default",
            secure=parts.scheme == "https",
            compress=False,
            # No HTTP session: a session runs one query at a time, and KILL QUERY must reach
            # a running one.
            autogenerate_session_id=False,
        )
        # All names (a few hundred): old servers take no array parameter in IN.
        known = {row[0] for row in client.query("SELECT name FROM system.settings").result_rows}
    except Exception as e:  # clickhouse-connect raises its own errors
        text = server_message(e)
        if parts.password:
            text = text.replace(parts.password, "***")
        if "Authentication failed" in text or "password is incorrect" in text or " 516" in text:
            text = "authentication failed"
        elif "Connection refused" in text or "Failed to establish" in text:
            text = "the server does not answer"
        elif "Max retries exceeded" in text or "timed out" in text.lower():
            text = "no answer (network or TLS error)"
        raise ConfigError(f"cannot connect to ClickHouse at {where}: {text}") from None
    return client, known
