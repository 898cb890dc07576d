"""Reading files: find them, settle their columns and types (no rows read yet), then either
stream the rows or, for CSV and Parquet, have DuckDB write them straight to Parquet."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from ...errors import SchemaMismatch, SourceError
from ...lake import ParquetFile
from ...quarantine import empty_quarantine
from ..base import Extracted
from .csv import plan_csv
from .json import plan_json
from .listing import list_files
from .parquet import plan_parquet
from .parts import ReadState
from .types import arrow_type, conform, copyable, duck_type, unify_schemas
from .xlsx import plan_xlsx

_OPTIONS = {
    "delimiter",
    "header",
    "encoding",
    "quote",
    "escape",
    "sheet",
    "schema",
    "columns",
    "names",
    "type_tolerance",
    "max_line_size",
    "decimal_separator",
}


def read_files(
    path: str | Path,
    *,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    stream: bool = False,
) -> Extracted:
    """Read one file, a folder or a glob into Arrow; malformed rows go to ``Extracted.bad``.

    Options: ``delimiter``, ``header`` (bool), ``encoding``, ``quote``, ``escape``, ``sheet``
    (Excel: one sheet by name; all sheets when absent), ``schema`` (column → type: a DuckDB type
    name, a polars or an Arrow type), ``columns`` (keep only these), ``names`` (column names for
    a file without a header), ``type_tolerance``, ``max_line_size`` (CSV: bytes, 2 MB by
    default; a longer line is refused by name).

    Several files are combined by column name; a column whose types conflict between files is a
    :class:`SchemaMismatch`. With ``stream=True`` the data is a ``RecordBatchReader`` read as it
    is consumed (how ingestion loads big files), and ``bad`` is complete once it is exhausted.
    """
    extracted = plan_files(path, format=format, options=options).stream()
    if not stream:
        extracted.data = extracted.data.read_all()
    return extracted


def plan_files(
    path: str | Path, *, format: str | None = None, options: Mapping[str, Any] | None = None
) -> FilePlan:
    """Find the files and settle their columns and types (sniffing CSV), reading no rows yet.

    The plan is then either streamed (:meth:`FilePlan.stream`, what :func:`read_files` does) or,
    for CSV and Parquet, written straight to Parquet by DuckDB (:meth:`FilePlan.write_parquet`, how
    ingestion loads big files). Options as for :func:`read_files`.
    """
    opts = dict(options or {})
    unknown = sorted(set(opts) - _OPTIONS)
    if unknown:
        raise SourceError(
            f"unknown file option(s) {', '.join(unknown)}: use {', '.join(sorted(_OPTIONS))}"
        )
    files = list_files(path, format)
    reader = _Reader(files, opts)
    try:
        schema = reader.plan()
    except BaseException:
        reader.close()
        raise
    return FilePlan(str(path), reader, schema)


class FilePlan:
    """Files whose columns are known, ready to read once (see :func:`plan_files`)."""

    def __init__(self, source: str, reader: _Reader, schema: pa.Schema) -> None:
        self.source = source
        self.schema = schema
        self.files = [str(f.path) for f in reader.files]
        self.notes = reader.notes  # e.g. which sheet of a workbook was loaded
        self._reader = reader
        self.bad: pl.DataFrame = empty_quarantine()

    def __enter__(self) -> FilePlan:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def stream(self) -> Extracted:
        """The rows as a ``RecordBatchReader``; ``bad`` is complete once it is exhausted."""
        extracted = Extracted(data=pa.table({}), source=self.source, files=list(self.files))

        def finish(bad: pl.DataFrame) -> None:
            extracted.bad = self.bad = bad

        batches = self._reader.batches(self.schema, finish)
        extracted.data = pa.RecordBatchReader.from_batches(self.schema, batches)
        return extracted

    def can_write_parquet(self, schema: pa.Schema) -> bool:
        """Whether :meth:`write_parquet` can produce ``schema``: CSV files, and Parquet files
        whose columns DuckDB converts exactly as the streamed read would; flat plain types."""
        return all(copyable(f.type) for f in schema) and all(
            p.copy is not None and p.copies(schema) for p in self._reader.parts
        )

    def duckdb_types(self, schema: pa.Schema) -> dict[str, str]:
        """DuckDB's names of ``schema``'s column types (``BIGINT``, ``DECIMAL(10,2)``), as the
        engine shows them for the Parquet files :meth:`write_parquet` writes."""
        return {f.name: duck_type(self._reader.con, f.type) for f in schema}

    def write_parquet(
        self, directory: Path, schema: pa.Schema, progress: Callable[[int], None] | None = None
    ) -> list[ParquetFile]:
        """Write the rows as Parquet files into ``directory`` with ``schema``'s columns and
        types (DuckDB's parallel writer, one file per source file, with its statistics); the
        rows that could not be read land in ``self.bad``. On failure no file stays behind."""
        written: list[ParquetFile] = []
        try:
            for part in self._reader.parts:
                assert part.copy is not None, "check can_write_parquet first"
                files = part.copy(schema, directory)
                written.extend(files)
                if progress is not None:
                    progress(sum(f.rows for f in files))
        except BaseException:
            for file in written:
                file.path.unlink(missing_ok=True)
            raise
        finally:
            bad = [b for b in self._reader.bad if b.height]
            self.bad = pl.concat(bad, how="vertical") if bad else empty_quarantine()
            self.close()
        return written


class _Reader(ReadState):
    """Plans every part (schemas first, so conflicts show before a row is written), then
    streams them conformed to the combined schema."""

    def plan(self) -> pa.Schema:
        declared = {
            k: arrow_type(self.con, v) for k, v in dict(self.options.get("schema") or {}).items()
        }
        for file in self.files:
            if file.format == "csv":
                self.parts.append(plan_csv(self, file, declared))
            elif file.format == "parquet":
                self.parts.append(plan_parquet(self, file, declared))
            elif file.format in ("json", "ndjson"):
                self.parts.append(plan_json(self, file, declared))
            else:
                self.parts.extend(plan_xlsx(self, file, declared))
        schema = unify_schemas(self.parts)
        columns = self.options.get("columns")
        if columns:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise SchemaMismatch(
                    f"no column {', '.join(missing)} in {self.files[0].path}"
                    + (f" and {len(self.files) - 1} more file(s)" if len(self.files) > 1 else "")
                    + f"; columns are {', '.join(schema.names)}"
                )
            schema = pa.schema([schema.field(c) for c in columns])
        return schema

    def batches(
        self, schema: pa.Schema, finish: Callable[[pl.DataFrame], None]
    ) -> Iterator[pa.RecordBatch]:
        try:
            for part in self.parts:
                for batch in part.produce(schema):
                    if batch.num_rows:
                        yield conform(batch, schema, part.source)
            bad = [b for b in self.bad if b.height]
            finish(pl.concat(bad, how="vertical") if bad else empty_quarantine())
        finally:
            self.close()
