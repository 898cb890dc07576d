"""What every format's planner shares while one read is planned and streamed: the part it
plans (one file or sheet, with its schema and where its batches come from), and the read's
own DuckDB connection, temporary folder and quarantined rows."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from ...lake import ParquetFile
from .listing import SourceFile

PARSE_RULE = "parse"  # the quarantine rule name of rows that could not be read
BATCH_ROWS = 122_880
TYPE_TOLERANCE = 0.05


@dataclass
class Part:
    """One file (or Excel sheet) ready to stream, and where its batches come from."""

    source: str
    schema: pa.Schema
    produce: Callable[[pa.Schema], Iterator[pa.RecordBatch]]
    # CSV and Parquet: write the rows as Parquet files into a folder (one; a CSV one more after
    # each stray quote), with the given columns (``copies`` says whether this part can produce
    # those columns that way).
    copy: Callable[[pa.Schema, Path], list[ParquetFile]] | None = None
    copies: Callable[[pa.Schema], bool] = lambda _target: True


@dataclass
class ReadState:
    """The files of one read, its options, the parts planned and the rows quarantined so far,
    and the resources the formats share (opened on first use, released by :meth:`close`)."""

    files: list[SourceFile]
    options: dict[str, Any]
    parts: list[Part] = field(default_factory=list)
    bad: list[pl.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a reader chose that a person should know
    _con: duckdb.DuckDBPyConnection | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    scans: int = 0  # CSV scans so far: each keeps its rejects in tables of its own

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("SET TimeZone = 'UTC'")
        return self._con

    @property
    def tmp(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dap-ingest-")
        return Path(self._tmp.name)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
