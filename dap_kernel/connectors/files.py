"""File sources: CSV/TSV, Parquet, JSON/NDJSON and Excel files, globs and folders, ``.gz``/``.zst``.

CSV is the bulk case, so it takes DuckDB's parallel reader on an in-memory connection of its own
(not the workspace engine, which is locked down and governed: these are the user's own files,
read before anything reaches the catalog). DuckDB keeps the lines it cannot parse
(``store_rejects``); only those take the slow path in Python, to be quarantined with the file
and the physical line they came from. Nothing malformed is dropped and nothing malformed fails
the load: a file that is not readable at all is a :class:`SourceError`. For loading, CSV can
skip Arrow altogether: :meth:`FilePlan.write_parquet` has DuckDB ``COPY`` the rows into Parquet
files (with the same types and rejects) and hand back each file's statistics.

Column types are DuckDB's sniffed ones, with one tolerance: a text column whose values are
numbers (or dates) except for a few (at most ``type_tolerance``, 5 % of the sample by default)
is read as numbers, and the few go to quarantine ("amount: 'abc' is not a number"). A column
with more junk than that stays text. ``options["schema"]`` declares types outright.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import gzip
import io
import json
import re
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import SchemaMismatch, SourceError
from ..lake import ColumnStats, ParquetFile
from ..quarantine import empty_quarantine, quarantine_frame
from .base import Extracted

__all__ = ["FORMATS", "PARSE_RULE", "FilePlan", "list_files", "plan_files", "read_files"]

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".xlsx": "xlsx",
}
_FORMAT_NAMES = {
    "csv": "csv",
    "tsv": "csv",
    "txt": "csv",
    "parquet": "parquet",
    "json": "json",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
    "xlsx": "xlsx",
    "excel": "xlsx",
}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
PARSE_RULE = "parse"  # the quarantine rule name of rows that could not be read
SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 20_000
BATCH_ROWS = 122_880
TYPE_TOLERANCE = 0.05
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
}


# -- which files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    path: Path
    format: str  # csv | parquet | json | ndjson | xlsx
    compression: str | None  # gzip | zstd | None
    suffix: str  # the extension that gave the format, e.g. ".tsv"


def _split_suffix(path: Path) -> tuple[str, str | None]:
    """``a.csv.gz`` → (".csv", "gzip")."""
    suffix = path.suffix.lower()
    compression = _COMPRESSIONS.get(suffix)
    if compression:
        suffix = Path(path.stem).suffix.lower()
    return suffix, compression


def _source_file(path: Path, format: str | None) -> SourceFile | None:
    suffix, compression = _split_suffix(path)
    kind = _FORMAT_NAMES.get(format.lower()) if format else FORMATS.get(suffix)
    if format and kind is None:
        names = ", ".join(sorted(_FORMAT_NAMES))
        raise SourceError(f"unknown format {format!r}: use one of {names}")
    if kind is None:
        return None
    if format and format.lower() == "tsv":
        suffix = ".tsv"
    return SourceFile(path=path, format=kind, compression=compression, suffix=suffix)


def list_files(path: str | Path, format: str | None = None) -> list[SourceFile]:
    """The files a path names: one file, every supported file of a folder, or a glob's matches."""
    text = str(Path(path).expanduser())
    if any(ch in text for ch in "*?["):
        candidates = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
        candidates = [p for p in candidates if p.is_file()]
        where = f"no files match {text}"
    else:
        root = Path(text)
        if root.is_dir():
            # Hidden files and folders (.ipynb_checkpoints) and markers (_SUCCESS) are not data;
            # in a folder the extension decides, even with a format (a glob takes every match).
            candidates = sorted(
                p
                for p in root.rglob("*")
                if p.is_file()
                and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
                and (
                    format is None
                    or FORMATS.get(_split_suffix(p)[0]) == _FORMAT_NAMES.get(format.lower())
                )
            )
            where = f"no supported files in folder {root} (for other names use a glob and a format)"
        elif root.is_file():
            found = _source_file(root, format)
            if found is None:
                raise SourceError(
                    f"cannot tell the format of {root}: pass a format "
                    "(csv, tsv, parquet, json, ndjson, xlsx)"
                )
            return [found]
        else:
            raise SourceError(f"file not found: {root}")
    files = [f for f in (_source_file(p, format) for p in candidates) if f is not None]
    if not files:
        raise SourceError(where)
    return files


# -- reading -------------------------------------------------------------------------------


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
    a file without a header), ``type_tolerance``.

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
    for CSV, written straight to Parquet by DuckDB (:meth:`FilePlan.write_parquet`, how
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


# The Arrow types DuckDB writes to Parquet exactly as the Delta writer would (flat columns).
def _copyable(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return t.unit == "us" and t.tz in (None, "UTC")
    return bool(
        pa.types.is_boolean(t)
        or (pa.types.is_integer(t) and not pa.types.is_unsigned_integer(t))
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
        or pa.types.is_decimal128(t)
        or pa.types.is_date32(t)
        or _is_text(t)
    )


class FilePlan:
    """Files whose columns are known, ready to read once (see :func:`plan_files`)."""

    def __init__(self, source: str, reader: _Reader, schema: pa.Schema) -> None:
        self.source = source
        self.schema = schema
        self.files = [str(f.path) for f in reader.files]
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
        """Whether :meth:`write_parquet` can produce ``schema``: CSV files, flat plain types."""
        return all(p.copy is not None for p in self._reader.parts) and all(
            _copyable(f.type) for f in schema
        )

    def duckdb_types(self, schema: pa.Schema) -> dict[str, str]:
        """DuckDB's names of ``schema``'s column types (``BIGINT``, ``DECIMAL(10,2)``), as the
        engine shows them for the Parquet files :meth:`write_parquet` writes."""
        return {f.name: _duck_type(self._reader.con, f.type) for f in schema}

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
                file = part.copy(schema, directory)
                written.append(file)
                if progress is not None:
                    progress(file.rows)
        except BaseException:
            for file in written:
                file.path.unlink(missing_ok=True)
            raise
        finally:
            bad = [b for b in self._reader.bad if b.height]
            self.bad = pl.concat(bad, how="vertical") if bad else empty_quarantine()
            self.close()
        return written


@dataclass
class _Part:
    """One file (or Excel sheet) ready to stream, and where its batches come from."""

    source: str
    schema: pa.Schema
    produce: Callable[[pa.Schema], Iterator[pa.RecordBatch]]
    # CSV only: write the rows as one Parquet file into a folder, with the given columns.
    copy: Callable[[pa.Schema, Path], ParquetFile] | None = None


@dataclass(frozen=True)
class _CsvScan:
    """One CSV file as DuckDB reads it, with its final column types: reading the rows, copying
    them to Parquet and quarantining the rejects all need the same facts."""

    source: str
    read_path: str
    compression: str | None
    csv_args: Mapping[str, Any]
    names: list[str]
    types: list[str]


@dataclass
class _Reader:
    files: list[SourceFile]
    options: dict[str, Any]
    parts: list[_Part] = field(default_factory=list)
    bad: list[pl.DataFrame] = field(default_factory=list)
    _con: duckdb.DuckDBPyConnection | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _scans: int = 0

    # -- shared resources ------------------------------------------------------------------

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

    # -- planning: schemas first, so conflicts show before a row is written -----------------

    def plan(self) -> pa.Schema:
        declared = {
            k: self._arrow_type(v) for k, v in dict(self.options.get("schema") or {}).items()
        }
        for file in self.files:
            if file.format == "csv":
                self.parts.append(self._plan_csv(file, declared))
            elif file.format == "parquet":
                self.parts.append(self._plan_parquet(file))
            elif file.format in ("json", "ndjson"):
                self.parts.append(self._plan_json(file, declared))
            else:
                self.parts.extend(self._plan_xlsx(file, declared))
        schema = _unify_schemas(self.parts)
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
                        yield _conform(batch, schema, part.source)
            bad = [b for b in self.bad if b.height]
            finish(pl.concat(bad, how="vertical") if bad else empty_quarantine())
        finally:
            self.close()

    def _arrow_type(self, value: Any) -> pa.DataType:
        if isinstance(value, pa.DataType):
            return value
        if isinstance(value, str):
            try:
                return (
                    self.con.sql(f"SELECT NULL::{value} AS c LIMIT 0")
                    .to_arrow_table()
                    .schema[0]
                    .type
                )
            except duckdb.Error as e:
                raise SourceError(f"unknown column type {value!r} in the schema option") from e
        try:
            return pl.Series([], dtype=value).to_arrow().type  # a polars type
        except (TypeError, ValueError) as e:
            raise SourceError(f"unknown column type {value!r} in the schema option") from e

    # -- CSV -------------------------------------------------------------------------------

    def _plan_csv(self, file: SourceFile, declared: Mapping[str, pa.DataType]) -> _Part:
        source = str(file.path)
        sample = _head(file, SAMPLE_BYTES)
        if not sample.strip():
            raise SourceError(f"{source} is empty: no header and no rows")
        encoding = self._encoding(file, sample)
        if b"\x00" in sample and not encoding.startswith("utf-16"):
            raise SourceError(f"{source} is not a text file, so not a CSV (it holds binary data)")
        read_path, duck_encoding, compressed = str(file.path), "utf-8", file.compression
        if encoding == codecs.lookup("latin-1").name and "encoding" in self.options:
            duck_encoding = "latin-1"
        elif encoding not in ("utf-8", "utf-8-sig", "ascii"):
            read_path = str(_transcode(file, encoding, self.tmp))
            compressed = None
        text = sample.decode(
            "utf-8" if encoding in ("ascii", "utf-8-sig") else encoding,
            errors="replace",
        ).lstrip("\ufeff")
        quote = str(self.options.get("quote", '"'))
        delimiter = _delimiter_option(self.options.get("delimiter"))
        if delimiter is None:
            delimiter = "\t" if file.suffix == ".tsv" else _detect_delimiter(text, quote)
        header = self.options.get("header")
        sniff_args: dict[str, Any] = {"delim": delimiter, "quote": quote, "encoding": duck_encoding}
        if header is not None:
            sniff_args["header"] = bool(header)
        if "escape" in self.options:
            sniff_args["escape"] = str(self.options["escape"])
        try:
            sniffed = self.con.execute(
                "SELECT HasHeader, Columns, Escape, DateFormat, TimestampFormat FROM sniff_csv(?, "
                + ", ".join(f"{k} := ?" for k in sniff_args)
                + ", ignore_errors := true)",
                [read_path, *sniff_args.values()],
            ).fetchall()[0]
        except duckdb.Error as e:
            raise SourceError(f"cannot read {source} as CSV: {_first_line(e)}") from e
        assert sniffed is not None
        has_header, columns, escape, date_format, ts_format = sniffed
        has_header = bool(has_header) if header is None else bool(header)
        names = [c["name"] for c in columns]
        # Delta Lake has no time-of-day type: such a column keeps its text as written.
        types = [
            "VARCHAR"
            if c["type"].startswith(("TIME ", "TIME WITH")) or c["type"] == "TIME"
            else c["type"]
            for c in columns
        ]
        given = self.options.get("names")
        if given:
            if len(given) != len(names):
                raise SchemaMismatch(
                    f"{source} has {len(names)} columns but {len(given)} names were given"
                )
            names = [str(n) for n in given]
        escape = str(self.options.get("escape", "" if escape in (None, "(empty)") else escape))
        if not escape and quote:
            escape = quote  # RFC 4180: a quote inside a quoted field is doubled
        csv_args: dict[str, Any] = {
            "delim": delimiter,
            "quote": quote,
            "escape": escape,
            "header": has_header,
            "encoding": duck_encoding,
        }
        if date_format:
            csv_args["dateformat"] = date_format
        if ts_format:
            csv_args["timestampformat"] = ts_format
        types = self._refine_types(read_path, csv_args, names, types, declared)
        for i, name in enumerate(names):
            if name in declared:
                types[i] = _duck_type(self.con, declared[name])
        schema = self._duck_schema(names, types)

        def scan(target: pa.Schema) -> _CsvScan:
            # Read with the final types (another file may have widened a column).
            final = [
                _duck_type(self.con, target.field(n).type) if n in target.names else t
                for n, t in zip(names, types, strict=True)
            ]
            return _CsvScan(source, read_path, compressed, csv_args, names, final)

        def produce(target: pa.Schema) -> Iterator[pa.RecordBatch]:
            yield from self._read_csv(scan(target))

        def copy(target: pa.Schema, directory: Path) -> ParquetFile:
            return self._copy_csv(scan(target), target, directory)

        return _Part(source=source, schema=schema, produce=produce, copy=copy)

    def _encoding(self, file: SourceFile, sample: bytes) -> str:
        given = self.options.get("encoding")
        if given:
            try:
                return codecs.lookup(str(given)).name
            except LookupError as e:
                raise SourceError(f"unknown encoding {given!r}") from e
        return _detect_encoding(sample)

    def _refine_types(
        self,
        read_path: str,
        csv_args: Mapping[str, Any],
        names: list[str],
        types: list[str],
        declared: Mapping[str, pa.DataType],
    ) -> list[str]:
        """Text columns that are numbers or dates but for a few values take that type."""
        candidates = [i for i, t in enumerate(types) if t == "VARCHAR" and names[i] not in declared]
        if not candidates:
            return list(types)
        tolerance = float(self.options.get("type_tolerance", TYPE_TOLERANCE))
        kinds = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP")
        exprs = []
        for i in candidates:
            c = _ident(f"c{i}")
            exprs.append(f"count({c})")
            exprs.append(f"count(*) FILTER (WHERE regexp_matches({c}, '^\\s*[-+]?0\\d'))")
            # DuckDB casts '1.5' to BIGINT by rounding: integers must look like integers.
            exprs.append(f"count(*) FILTER (WHERE regexp_full_match({c}, '\\s*[-+]?\\d+\\s*'))")
            exprs.extend(f"count(TRY_CAST({c} AS {k}))" for k in kinds[1:])
        args = dict(csv_args)
        args.update(
            all_varchar=True, ignore_errors=True, names=[f"c{i}" for i in range(len(names))]
        )
        sql = (
            f"SELECT {', '.join(exprs)} FROM (SELECT * FROM read_csv({_lit(read_path)}, "
            f"{_args(args)}) LIMIT {SAMPLE_ROWS})"
        )
        try:
            row = self.con.sql(sql).fetchall()[0]
        except duckdb.Error:
            return list(types)  # the real read reports what is wrong
        refined = list(types)
        width = 2 + len(kinds)
        for n, i in enumerate(candidates):
            values, zero_padded, *converted = row[n * width : (n + 1) * width]
            if not values:
                continue
            for kind, good in zip(kinds, converted, strict=True):
                bad = values - good
                if kind in ("BIGINT", "DOUBLE") and zero_padded:
                    continue  # codes like 007 stay text
                if 0 < bad <= tolerance * values:
                    refined[i] = kind
                    break
        return refined

    def _duck_schema(self, names: Sequence[str], types: Sequence[str]) -> pa.Schema:
        if not names:
            return pa.schema([])
        select = ", ".join(f"NULL::{t} AS {_ident(n)}" for n, t in zip(names, types, strict=True))
        return self.con.sql(f"SELECT {select} LIMIT 0").to_arrow_table().schema

    def _rejecting_args(self, scan: _CsvScan) -> tuple[str, dict[str, Any]]:
        """``read_csv`` arguments for ``scan`` that keep the malformed rows in a rejects table of
        this scan's own (named first), for ``_csv_rejects`` to quarantine."""
        self._scans += 1
        rejects, scans = f"dap_rejects_{self._scans}", f"dap_scans_{self._scans}"
        args = dict(scan.csv_args)
        args["columns"] = dict(zip(scan.names, scan.types, strict=True))
        args.update(store_rejects=True, rejects_table=rejects, rejects_scan=scans)
        return rejects, args

    def _read_csv(self, scan: _CsvScan) -> Iterator[pa.RecordBatch]:
        rejects, args = self._rejecting_args(scan)
        sql = f"SELECT * FROM read_csv({_lit(scan.read_path)}, {_args(args)})"
        try:
            reader = self.con.sql(sql).to_arrow_reader(BATCH_ROWS)
            yield from reader
        except (duckdb.Error, pa.ArrowException) as e:
            raise SourceError(f"cannot read {scan.source} as CSV: {_first_line(e)}") from e
        self.bad.append(self._csv_rejects(rejects, scan))

    def _copy_csv(self, scan: _CsvScan, target: pa.Schema, directory: Path) -> ParquetFile:
        """``COPY (SELECT … FROM read_csv(…)) TO 'part-<uuid>.parquet'``: DuckDB reads and writes
        in parallel without the rows crossing into Python, and returns the file's statistics."""
        rejects, args = self._rejecting_args(scan)
        read_as = dict(zip(scan.names, scan.types, strict=True))
        select = []
        for f in target:
            want = _duck_type(self.con, f.type)
            if f.name not in read_as:
                expr = f"NULL::{want}"
            elif read_as[f.name] != want:
                expr = f"CAST({_ident(f.name)} AS {want})"
            else:
                expr = _ident(f.name)
            select.append(f"{expr} AS {_ident(f.name)}")
        out = directory / f"part-{uuid.uuid4()}.parquet"
        sql = (
            f"COPY (SELECT {', '.join(select)} FROM read_csv({_lit(scan.read_path)}, "
            f"{_args(args)})) "
            f"TO {_lit(str(out))} (FORMAT parquet, RETURN_STATS)"
        )
        try:
            row = self.con.execute(sql).fetchall()[0]
        except duckdb.Error as e:
            out.unlink(missing_ok=True)
            raise SourceError(f"cannot read {scan.source} as CSV: {_first_line(e)}") from e
        self.bad.append(self._csv_rejects(rejects, scan))
        booleans = {f.name for f in target if pa.types.is_boolean(f.type)}
        return ParquetFile(
            path=out,
            rows=int(row[1]),
            size=int(row[2]),
            columns=_return_stats(row[4] or {}, booleans),
        )

    def _csv_rejects(self, table: str, scan: _CsvScan) -> pl.DataFrame:
        rows = self.con.sql(
            f"SELECT line_byte_position, any_value(csv_line), list(error_type), "
            f"list(column_name), list(error_message) FROM {table} "
            "GROUP BY line_byte_position ORDER BY line_byte_position"
        ).fetchall()
        if not rows:
            return empty_quarantine()
        names = scan.names
        lines = _physical_lines(Path(scan.read_path), scan.compression, [r[0] for r in rows])
        type_of = dict(zip(names, scan.types, strict=True))
        records: list[list[Any]] = []
        reasons: list[str] = []
        extra_any = False
        for _pos, text, kinds, columns, messages in rows:
            fields = _split_line(text or "", scan.csv_args)
            record: list[Any] = [*fields[: len(names)], *([None] * (len(names) - len(fields)))]
            extra = fields[len(names) :]
            extra_any = extra_any or bool(extra)
            records.append([*record, extra or None])
            why: list[str] = []
            for kind, column, message in zip(kinds, columns, messages, strict=True):
                reason = _reject_reason(kind, column, message, len(names), len(fields), type_of)
                if reason not in why:
                    why.append(reason)
            reasons.append("; ".join(why))
        schema: dict[str, Any] = {n: pl.String for n in names}
        frame = pl.DataFrame([r[: len(names)] for r in records], schema=schema, orient="row")
        if extra_any:
            frame = frame.with_columns(
                pl.Series("_extra", [r[-1] for r in records], dtype=pl.List(pl.String))
            )
        return quarantine_frame(
            frame,
            rule=PARSE_RULE,
            reason=reasons,
            source=scan.source,
            line=[lines.get(r[0]) for r in rows],
        )

    # -- Parquet ---------------------------------------------------------------------------

    def _plan_parquet(self, file: SourceFile) -> _Part:
        source = str(file.path)
        path = _plain_copy(file, self.tmp) if file.compression else file.path
        try:
            parquet = pq.ParquetFile(path)
            schema = parquet.schema_arrow
        except (pa.ArrowException, OSError) as e:
            raise SourceError(f"{source} is not a readable Parquet file: {_first_line(e)}") from e

        def produce(_target: pa.Schema) -> Iterator[pa.RecordBatch]:
            try:
                yield from parquet.iter_batches(batch_size=BATCH_ROWS)
            except (pa.ArrowException, OSError) as e:
                raise SourceError(
                    f"{source} is not a readable Parquet file: {_first_line(e)}"
                ) from e

        return _Part(source=source, schema=schema, produce=produce)

    # -- JSON and NDJSON -------------------------------------------------------------------

    def _plan_json(self, file: SourceFile, declared: Mapping[str, pa.DataType]) -> _Part:
        source = str(file.path)
        data = _read_all(file)
        stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped:
            raise SourceError(f"{source} is empty: no JSON records")
        lines: list[int | None] | None = None
        if stripped.startswith(b"["):
            frame = _json_array(data, source)
        else:
            frame, lines, bad = _ndjson(data, source)
            if bad.height:
                self.bad.append(bad)
        frame = self._coerce(frame, declared, source, lines, "")
        return _frame_part(frame, source)

    # -- Excel -----------------------------------------------------------------------------

    def _plan_xlsx(self, file: SourceFile, declared: Mapping[str, pa.DataType]) -> list[_Part]:
        source = str(file.path)
        path = _plain_copy(file, self.tmp) if file.compression else file.path
        sheet = self.options.get("sheet")
        try:
            import fastexcel

            workbook = fastexcel.read_excel(str(path))
            sheets = list(workbook.sheet_names)
        except Exception as e:  # fastexcel raises its own error types per failure
            raise SourceError(f"{source} is not a readable .xlsx workbook: {_first_line(e)}") from e
        if sheet is not None and str(sheet) not in sheets:
            raise SourceError(f"{source} has no sheet {sheet!r}; sheets: {', '.join(sheets)}")
        parts = []
        for name in [str(sheet)] if sheet is not None else sheets:
            try:
                frame = pl.read_excel(path, sheet_name=name, engine="calamine")
            except Exception as e:
                if sheet is None and "empty" in str(e).lower():
                    continue
                raise SourceError(
                    f"cannot read sheet {name!r} of {source}: {_first_line(e)}"
                ) from e
            if frame.width == 0:
                continue
            lines: list[int | None] = list(range(2, frame.height + 2))  # row 1 is the header
            frame = self._coerce(frame, declared, source, lines, f" (sheet {name})")
            parts.append(_frame_part(frame, source))
        if not parts:
            raise SourceError(f"{source} has no data on any sheet")
        return parts

    # -- type coercion of frames read whole (JSON, Excel) ----------------------------------

    def _coerce(
        self,
        frame: pl.DataFrame,
        declared: Mapping[str, pa.DataType],
        source: str,
        lines: list[int | None] | None,
        where: str,
    ) -> pl.DataFrame:
        """Cast declared columns, and mostly-numeric text columns, keeping failures per row."""
        tolerance = float(self.options.get("type_tolerance", TYPE_TOLERANCE))
        failures: list[pl.Series] = []
        columns: dict[str, pl.Series] = {}
        for name in frame.columns:
            series = frame[name]
            converted: pl.Series | None = None
            if name in declared:
                dtype = pl.from_arrow(pa.array([], declared[name])).dtype  # type: ignore[union-attr]
                if series.dtype != dtype:
                    converted = _convert(series, dtype)
            elif series.dtype == pl.String:
                converted = _numeric_guess(series, tolerance)
            if converted is None:
                continue
            failed = series.is_not_null() & converted.is_null()
            if failed.any():
                kind = _kind_of(converted.dtype)
                reason = pl.when(failed).then(
                    pl.lit(f"{name}: ")
                    + pl.lit("'")
                    + series.cast(pl.String)
                    + pl.lit(f"' is not {kind}{where}")
                )
                failures.append(frame.select(reason.alias(name)).to_series())
            columns[name] = converted
        if not columns:
            return frame
        if not failures:
            return frame.with_columns(list(columns.values()))
        reasons = pl.DataFrame(failures).select(
            pl.concat_str(pl.all(), separator="; ", ignore_nulls=True).alias("reason")
        )["reason"]
        mask = pl.DataFrame(failures).select(pl.any_horizontal(pl.all().is_not_null())).to_series()
        idx = mask.arg_true().to_list()
        lines = lines or [None] * frame.height
        self.bad.append(
            quarantine_frame(
                frame.filter(mask),
                rule=PARSE_RULE,
                reason=reasons.filter(mask).to_list(),
                source=source,
                line=[lines[i] for i in idx],
            )
        )
        return frame.with_columns(list(columns.values())).filter(~mask)


# -- helpers: reading bytes -------------------------------------------------------------------


def _open(path: Path, compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def _head(file: SourceFile, size: int) -> bytes:
    try:
        with _open(file.path, file.compression) as f:
            return f.read(size)
    except (OSError, EOFError) as e:
        raise SourceError(f"cannot read {file.path}: {_first_line(e)}") from e
    except Exception as e:  # zstandard.ZstdError
        raise SourceError(f"cannot decompress {file.path}: {_first_line(e)}") from e


def _read_all(file: SourceFile) -> bytes:
    return _head(file, -1)


def _plain_copy(file: SourceFile, tmp: Path) -> Path:
    """Decompress to a temporary file, for readers that want a plain file."""
    target = tmp / f"{len(list(tmp.iterdir()))}-{file.path.name.rsplit('.', 1)[0]}"
    try:
        with _open(file.path, file.compression) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    except Exception as e:
        raise SourceError(f"cannot decompress {file.path}: {_first_line(e)}") from e
    return target


def _transcode(file: SourceFile, encoding: str, tmp: Path) -> Path:
    """A UTF-8 copy of a file in another encoding. Newlines map one to one, so lines still count."""
    target = tmp / f"{len(list(tmp.iterdir()))}-utf8-{file.path.stem}"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    done = 0
    try:
        with _open(file.path, file.compression) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(decoder.decode(chunk).encode("utf-8"))
                done += len(chunk)
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{file.path} is not valid {encoding} at byte {done + e.start}: pass the encoding"
        ) from e
    return target


def _detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"  # DuckDB skips the byte-order mark itself
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 3 and e.reason == "unexpected end of data":
            return "utf-8"  # the sample cut a character in two
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return "cp1252"  # decodes every byte but five: the usual suspect for Western text
    return codecs.lookup(best.encoding).name


def _physical_lines(
    path: Path, compression: str | None, positions: Sequence[int]
) -> dict[int, int]:
    """1-based line numbers of byte offsets, counting every newline (also inside quotes)."""
    result: dict[int, int] = {}
    wanted = iter(sorted(set(positions)))
    target = next(wanted, None)
    offset, line = 0, 1
    # numpy counts bytes several times faster than bytes.count, and reusing two buffers spares
    # the page faults of fresh ones (a big file is scanned whole when its last line is bad).
    buffer = bytearray(1 << 22)
    raw = np.frombuffer(buffer, np.uint8)
    newlines = np.empty(len(buffer), np.bool_)
    with _open(path, compression) as f:
        while target is not None:
            size = f.readinto(buffer)  # type: ignore[attr-defined]
            if not size:
                break
            end = offset + size
            np.equal(raw[:size], 10, out=newlines[:size])
            done = 0  # count each stretch once: from the previous target to this one
            while target is not None and target < end:
                line += int(np.count_nonzero(newlines[done : target - offset]))
                done = target - offset
                result[target] = line
                target = next(wanted, None)
            line += int(np.count_nonzero(newlines[done:size]))
            offset = end
    return result


# -- helpers: CSV ------------------------------------------------------------------------------


def _delimiter_option(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    text = named.get(text.lower(), text)
    if len(text) != 1:
        raise SourceError(f"the delimiter must be one character, not {value!r}")
    return text


def _detect_delimiter(text: str, quote: str) -> str:
    """The candidate that splits the first records into the most consistent number of fields."""
    lines = text.splitlines(keepends=True)
    sample = "".join(lines[:-1] if len(lines) > 1 else lines)  # the last line may be cut
    best, best_score = ",", (0.0, 0)
    for delimiter in (",", "\t", ";", "|"):
        try:
            reader = csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar=quote or '"')
            counts = [len(row) for _, row in zip(range(200), reader, strict=False) if row]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _split_line(text: str, csv_args: Mapping[str, Any]) -> list[str]:
    quote = str(csv_args.get("quote") or '"')
    escape = str(csv_args.get("escape") or "")
    try:
        row = next(
            csv.reader(
                io.StringIO(text),
                delimiter=str(csv_args["delim"]),
                quotechar=quote,
                escapechar=escape if escape and escape != quote else None,
                doublequote=not escape or escape == quote,
            ),
            [],
        )
    except csv.Error:
        return [text]
    return list(row)


_KINDS = {
    "BIGINT": "an integer",
    "INTEGER": "an integer",
    "SMALLINT": "an integer",
    "TINYINT": "an integer",
    "HUGEINT": "an integer",
    "UBIGINT": "an integer",
    "DOUBLE": "a number",
    "FLOAT": "a number",
    "DECIMAL": "a number",
    "DATE": "a date",
    "TIMESTAMP": "a timestamp",
    "TIMESTAMP WITH TIME ZONE": "a timestamp",
    "TIME": "a time",
    "BOOLEAN": "true or false",
}
_VALUE = re.compile(r'Could not convert string "(.*)" to', re.S)


def _reject_reason(
    kind: str,
    column: str | None,
    message: str,
    expected: int,
    found: int,
    types: Mapping[str, str],
) -> str:
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        return f"expected {expected} fields, found {found}"
    if kind == "CAST" and column:
        match = _VALUE.search(message or "")
        value = match.group(1) if match else "?"
        duck = types.get(column, "")
        what = _KINDS.get(duck.split("(")[0], f"a {duck.lower()}")
        return f"{column}: '{value}' is not {what}"
    if kind == "UNQUOTED VALUE":
        return "a quote inside a field that is not quoted"
    if kind == "INVALID UNICODE":
        return "invalid characters for the file's encoding"
    if kind == "LINE SIZE OVER MAXIMUM":
        return "line too long"
    return _first_line(message) or kind.lower()


def _return_stats(
    stats: Mapping[str, Mapping[str, str]], booleans: Collection[str]
) -> dict[str, ColumnStats]:
    """DuckDB's ``RETURN_STATS`` per column (keyed by quoted name) → :class:`ColumnStats`,
    with values printed as DuckDB prints them in SQL (booleans as true/false)."""
    result = {}
    for key, values in stats.items():
        name = key[1:-1].replace('""', '"') if key.startswith('"') else key
        nulls = values.get("null_count")
        low = values.get("min") if values.get("min_is_exact") == "true" else None
        high = values.get("max") if values.get("max_is_exact") == "true" else None
        if name in booleans:
            low, high = (
                None if v is None else str(v in ("1", "true")).lower() for v in (low, high)
            )
        result[name] = ColumnStats(
            null_count=None if nulls is None else int(nulls), min=low, max=high
        )
    return result


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _args(args: Mapping[str, Any]) -> str:
    """Keyword arguments of a DuckDB table function, as literals."""

    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{_lit(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list | tuple):
            return "[" + ", ".join(literal(v) for v in value) + "]"
        return _lit(str(value))

    return ", ".join(f"{k}={literal(v)}" for k, v in args.items())


def _duck_type(con: duckdb.DuckDBPyConnection, arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_string_view(arrow_type):
        return "VARCHAR"
    empty = pa.table({"c": pa.array([], arrow_type)})
    return str(con.from_arrow(empty).types[0])


# -- helpers: JSON and frames -----------------------------------------------------------------


def _json_array(data: bytes, source: str) -> pl.DataFrame:
    try:
        records = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise SourceError(f"{source} is not valid JSON{where}: {_first_line(e)}") from e
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceError(f"{source} is not a JSON array of objects")
    return _records_frame(records, source)


def _records_frame(records: list[dict[str, Any]], source: str) -> pl.DataFrame:
    if not records:
        return pl.DataFrame()
    try:
        return pl.DataFrame(records, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        # Mixed types in a column: read every scalar as text, the coercion sorts it out.
        texts = [
            {
                k: None if v is None else v if isinstance(v, str) else json.dumps(v)
                for k, v in r.items()
            }
            for r in records
        ]
        try:
            return pl.DataFrame(texts, infer_schema_length=None)
        except (pl.exceptions.PolarsError, TypeError, ValueError) as e:
            raise SourceError(f"cannot read the records of {source}: {_first_line(e)}") from e


def _ndjson(data: bytes, source: str) -> tuple[pl.DataFrame, list[int | None], pl.DataFrame]:
    """Records of newline-delimited JSON with their line numbers; broken lines quarantined."""
    text = data.decode("utf-8-sig", errors="replace")
    records: list[dict[str, Any]] = []
    lines: list[int | None] = []
    bad_lines: list[int | None] = []
    bad_text: list[str] = []
    reasons: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            bad_lines.append(number)
            bad_text.append(line)
            reasons.append(f"not valid JSON: {e.msg} at column {e.colno}")
            continue
        if not isinstance(value, dict):
            bad_lines.append(number)
            bad_text.append(line)
            reasons.append(f"not a JSON object but {type(value).__name__}")
            continue
        records.append(value)
        lines.append(number)
    if bad_lines and not records:
        # Maybe one pretty-printed object rather than one object per line.
        with contextlib.suppress(json.JSONDecodeError):
            whole = json.loads(text)
            if isinstance(whole, dict):
                return _records_frame([whole], source), [1], empty_quarantine()
        raise SourceError(f"{source} is not JSON: no line holds a JSON object")
    bad = (
        quarantine_frame(
            pl.DataFrame({"_line": bad_text}),
            rule=PARSE_RULE,
            reason=reasons,
            source=source,
            line=bad_lines,
        )
        if bad_lines
        else empty_quarantine()
    )
    return _records_frame(records, source), lines, bad


def _convert(series: pl.Series, dtype: pl.DataType) -> pl.Series:
    if series.dtype == pl.String:
        text = series.str.strip_chars()
        if dtype == pl.Date:
            return text.str.to_date(strict=False)
        if isinstance(dtype, pl.Datetime):
            return text.str.to_datetime(strict=False).cast(dtype, strict=False)
        if dtype == pl.Boolean:
            lowered = text.str.to_lowercase()
            return pl.select(
                pl.when(lowered.is_in(["true", "t", "yes", "1"]))
                .then(True)
                .when(lowered.is_in(["false", "f", "no", "0"]))
                .then(False)
                .otherwise(None)
                .alias(series.name)
            ).to_series()
        return text.cast(dtype, strict=False)
    return series.cast(dtype, strict=False)


def _numeric_guess(series: pl.Series, tolerance: float) -> pl.Series | None:
    """Text that is numbers except for a few values becomes numbers (mixed JSON/Excel cells)."""
    values = series.drop_nulls()
    if values.is_empty() or values.str.contains(r"^\s*[-+]?0\d").any():
        return None
    for dtype in (pl.Int64, pl.Float64):
        converted = series.str.strip_chars().cast(dtype, strict=False)
        bad = int((series.is_not_null() & converted.is_null()).sum())
        if 0 < bad <= tolerance * values.len():
            return converted
    return None


def _kind_of(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "an integer"
    if dtype.is_numeric():
        return "a number"
    if dtype == pl.Date:
        return "a date"
    if isinstance(dtype, pl.Datetime):
        return "a timestamp"
    if dtype == pl.Boolean:
        return "true or false"
    return f"a {str(dtype).lower()}"


def _frame_part(frame: pl.DataFrame, source: str) -> _Part:
    table = frame.to_arrow()

    def produce(_target: pa.Schema) -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=BATCH_ROWS)

    return _Part(source=source, schema=table.schema, produce=produce)


# -- helpers: schemas ---------------------------------------------------------------------------


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def unify_types(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both fit in without losing values, or None when they conflict."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if _is_text(a) and _is_text(b):
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


def _unify_schemas(parts: Sequence[_Part]) -> pa.Schema:
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


def _conform(batch: pa.RecordBatch, schema: pa.Schema, source: str) -> pa.RecordBatch:
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
                    f"{f.type}: {_first_line(e)}"
                ) from e
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
