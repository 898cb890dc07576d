"""Tables that live in the workspace's ClickHouse server, governed like lake tables.

A catalog table of kind ``clickhouse`` names a table of the server the ``clickhouse`` engine
runs on (``DAP_CLICKHOUSE_URL``), e.g. ``analytics.events``: at 100 TB the data stays where it
is, and DAP governs the statements that reach it. The construction is the lake's:

- **Raw rows only under a private name.** The engine binds the table as a view in its private
  database (``"main#<token>".events``, :mod:`.names`); the checked statement may read nothing
  else (:func:`~.clickhouse_sql.checked_statement`), so ``analytics.events`` spelled in user
  SQL is an unknown table, as any name the catalog does not resolve.
- **Live data.** A view reads the table as it is now; its bindings never share a cached
  answer (each has a signature of its own).
- **Only the clickhouse engine reads it.** DuckDB, chDB and Spark refuse the kind with one
  line; registering sets the table's engine to ``clickhouse``, so its statements go there.

Registering one needs more than CREATE (:meth:`~dap_kernel.changes.CatalogChanges.
register_clickhouse_table`): the engine reads with DAP's own ClickHouse account, so whoever
registers a table grants the catalog that account's view of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..errors import DapError
from .names import quote_ident

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The server's own databases: its users, settings, logs and processes, never catalog tables.
SYSTEM_DATABASES = frozenset({"system", "information_schema", "INFORMATION_SCHEMA"})


def check_source(text: str) -> tuple[str, str]:
    """``database.table`` as its two plain identifiers, or one line saying what is expected."""
    database, dot, table = text.strip().partition(".")
    if not dot or not _IDENTIFIER.fullmatch(database) or not _IDENTIFIER.fullmatch(table):
        raise DapError(
            f"a ClickHouse table is named DATABASE.TABLE in plain letters, digits and _, "
            f"not {text!r}"
        )
    if database in SYSTEM_DATABASES or database.lower() in SYSTEM_DATABASES:
        raise DapError(f"{database} is the ClickHouse server's own database, not data to register")
    return database, table


def source_sql(location: str) -> str:
    """The quoted ``database.table`` of a checked location."""
    database, table = check_source(location)
    return f"{quote_ident(database)}.{quote_ident(table)}"


_TIMESTAMP = re.compile(r"DateTime(?:\('[^']*'\))?")
_TIMESTAMP64 = re.compile(r"DateTime64\((\d)(?:, *'[^']*')?\)")
_ENUM = re.compile(r"Enum(?:8|16)\(.*\)")


def column_type(name: str, arrow_type: Callable[[str], pa.DataType | None]) -> pa.DataType:
    """The Arrow type a registered column is catalogued with; unsupported types are refused
    (a column DAP cannot type is one it cannot mask)."""
    inner = name[len("Nullable(") : -1] if name.startswith("Nullable(") else name
    if _TIMESTAMP.fullmatch(inner):
        return pa.timestamp("s")
    if m := _TIMESTAMP64.fullmatch(inner):
        digits = int(m[1])
        return pa.timestamp("ms" if digits <= 3 else "us" if digits <= 6 else "ns")
    if inner == "UUID" or _ENUM.fullmatch(inner):
        return pa.string()
    if inner == "Bool":
        return pa.bool_()
    found = arrow_type(inner)
    if found is None:
        raise DapError(f"DAP cannot catalogue a ClickHouse column of type {name}")
    return found


@dataclass(frozen=True)
class ColumnStats:
    """What the server says of one column: values (not null), distinct values, min, max."""

    values: int
    distinct: int | None
    minimum: str | None
    maximum: str | None


@dataclass(frozen=True)
class NativeTable:
    """A registered table as the server describes it, for the catalog."""

    rows: int
    schema: pa.Schema
    stats: dict[str, ColumnStats]
    distinct_approx: bool


def describe(
    query: Callable[[str], Sequence[Sequence[Any]]],
    location: str,
    arrow_type: Callable[[str], pa.DataType | None],
    exact_distinct_rows: int,
) -> NativeTable:
    """Columns, row count and statistics of ``location``, computed by the server where the
    data lives (``query`` runs DAP's trusted SQL there). Distinct counts are exact up to
    ``exact_distinct_rows`` rows, HyperLogLog (``uniq``) above, as for lake tables."""
    target = source_sql(location)
    described = query(f"DESCRIBE TABLE {target}")
    schema = pa.schema([(str(r[0]), column_type(str(r[1]), arrow_type)) for r in described])
    rows = int(query(f"SELECT count() FROM {target}")[0][0])
    if not rows or not len(schema):
        return NativeTable(rows, schema, {}, False)
    approx = rows > exact_distinct_rows
    distinct = "uniq" if approx else "uniqExact"
    parts = []
    for field in schema:
        q = quote_ident(field.name)
        parts += [f"count({q})", f"{distinct}({q})", f"toString(min({q}))", f"toString(max({q}))"]
    values = query(f"SELECT {', '.join(parts)} FROM {target}")[0]
    stats = {}
    for i, field in enumerate(schema):
        counted, unique, low, high = values[4 * i : 4 * i + 4]
        seen = int(counted)
        stats[field.name] = ColumnStats(
            seen,
            int(unique) if seen else 0,
            str(low) if seen else None,  # a column of nulls: ClickHouse gives a default value
            str(high) if seen else None,
        )
    return NativeTable(rows, schema, stats, approx)
