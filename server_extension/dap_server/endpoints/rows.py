"""Arrow results as JSON rows and as Arrow IPC streams."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def json_rows(table: pa.Table, offset: int = 0, count: int | None = None) -> list[list[Any]]:
    """Rows in column order; pydantic turns dates, decimals and bytes into JSON on output."""
    part = table.slice(offset, count) if count is not None else table.slice(offset)
    columns = [column.to_pylist() for column in part.columns]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
