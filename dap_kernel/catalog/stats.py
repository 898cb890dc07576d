"""Column statistics: profiled by the engine over a table's rows, measured by the Parquet
writer, or combined for an append (row and null counts add up, min/max widen)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ..engines.base import Binding, Engine
from ..engines.names import quote_ident
from ..errors import ConfigError, QueryFailed, SourceError
from ..lake import ColumnStats, ParquetFile
from .models import ColumnInfo


def profile_table(engine: Engine, binding: Binding, kind: str) -> tuple[int, list[ColumnInfo]]:
    """Row count and per-column statistics, computed by the engine over the real data.

    Its SQL is DuckDB's: the workspace profiles on its embedded DuckDB engine
    (``Workspace.local_engine``) whatever engine serves queries, so statistics read alike.
    """
    if engine.dialect != "duckdb":
        raise ConfigError(f"statistics are computed by DuckDB, not by {engine.name}")
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
    target = engine.relation(probe.schema, probe.name)
    try:
        engine.bind([probe])
        described = engine.execute_internal(f"DESCRIBE {target}").to_pylist()
    except QueryFailed as e:
        raise SourceError(f"cannot read {binding.location} as {kind}: {e}") from e
    stats: list[str] = ["count(*)"]
    for col in described:
        q = quote_ident(col["column_name"])
        nested = any(t in col["column_type"] for t in ("STRUCT", "[]", "MAP", "UNION"))
        stats.append(f"count({q})")
        stats.append("NULL" if nested else f"approx_count_distinct({q})")
        stats.append("NULL" if nested else f"min({q})::VARCHAR")
        stats.append("NULL" if nested else f"max({q})::VARCHAR")
    try:
        values = engine.execute_internal(
            # Each statistic under its own name: repeated NULLs must not share a key.
            f"SELECT {', '.join(f'{e} AS s{i}' for i, e in enumerate(stats))} FROM {target}"
        ).to_pylist()[0]
    except QueryFailed as e:
        raise SourceError(f"cannot read {binding.location} as {kind}: {e}") from e
    finally:
        engine.unbind(probe)
    row_values = list(values.values())
    rows = int(row_values[0])
    columns = []
    for i, col in enumerate(described):
        non_null, distinct, low, high = row_values[1 + 4 * i : 5 + 4 * i]
        columns.append(
            ColumnInfo(
                name=col["column_name"],
                data_type=col["column_type"],
                nullable=col.get("null", "YES") != "NO",
                null_count=rows - int(non_null),
                distinct_count=None if distinct is None else int(distinct),
                min_value=clip(low),
                max_value=clip(high),
            )
        )
    return rows, columns


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
