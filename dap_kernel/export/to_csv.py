"""CSV export: record batches streamed through Arrow's writer, in a form polars reads back
identically (nulls empty, empty strings ``""``, ISO 8601 timestamps)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .errors import ExportError
from .formats import Data
from .inputs import Queries, _table

CSV_BATCH_ROWS = 65_536


def _batches(
    data: Data,
    params: Mapping[str, Any] | Sequence[Any] | None,
    session: Queries | None,
    read: list[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    if isinstance(data, pa.RecordBatchReader):
        yield from data
        return
    table = _table(data, params, session, read=read)
    if table.num_columns == 0:
        raise ExportError("the result has no columns to export")
    yield from table.to_batches(max_chunksize=CSV_BATCH_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]


def write_csv(batches: Iterable[pa.RecordBatch], path: Path) -> int:
    """Stream record batches into a CSV file; returns the number of rows written."""
    import pyarrow.csv as pacsv

    writer: pacsv.CSVWriter | None = None
    rows = 0
    options = pacsv.WriteOptions(quoting_style="needed", quoting_header="needed")
    try:
        for batch in batches:
            ready = _csv_ready(batch)
            if writer is None:
                writer = pacsv.CSVWriter(str(path), ready.schema, write_options=options)
            writer.write_batch(ready)
            rows += batch.num_rows
    except pa.ArrowException as e:
        raise ExportError(f"cannot write the CSV: {e}") from e
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ExportError("the result has no columns to export")
    return rows


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns in a form CSV readers agree on: ISO 8601 times, JSON for nested values."""
    columns = [_csv_column(col) for col in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _csv_column(col: pa.Array) -> pa.Array:
    typ = col.type
    if pa.types.is_dictionary(typ):
        return _csv_column(col.cast(typ.value_type))
    if pa.types.is_timestamp(typ):
        if typ.tz is not None:  # one offset for every row: UTC, written with a Z
            col = col.cast(pa.timestamp(typ.unit, tz="UTC"))
        text = pc.cast(col, pa.string())
        return pc.replace_substring(text, " ", "T", max_replacements=1)
    if pa.types.is_duration(typ):
        return pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())
    if pa.types.is_nested(typ):
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()],
            pa.string(),
        )
    return col
