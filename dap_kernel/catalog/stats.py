"""Column statistics: profiled by the engine over a table's rows, measured by the Parquet
writer, or combined for an append (row and null counts add up, min/max widen)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from ..engines.base import Binding, Engine
from ..engines.names import quote_ident
from ..errors import ConfigError, QueryFailed, SourceError
from ..lake import ColumnStats, ParquetFile
from .models import ColumnInfo

# Up to this many rows, distinct counts are exact (count(DISTINCT …)); above it they are
# HyperLogLog estimates (approx_count_distinct, a few per cent off) and flagged as such.
# DAP_EXACT_DISTINCT_ROWS sets it (Settings.exact_distinct_rows).
EXACT_DISTINCT_ROWS = 5_000_000

_NESTED = ("STRUCT", "[]", "MAP", "UNION")
_TEXT_FILES = ("csv", "json")  # counting their rows means reading them


def profile_table(
    engine: Engine,
    binding: Binding,
    kind: str,
    *,
    exact_distinct_rows: int = EXACT_DISTINCT_ROWS,
    distinct: bool = True,
) -> tuple[int, list[ColumnInfo]]:
    """Row count and per-column statistics, computed by the engine over the real data.

    Distinct counts are exact up to ``exact_distinct_rows`` rows and marked as estimates
    above; ``distinct=False`` skips them (a stream batch: they do not add up across batches).
    Where counting rows is cheap (Parquet footers, Delta, Arrow) the count decides first how
    distinct values are counted; a CSV or JSON file would be read twice for it, so it is
    profiled with estimates in one pass, and counted exactly in a second only when small.

    Its SQL is DuckDB's: the workspace profiles on its embedded DuckDB engine
    (``Workspace.local_engine``) whatever engine serves queries, so statistics read alike.
    """
    if engine.dialect != "duckdb":
        raise ConfigError(f"statistics are computed by DuckDB, not by {engine.name}")
    with _bound(engine, binding, kind) as target:
        described = _query(engine, f"DESCRIBE {target}", binding, kind)
        rows: int | None = None
        if kind not in _TEXT_FILES:
            rows = int(
                next(
                    iter(
                        _query(engine, f"SELECT count(*) FROM {target}", binding, kind)[0].values()
                    )
                )
            )
        exact = rows is not None and rows <= exact_distinct_rows
        stats: list[str] = ["count(*)"]
        for col in described:
            q = quote_ident(col["column_name"])
            nested = any(t in col["column_type"] for t in _NESTED)
            stats.append(f"count({q})")
            stats.append("NULL" if nested or not distinct else _distinct(q, exact))
            stats.append("NULL" if nested else f"min({q})::VARCHAR")
            stats.append("NULL" if nested else f"max({q})::VARCHAR")
        # Each statistic under its own name: repeated NULLs must not share a key.
        select = ", ".join(f"{e} AS s{i}" for i, e in enumerate(stats))
        row_values = list(
            _query(engine, f"SELECT {select} FROM {target}", binding, kind)[0].values()
        )
        rows = int(row_values[0])
        columns = []
        for i, col in enumerate(described):
            non_null, count, low, high = row_values[1 + 4 * i : 5 + 4 * i]
            columns.append(
                ColumnInfo(
                    name=col["column_name"],
                    data_type=col["column_type"],
                    nullable=col.get("null", "YES") != "NO",
                    null_count=rows - int(non_null),
                    distinct_count=None if count is None else int(count),
                    distinct_approx=count is not None and not exact,
                    min_value=clip(low),
                    max_value=clip(high),
                )
            )
        if distinct and not exact and rows <= exact_distinct_rows:  # a small text file
            columns = _count_distinct(engine, binding, kind, target, columns, exact=True)
    return rows, columns


def distinct_counts(
    engine: Engine,
    binding: Binding,
    columns: Sequence[ColumnInfo],
    rows: int,
    *,
    exact_distinct_rows: int = EXACT_DISTINCT_ROWS,
) -> list[ColumnInfo]:
    """``columns`` (of a table of ``rows`` rows) with their distinct counts measured: for
    statistics that did not come from :func:`profile_table` (a writer's measurements, an
    append's merged figures). Exact up to ``exact_distinct_rows`` rows, estimates above."""
    with _bound(engine, binding, "delta") as target:
        return _count_distinct(
            engine, binding, "delta", target, columns, exact=rows <= exact_distinct_rows
        )


def _count_distinct(
    engine: Engine,
    binding: Binding,
    kind: str,
    target: str,
    columns: Sequence[ColumnInfo],
    *,
    exact: bool,
) -> list[ColumnInfo]:
    """``columns`` with the distinct counts of bound relation ``target`` (nested types have
    none)."""
    wanted = [c for c in columns if not any(t in c.data_type for t in _NESTED)]
    if not wanted:
        return list(columns)
    select = ", ".join(
        f"{_distinct(quote_ident(c.name), exact)} AS s{i}" for i, c in enumerate(wanted)
    )
    values = list(_query(engine, f"SELECT {select} FROM {target}", binding, kind)[0].values())
    found = {c.name: int(v) for c, v in zip(wanted, values, strict=True) if v is not None}
    return [
        replace(c, distinct_count=found[c.name], distinct_approx=not exact)
        if c.name in found
        else c
        for c in columns
    ]


def _distinct(quoted: str, exact: bool) -> str:
    return f"count(DISTINCT {quoted})" if exact else f"approx_count_distinct({quoted})"


@contextmanager
def _bound(engine: Engine, binding: Binding, kind: str) -> Iterator[str]:
    """``binding`` bound under a private name for the duration, as the relation to read."""
    probe = Binding(
        schema="__dap_profile",
        name=f"t_{uuid.uuid4().hex[:12]}",
        kind=binding.kind,
        location=binding.location,
        signature=binding.signature,
        files=binding.files,
        arrow=binding.arrow,
        options=binding.options,
    )
    try:
        engine.bind([probe])
    except QueryFailed as e:
        raise SourceError(f"cannot read {binding.location} as {kind}: {e}") from e
    try:
        yield engine.relation(probe.schema, probe.name)
    finally:
        engine.unbind(probe)


def _query(engine: Engine, sql: str, binding: Binding, kind: str) -> list[dict[str, Any]]:
    try:
        rows: list[dict[str, Any]] = engine.execute_internal(sql).to_pylist()
    except QueryFailed as e:
        raise SourceError(f"cannot read {binding.location} as {kind}: {e}") from e
    return rows


_INTEGERS = frozenset(
    [
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    ]
)


def _order(data_type: str, value: str | None) -> Any:
    """A value as printed by DuckDB, as something that sorts like the value (None: cannot)."""
    if value is None or value.endswith("…"):  # clipped text is no bound
        return None
    kind = data_type.upper()
    try:
        if kind in _INTEGERS:
            return int(value)
        if kind in ("DOUBLE", "FLOAT", "REAL"):
            return float(value)
        if kind.startswith("DECIMAL"):
            return Decimal(value)
    except (ValueError, InvalidOperation):
        return None
    # Text, dates, timestamps (ISO, same zone) and true/false sort as their text does.
    return value


def merge_column_stats(a: ColumnInfo | None, b: ColumnInfo | None) -> ColumnInfo | None:
    """The statistics of one column over the rows of both ``a`` and ``b`` (same type), or None
    when they cannot be combined. Distinct counts do not add up: the result has none."""
    if a is None or b is None or a.data_type != b.data_type:
        return None

    def pick(x: str | None, y: str | None, low: bool) -> str | None:
        kx, ky = _order(a.data_type, x), _order(a.data_type, y)
        if kx is None or ky is None:
            return x if y is None and kx is not None else y if x is None else None
        return (x if kx <= ky else y) if low else (x if kx >= ky else y)

    nulls = None if a.null_count is None or b.null_count is None else a.null_count + b.null_count
    return ColumnInfo(
        name=a.name,
        data_type=a.data_type,
        nullable=a.nullable or b.nullable,
        null_count=nulls,
        distinct_count=None,
        distinct_approx=False,
        min_value=pick(a.min_value, b.min_value, True),
        max_value=pick(a.max_value, b.max_value, False),
    )


def written_stats(files: Sequence[ParquetFile], types: Mapping[str, str]) -> list[ColumnInfo]:
    """Column statistics of freshly written Parquet files, from their writer's measurements
    (``types``: column → DuckDB type name, in table order)."""
    columns: list[ColumnInfo] = []
    for name, data_type in types.items():
        merged: ColumnInfo | None = ColumnInfo(name=name, data_type=data_type, null_count=0)
        for f in files:
            if not f.rows:
                continue
            measured = f.columns.get(name, ColumnStats())
            one = ColumnInfo(
                name=name,
                data_type=data_type,
                null_count=measured.null_count,
                min_value=clip(measured.min),
                max_value=clip(measured.max),
            )
            merged = merge_column_stats(merged, one)
        columns.append(merged or ColumnInfo(name=name, data_type=data_type))
    return columns


def clip(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
