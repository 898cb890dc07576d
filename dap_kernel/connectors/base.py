"""What every source hands to ingestion and pipelines: rows, rejected rows, a high-water mark."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from ..quarantine import empty_quarantine


@dataclass
class Extracted:
    """One read of a source.

    ``data`` holds the rows that could be read (a table, or a stream for large sources);
    ``bad`` the rows that could not, shaped by :func:`dap_kernel.quarantine.quarantine_frame`
    (with file and line, or page and index); ``watermark`` the largest value of the incremental
    column seen, which the next incremental read starts after.
    """

    data: pa.Table | pa.RecordBatchReader
    bad: pl.DataFrame = field(default_factory=empty_quarantine)
    watermark: Any = None
    source: str = ""  # where it came from, for people and lineage (URLs redacted)
    files: list[str] = field(default_factory=list)

    def to_table(self) -> pa.Table:
        """Materialise a streamed read (pipelines that transform need the whole batch)."""
        if isinstance(self.data, pa.RecordBatchReader):
            self.data = self.data.read_all()
        return self.data
