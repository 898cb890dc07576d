"""Column types: declared types as Arrow, Arrow types as DuckDB names, the type two files'
columns both fit in, and batches conformed to the combined schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from ...errors import SchemaMismatch, SourceError
from .parts import Part, first_line


def arrow_type(con: duckdb.DuckDBPyConnection, value: Any) -> pa.DataType:
    """A declared column type (a DuckDB type name, a polars or an Arrow type) as Arrow."""
    if isinstance(value, pa.DataType):
        return value
    if isinstance(value, str):
        try:
            return con.sql(f"SELECT NULL::{value} AS c LIMIT 0").to_arrow_table().schema[0].type
        except duckdb.Error as e:
            raise SourceError(f"unknown column type {value!r} in the schema option") from e
    try:
        return pl.Series([], dtype=value).to_arrow().type  # a polars type
    except (TypeError, ValueError) as e:
        raise SourceError(f"unknown column type {value!r} in the schema option") from e


def duck_type(con: duckdb.DuckDBPyConnection, arrow: pa.DataType) -> str:
    """DuckDB's name of an Arrow type (``BIGINT``, ``DECIMAL(10,2)``); text is ``VARCHAR``."""
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return "VARCHAR"
    if pa.types.is_string_view(arrow):
        return "VARCHAR"
    empty = pa.table({"c": pa.array([], arrow)})
    return str(con.from_arrow(empty).types[0])


# The Arrow types DuckDB writes to Parquet exactly as the Delta writer would (flat columns).
def copyable(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return t.unit == "us" and t.tz in (None, "UTC")
    return bool(
        pa.types.is_boolean(t)
        or (pa.types.is_integer(t) and not pa.types.is_unsigned_integer(t))
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
        or pa.types.is_decimal128(t)
        or pa.types.is_date32(t)
        or is_text(t)
    )


def is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def unify_types(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both fit in without losing values, or None when they conflict."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if is_text(a) and is_text(b):
        return (
            pa.large_string()
            if pa.types.is_large_string(a) or pa.types.is_large_string(b)
            else pa.string()
        )
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return pa.int64()
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(a) for f in numeric) and any(f(b) for f in numeric):
        return pa.float64()
    if pa.types.is_date(a) and pa.types.is_timestamp(b):
        return b
    if pa.types.is_timestamp(a) and pa.types.is_date(b):
        return a
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b) and a.tz == b.tz:
        return pa.timestamp("us", a.tz)
    return None


def unify_schemas(parts: Sequence[Part]) -> pa.Schema:
    """Columns of every part by name (first seen first); types widened, conflicts refused."""
    fields: dict[str, pa.DataType] = {}
    seen_in: dict[str, str] = {}
    for part in parts:
        for f in part.schema:
            if f.name not in fields:
                fields[f.name], seen_in[f.name] = f.type, part.source
                continue
            merged = unify_types(fields[f.name], f.type)
            if merged is None:
                raise SchemaMismatch(
                    f"column {f.name} is {f.type} in {part.source} but {fields[f.name]} "
                    f"in {seen_in[f.name]}: load the files separately or declare its type"
                )
            fields[f.name] = merged
    return pa.schema([pa.field(n, t) for n, t in fields.items()])


def conform(batch: pa.RecordBatch, schema: pa.Schema, source: str) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    arrays = []
    for f in schema:
        i = batch.schema.get_field_index(f.name)
        if i < 0:
            arrays.append(pa.nulls(batch.num_rows, f.type))
            continue
        column = batch.column(i)
        if column.type != f.type:
            try:
                column = column.cast(f.type)
            except pa.ArrowException as e:
                raise SchemaMismatch(
                    f"column {f.name} of {source} ({column.type}) does not convert to "
                    f"{f.type}: {first_line(e)}"
                ) from e
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
