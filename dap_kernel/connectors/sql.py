"""Read a table or a query of an external database into Arrow, with pushdown.

PostgreSQL and SQLite go through ADBC, which hands back Arrow record batches straight from the
wire format (no Python objects per row), so a large table streams into the lake at the speed of
the driver. Any other SQLAlchemy URL (MySQL, …) falls back to SQLAlchemy + polars.

Only what was asked for leaves the database: the selected columns, and for incremental reads
only the rows after the last watermark. Incremental reads first ask the source for the upper
bound (``max(col)``) and then read ``since < col <= upper``: the watermark is known before the
stream is consumed and is exactly the largest value the read can contain, even if rows arrive
while it runs (they are picked up by the next read).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
from sqlglot import exp
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ..errors import SourceError
from ..governance.secret_refs import redact_url as redact
from .base import Extracted

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.5
_SUBQUERY = "_dap_query"

# Connection failures worth another try: the server is (re)starting, busy or briefly unreachable.
_TRANSIENT = re.compile(
    r"connection refused|timeout expired|timed out|could not connect|connection reset|"
    r"server closed the connection|the database system is (starting up|shutting down)|"
    r"too many clients|database is locked|connection to server .* failed: (?!FATAL)|"
    r"lost connection|can't connect|broken pipe",
    re.IGNORECASE,
)
# … and failures that another try cannot fix, even when the text above also matches.
_PERMANENT = re.compile(
    r"authentication failed|does not exist|no pg_hba\.conf entry|permission denied|"
    r"access denied|unknown database|no such table|syntax error",
    re.IGNORECASE,
)

T = TypeVar("T")


@dataclass(frozen=True)
class _Source:
    """A database URL taken apart: which reader, which SQL dialect, how to reach it."""

    url: str  # as given, with the password: only for connecting
    backend: str  # postgresql | sqlite | other
    dialect: str  # sqlglot dialect, for quoting identifiers

    @property
    def shown(self) -> str:
        return redact(self.url)


class _Transient(Exception):
    """A failure that may go away on its own (wraps the driver's error)."""


# -- public API ------------------------------------------------------------------------------


def read_sql(
    url: str,
    table: str | None = None,
    *,
    query: str | None = None,
    columns: Sequence[str] | None = None,
    incremental_column: str | None = None,
    since: Any = None,
    batch_rows: int = 100_000,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> Extracted:
    """Read ``table`` (``name`` or ``schema.name``, taken literally) or the rows of ``query``.

    ``columns`` and the incremental predicate are pushed into the SQL sent to the source (a
    ``query`` is wrapped as a subquery for that). The result streams (``Extracted.data`` is a
    ``pa.RecordBatchReader`` of at most ``batch_rows`` rows per batch for ADBC sources); the
    connection closes when the stream is exhausted. Incremental reads skip rows whose
    ``incremental_column`` is NULL, except on the first read (``since=None``).
    Failures raise :class:`SourceError` with one line and no password; connection failures
    that may be transient are retried ``attempts`` times with exponential backoff and jitter.
    """
    if (table is None) == (query is None):
        raise SourceError("read_sql needs exactly one of table= or query=")
    if batch_rows < 1:
        raise SourceError("batch_rows must be at least 1")
    source = _parse(url)
    connect_timeout_s = _url_timeout(url, connect_timeout_s)
    plan = _Plan(source.dialect, table, query, columns, incremental_column)
    retrying = _retrying(attempts, backoff_s, source)
    reader = _read_adbc if source.backend in ("postgresql", "sqlite") else _read_sqlalchemy
    described = f"{source.shown} {table if table is not None else '(query)'}"
    try:
        data, watermark = retrying(
            lambda: reader(source, plan, since, batch_rows, connect_timeout_s)
        )
    except _Transient as e:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise SourceError(
            f"cannot read {described}: {_message(e.__cause__ or e, source)}{tries}"
        ) from None
    except SourceError:
        raise
    except Exception as e:  # any driver's error becomes one line without the password
        raise SourceError(f"cannot read {described}: {_message(e, source)}") from None
    return Extracted(data=data, watermark=watermark, source=described)


# -- the SQL that is sent --------------------------------------------------------------------


class _Plan:
    """The statements of one read, with identifiers quoted for the source's dialect."""

    def __init__(
        self,
        dialect: str,
        table: str | None,
        query: str | None,
        columns: Sequence[str] | None,
        incremental_column: str | None,
    ) -> None:
        self.dialect = dialect
        if table is not None:
            try:
                self.source = exp.to_table(table, dialect=dialect).sql(dialect, identify=True)
            except Exception as e:  # sqlglot's ParseError and friends
                raise SourceError(f"invalid table name {table!r}") from e
        else:
            body = (query or "").strip().rstrip(";").strip()
            if not body:
                raise SourceError("read_sql: the query is empty")
            self.source = f"({body}) AS {self.quote(_SUBQUERY)}"
        if columns is not None and not columns:
            raise SourceError("columns= names no column")
        self.columns = ", ".join(self.quote(c) for c in columns) if columns else "*"
        self.incremental = self.quote(incremental_column) if incremental_column else None

    def quote(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(self.dialect)

    def probe(self) -> str:
        """No rows, but the types of the incremental column (to coerce ``since`` to it)."""
        return f"SELECT {self.incremental} FROM {self.source} WHERE 1 = 0"

    def upper(self, has_since: bool, ph: Callable[[int], str]) -> str:
        where = f" WHERE {self.incremental} > {ph(0)}" if has_since else ""
        return f"SELECT max({self.incremental}) FROM {self.source}{where}"

    def select(self, since: bool, upper: bool, ph: Callable[[int], str]) -> str:
        """The read itself; ``since``/``upper`` say which bounds are bound, in that order."""
        sql = f"SELECT {self.columns} FROM {self.source}"
        if self.incremental is None:
            return sql
        col, where, n = self.incremental, [], 0
        if since:
            where.append(f"{col} > {ph(n)}")
            n += 1
        if upper:
            bound = f"{col} <= {ph(n)}"
            where.append(bound if since else f"({bound} OR {col} IS NULL)")
        elif since:
            where.append("1 = 0")  # nothing after the watermark: run it for the schema
        return sql + (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {col}"


def _dollar(n: int) -> str:
    return f"${n + 1}"


def _qmark(n: int) -> str:
    return "?"


def _named(n: int) -> str:
    return f":p{n}"


# -- ADBC (PostgreSQL, SQLite) ---------------------------------------------------------------


def _read_adbc(
    source: _Source, plan: _Plan, since: Any, batch_rows: int, timeout_s: float
) -> tuple[pa.RecordBatchReader, Any]:
    conn = _connect_adbc(source, timeout_s)
    try:
        ph = _dollar if source.backend == "postgresql" else _qmark
        cursor = conn.cursor()
        if source.backend == "sqlite":
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_rows)})
        params: list[Any] = []
        watermark = since
        upper = None
        if plan.incremental is not None:
            if source.backend == "postgresql":  # SQLite has no column types to coerce to
                cursor.execute(plan.probe())
                column_type = _normalise_schema(cursor.fetch_record_batch().schema)[0].type
                since = _coerce(since, column_type)
            cursor.execute(
                plan.upper(since is not None, ph), [since] if since is not None else None
            )
            upper = _first_value(cursor.fetch_arrow_table())
            params = [v for v in (since, upper) if v is not None]
            if upper is not None:
                watermark = upper
        sql = plan.select(since is not None, upper is not None, ph)
        log.debug("read_sql %s: %s", source.shown, sql)
        cursor.execute(sql, params or None)
        raw = cursor.fetch_record_batch()
    except Exception as e:
        conn.close()
        classified = _classify(e)
        if classified is e:
            raise
        raise classified from e
    schema = _normalise_schema(raw.schema)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in raw:
                for start in range(0, batch.num_rows, batch_rows):
                    yield _normalise_batch(batch.slice(start, batch_rows), schema)
        except Exception as e:
            raise SourceError(f"reading {source.shown} failed: {_message(e, source)}") from None
        finally:
            cursor.close()
            conn.close()

    return pa.RecordBatchReader.from_batches(schema, batches()), watermark


def _connect_adbc(source: _Source, timeout_s: float) -> Any:
    try:
        if source.backend == "postgresql":
            import adbc_driver_postgresql.dbapi as pg

            return pg.connect(_libpq_uri(source.url, timeout_s))
        import adbc_driver_sqlite.dbapi as sq

        path = _sqlite_path(source.url)
        # Read-only: a read must never create the file or change it.
        return sq.connect(path.resolve().as_uri() + "?mode=ro")
    except SourceError:
        raise
    except Exception as e:
        raise _classify(e) from e


def _libpq_uri(url: str, timeout_s: float) -> str:
    """``postgresql+psycopg://…`` → the plain libpq URI ADBC wants, with a connect timeout."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "connect_timeout"]
    query.append(("connect_timeout", str(max(2, round(timeout_s)))))  # libpq: at least 2 s
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


def _sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        raise SourceError("a SQLite source needs a file: sqlite:////absolute/path.db")
    path = Path(unquote(database))
    if not path.is_file():
        raise SourceError(f"no such SQLite file: {path}")
    return path


# -- SQLAlchemy + polars (every other dialect) -----------------------------------------------


def _read_sqlalchemy(
    source: _Source, plan: _Plan, since: Any, batch_rows: int, timeout_s: float
) -> tuple[pa.Table, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    from ..meta.store import _normalise_url

    seconds = max(1, round(timeout_s))
    connect_args = {"sqlite": {"timeout": seconds}}.get(
        source.dialect, {"connect_timeout": seconds}
    )
    try:
        engine = create_engine(
            _normalise_url(source.url), connect_args=connect_args, poolclass=NullPool
        )
    except (ImportError, NoSuchModuleError, ArgumentError) as e:
        scheme = source.url.split("://", 1)[0]
        hint = (
            " (for MySQL: pip install pymysql, use mysql+pymysql://)" if "mysql" in scheme else ""
        )
        raise SourceError(f"no database driver for {scheme}:// is installed{hint}") from e
    try:
        try:
            con = engine.connect()
        except Exception as e:
            raise _classify(e) from e
        with con:
            watermark, upper = since, None
            if plan.incremental is not None:
                probe = pl.read_database(text(plan.probe()), con)
                since = _coerce(since, probe.to_arrow().schema[0].type)
                bound = {"p0": since} if since is not None else {}
                upper_sql = text(plan.upper(since is not None, _named))
                upper = pl.read_database(upper_sql, con, execute_options={"parameters": bound})
                upper = upper.item() if upper.height else None
                if upper is not None:
                    watermark = upper
            values = [v for v in (since, upper) if v is not None]
            params = {f"p{i}": v for i, v in enumerate(values)}
            sql = plan.select(since is not None, upper is not None, _named)
            log.debug("read_sql %s: %s", source.shown, sql)
            frame = pl.read_database(text(sql), con, execute_options={"parameters": params})
            table = frame.to_arrow()
    finally:
        engine.dispose()
    return table, watermark


# -- types: what Delta and polars can hold ---------------------------------------------------


def _normalise_schema(schema: pa.Schema) -> pa.Schema:
    """PostgreSQL types ADBC hands over as extension types, as plain Arrow types.

    ``numeric(p,s)`` → ``decimal128(p,s)`` (p ≤ 38); unconstrained ``numeric`` → float64 (as
    DuckDB's postgres scanner does); ``uuid`` → 36-character string; ``json``/other opaque
    types → their storage (text). Driver metadata is dropped.
    """
    return pa.schema([pa.field(f.name, _plain_type(f), f.nullable) for f in schema])


def _plain_type(f: pa.Field) -> pa.DataType:
    t = f.type
    if isinstance(t, pa.UuidType):
        return pa.string()
    if isinstance(t, pa.OpaqueType) and t.type_name == "numeric":
        meta = f.metadata or {}
        typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1") or -1)
        if typmod >= 4:
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
            if precision <= 38:
                return pa.decimal128(precision, scale)
        return pa.float64()
    if isinstance(t, pa.BaseExtensionType):
        return t.storage_type
    return t


def _normalise_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema, check_metadata=False) and not batch.schema.metadata:
        return batch
    arrays = [_plain_array(a, f.type) for a, f in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _plain_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    if isinstance(array.type, pa.UuidType):
        hexed = pl.Series(array.storage).bin.encode("hex")
        cut = [(0, 8), (8, 4), (12, 4), (16, 4), (20, 12)]
        parts = [hexed.str.slice(s, n) for s, n in cut]
        text = pl.select(pl.concat_str([pl.lit(p) for p in parts], separator="-")).to_series()
        return text.to_arrow().cast(pa.string())
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    if array.type == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise SourceError(f"a value does not fit {target}: {str(e).splitlines()[0]}") from e


def _coerce(value: Any, target: pa.DataType) -> Any:
    """A stored watermark (often JSON text) as the incremental column's type, for binding."""
    if value is None or pa.types.is_null(target):  # no type known: bind it as it is
        return value
    try:
        return pa.array([value]).cast(target)[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise SourceError(f"since={value!r} does not fit the incremental column ({target})") from e


def _first_value(table: pa.Table) -> Any:
    if not table.num_rows:
        return None
    array = table.column(0).combine_chunks()
    return _plain_array(array, _plain_type(table.schema.field(0)))[0].as_py()


# -- errors and retries ----------------------------------------------------------------------


def _parse(url: str) -> _Source:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    base, _, driver = scheme.partition("+")
    if base in ("postgresql", "postgres"):
        return _Source(url, "postgresql", "postgres")
    if base == "sqlite":
        # sqlite:// → ADBC; sqlite+pysqlite:// (an explicit driver) → SQLAlchemy.
        return _Source(url, "sqlite" if not driver else "other", "sqlite")
    if not base:
        raise SourceError(  # no scheme: nothing tells where a password would be, so no echo
            "not a database URL: use postgresql://, sqlite:////path or another SQLAlchemy URL"
        )
    dialect = {"mysql": "mysql", "mariadb": "mysql", "mssql": "tsql", "oracle": "oracle"}
    return _Source(url, "other", dialect.get(base, base))


def _url_timeout(url: str, default_s: float) -> float:
    """A ``connect_timeout`` the URL gives (libpq's spelling, in seconds) wins over the default:
    a source known to be slow, or one that must fail fast, says so where it is named."""
    given = dict(parse_qsl(urlsplit(url).query)).get("connect_timeout")
    if given is None:
        return default_s
    try:
        seconds = float(given)
    except ValueError:
        raise SourceError(f"connect_timeout in the URL is seconds, not {given!r}") from None
    if not 0 < seconds <= 3600:
        raise SourceError(f"connect_timeout in the URL is from 1 to 3600 seconds, not {given}")
    return seconds


def _classify(error: BaseException) -> BaseException:
    text = _first_line(str(getattr(error, "orig", None) or error))
    if _TRANSIENT.search(text) and not _PERMANENT.search(text):
        return _Transient(text)
    return error


def _retrying(attempts: int, backoff_s: float, source: _Source) -> Callable[[Callable[[], T]], T]:
    def before_sleep(state: Any) -> None:
        log.warning(
            "read_sql %s: attempt %d failed (%s), retrying",
            source.shown,
            state.attempt_number,
            _message(state.outcome.exception(), source),
        )

    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_random_exponential(multiplier=backoff_s, max=max(backoff_s, 30.0)),
        before_sleep=before_sleep,
        reraise=True,
    )
    return lambda fn: retrying(fn)


_NOISE = re.compile(
    r"^(?:[A-Z_]+: )?(?:\[\w+\] )?(?:Failed to (?:connect|prepare query|execute query|step query)"
    r"(?: \(\w+\))?: ?)?(?:ERROR: +|FATAL: +)?"
)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _message(error: BaseException | None, source: _Source) -> str:
    """The driver's first line, without ADBC's status prefix, the URL or the password."""
    line = _first_line(str(getattr(error, "orig", None) or error))
    line = _NOISE.sub("", line)
    line = re.sub(r"^connection to server at (.*?) failed: (?:FATAL: +)?", "", line)
    line = re.sub(r"\s*SQLSTATE: \w+$", "", line)
    line = line.replace(source.url, source.shown)
    for secret in _passwords(source.url):
        line = line.replace(secret, "***")
    return line if len(line) <= 300 else line[:299] + "…"


def _passwords(url: str) -> set[str]:
    try:
        raw = urlsplit(url).password or ""
    except ValueError:
        raw = url.split("://", 1)[-1].rpartition("@")[0].partition(":")[2]
    query = dict(parse_qsl(urlsplit(url).query))
    return {s for s in (raw, unquote(raw), query.get("password", "")) if s}
