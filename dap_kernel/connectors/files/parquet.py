"""Parquet files: their own schema, read in batches (a compressed one from a plain copy)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import SourceError
from .listing import SourceFile
from .parts import BATCH_ROWS, Part, ReadState, first_line
from .raw import plain_copy


def plan_parquet(state: ReadState, file: SourceFile) -> Part:
    source = str(file.path)
    path = plain_copy(file, state.tmp) if file.compression else file.path
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"{source} is not a readable Parquet file: {first_line(e)}") from e

    def produce(_target: pa.Schema) -> Iterator[pa.RecordBatch]:
        try:
            yield from parquet.iter_batches(batch_size=BATCH_ROWS)
        except (pa.ArrowException, OSError) as e:
            raise SourceError(f"{source} is not a readable Parquet file: {first_line(e)}") from e

    return Part(source=source, schema=schema, produce=produce)
