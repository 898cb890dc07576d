"""CSV: sniffed by DuckDB on the read's own connection, read by its parallel reader or copied
straight to Parquet (``COPY … RETURN_STATS``), and the lines it rejects quarantined with the
file and the physical line they came from."""

from __future__ import annotations

import codecs
import dataclasses
import re
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from ...errors import SchemaMismatch, SourceError
from ...lake import ColumnStats, ParquetFile
from ...quarantine import empty_quarantine, quarantine_frame
from .dialect import (
    decimal_comma,
    decimal_option,
    delimiter_option,
    detect_delimiter,
    guess_delimiter,
    split_line,
)
from .listing import SourceFile, source_file
from .parts import BATCH_ROWS, PARSE_RULE, TYPE_TOLERANCE, Part, ReadState, first_line
from .quotes import MAX_STRAY_QUOTES, REASON, UNTERMINATED, cut_at
from .raw import detect_encoding, head, physical_lines, transcode
from .sniff import SAMPLE_BYTES, sniff
from .types import duck_type

SAMPLE_ROWS = 20_000
MAX_LINE = 2_000_000  # bytes: DuckDB's own default


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
    # A scan of the lines after a stray quote (:mod:`.quotes`): the original file's lines
    # before this file's first, and how many stray quotes were cut off so far.
    line_offset: int = 0
    cuts: int = 0


def sniff_delimiter(path: Path) -> str | None:
    """The delimiter of a CSV file, as :func:`plan_csv` chooses it when none is given, or None
    when no candidate splits its first records (then let DuckDB's sniffer decide).

    For readers of the file other than this one (the catalog registering it): the same file is
    then split the same way wherever it is read.
    """
    file = source_file(path, "csv")
    assert file is not None  # a format was given
    if file.suffix == ".tsv":
        return "\t"
    sample = head(file, SAMPLE_BYTES)
    return guess_delimiter(_text(sample, detect_encoding(sample)), '"')


def _text(sample: bytes, encoding: str) -> str:
    """The sample as text, for sniffing (a character the sample cut in two is replaced)."""
    return sample.decode(
        "utf-8" if encoding in ("ascii", "utf-8-sig") else encoding,
        errors="replace",
    ).lstrip("\ufeff")


def plan_csv(state: ReadState, file: SourceFile, declared: Mapping[str, pa.DataType]) -> Part:
    source = str(file.path)
    sample = head(file, SAMPLE_BYTES)
    if not sample.strip():
        raise SourceError(f"{source} is empty: no header and no rows")
    encoding = _encoding(state, file, sample)
    if b"\x00" in sample and not encoding.startswith("utf-16"):
        raise SourceError(f"{source} is not a text file, so not a CSV (it holds binary data)")
    read_path, duck_encoding, compressed = str(file.path), "utf-8", file.compression
    if encoding == codecs.lookup("latin-1").name and "encoding" in state.options:
        duck_encoding = "latin-1"
    elif encoding not in ("utf-8", "utf-8-sig", "ascii"):
        read_path = str(transcode(file, encoding, state.tmp))
        compressed = None
    max_line = _max_line(state)
    text = _text(sample, encoding)
    quote = str(state.options.get("quote", '"'))
    delimiter = delimiter_option(state.options.get("delimiter"))
    if delimiter is None:
        delimiter = "\t" if file.suffix == ".tsv" else detect_delimiter(text, quote)
    header = state.options.get("header")
    sniff_args: dict[str, Any] = {
        "delim": delimiter,
        "quote": quote,
        "encoding": duck_encoding,
        "max_line_size": max_line,
    }
    if header is not None:
        sniff_args["header"] = bool(header)
    if "escape" in state.options:
        sniff_args["escape"] = str(state.options["escape"])
    decimal = decimal_option(state.options.get("decimal_separator"))
    if decimal is None and decimal_comma(text, delimiter, quote):
        decimal = ","  # 9,99 in a ;-separated file is a number
    if decimal is not None:
        sniff_args["decimal_separator"] = decimal
    found = sniff(state, source, read_path, compressed, sniff_args)
    read_path, compressed, sample_path = found.read_path, found.compression, found.sample_path
    has_header, columns, escape, date_format, ts_format, comment = found.dialect
    has_header = bool(has_header) if header is None else bool(header)
    names = [c["name"] for c in columns]
    # Delta Lake has no time-of-day type: such a column keeps its text as written.
    types = [
        "VARCHAR"
        if c["type"].startswith(("TIME ", "TIME WITH")) or c["type"] == "TIME"
        else c["type"]
        for c in columns
    ]
    given = state.options.get("names")
    if given:
        if len(given) != len(names):
            raise SchemaMismatch(
                f"{source} has {len(names)} columns but {len(given)} names were given"
            )
        names = [str(n) for n in given]
    escape = str(state.options.get("escape", "" if escape in (None, "(empty)") else escape))
    if not escape and quote:
        escape = quote  # RFC 4180: a quote inside a quoted field is doubled
    csv_args: dict[str, Any] = {
        "delim": delimiter,
        "quote": quote,
        "escape": escape,
        "header": has_header,
        "encoding": duck_encoding,
        "max_line_size": max_line,
    }
    if decimal is not None:
        csv_args["decimal_separator"] = decimal
    if date_format:
        csv_args["dateformat"] = date_format
    if ts_format:
        csv_args["timestampformat"] = ts_format
    if found.fixed:
        csv_args["auto_detect"] = False
        if comment and comment != "(empty)":
            csv_args["comment"] = comment
    types = _refine_types(state, sample_path, csv_args, names, types, declared)
    for i, name in enumerate(names):
        if name in declared:
            types[i] = duck_type(state.con, declared[name])
    schema = _duck_schema(state, names, types)

    def scan(target: pa.Schema) -> _CsvScan:
        # Read with the final types (another file may have widened a column).
        final = [
            duck_type(state.con, target.field(n).type) if n in target.names else t
            for n, t in zip(names, types, strict=True)
        ]
        return _CsvScan(source, read_path, compressed, csv_args, names, final)

    def produce(target: pa.Schema) -> Iterator[pa.RecordBatch]:
        yield from _read_csv(state, scan(target))

    def copy(target: pa.Schema, directory: Path) -> list[ParquetFile]:
        return _copy_csv(state, scan(target), target, directory)

    return Part(source=source, schema=schema, produce=produce, copy=copy)


def _max_line(state: ReadState) -> int:
    """The longest line a read takes (``max_line_size``, DuckDB's 2 MB by default): a file
    with a longer one is refused, naming the line (:func:`.sniff.refuse_long_lines`)."""
    try:
        limit = int(state.options.get("max_line_size", MAX_LINE))
    except (TypeError, ValueError):
        raise SourceError("max_line_size is a number of bytes") from None
    if limit < 1:
        raise SourceError("max_line_size is a number of bytes")
    return limit


def _encoding(state: ReadState, file: SourceFile, sample: bytes) -> str:
    given = state.options.get("encoding")
    if given:
        try:
            return codecs.lookup(str(given)).name
        except LookupError as e:
            raise SourceError(f"unknown encoding {given!r}") from e
    return detect_encoding(sample)


def _refine_types(
    state: ReadState,
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
    tolerance = float(state.options.get("type_tolerance", TYPE_TOLERANCE))
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
    aliases = [f"c{i}" for i in range(len(names))]
    if args.get("auto_detect") is False:  # no sniffing (a stray quote): columns are given
        args.update(ignore_errors=True, columns=dict.fromkeys(aliases, "VARCHAR"))
    else:
        args.update(all_varchar=True, ignore_errors=True, names=aliases)
    sql = (
        f"SELECT {', '.join(exprs)} FROM (SELECT * FROM read_csv({_lit(read_path)}, "
        f"{_args(args)}) LIMIT {SAMPLE_ROWS})"
    )
    try:
        row = state.con.sql(sql).fetchall()[0]
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


def _duck_schema(state: ReadState, names: Sequence[str], types: Sequence[str]) -> pa.Schema:
    if not names:
        return pa.schema([])
    select = ", ".join(f"NULL::{t} AS {_ident(n)}" for n, t in zip(names, types, strict=True))
    return state.con.sql(f"SELECT {select} LIMIT 0").to_arrow_table().schema


def _rejecting_args(state: ReadState, scan: _CsvScan) -> tuple[str, dict[str, Any]]:
    """``read_csv`` arguments for ``scan`` that keep the malformed rows in a rejects table of
    this scan's own (named first), for ``_csv_rejects`` to quarantine."""
    state.scans += 1
    rejects, scans = f"dap_rejects_{state.scans}", f"dap_scans_{state.scans}"
    args = dict(scan.csv_args)
    args["columns"] = dict(zip(scan.names, scan.types, strict=True))
    args.update(store_rejects=True, rejects_table=rejects, rejects_scan=scans)
    return rejects, args


def _read_csv(state: ReadState, scan: _CsvScan) -> Iterator[pa.RecordBatch]:
    current: _CsvScan | None = scan
    while current is not None:  # the file, then what follows each stray quote
        rejects, args = _rejecting_args(state, current)
        sql = f"SELECT * FROM read_csv({_lit(current.read_path)}, {_args(args)})"
        try:
            reader = state.con.sql(sql).to_arrow_reader(BATCH_ROWS)
            yield from reader
        except (duckdb.Error, pa.ArrowException) as e:
            raise SourceError(f"cannot read {scan.source} as CSV: {first_line(e)}") from e
        current = _quarantine_rejects(state, rejects, current)


def _copy_csv(
    state: ReadState, scan: _CsvScan, target: pa.Schema, directory: Path
) -> list[ParquetFile]:
    """The file as Parquet files in ``directory``: one, or one more after each stray quote."""
    written: list[ParquetFile] = []
    current: _CsvScan | None = scan
    try:
        while current is not None:
            file, current = _copy_stretch(state, current, target, directory)
            written.append(file)
    except BaseException:
        for file in written:
            file.path.unlink(missing_ok=True)
        raise
    return written


def _copy_stretch(
    state: ReadState, scan: _CsvScan, target: pa.Schema, directory: Path
) -> tuple[ParquetFile, _CsvScan | None]:
    """``COPY (SELECT … FROM read_csv(…)) TO 'part-<uuid>.parquet'``: DuckDB reads and writes
    in parallel without the rows crossing into Python, and returns the file's statistics."""
    rejects, args = _rejecting_args(state, scan)
    read_as = dict(zip(scan.names, scan.types, strict=True))
    select = []
    for f in target:
        want = duck_type(state.con, f.type)
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
        row = state.con.execute(sql).fetchall()[0]
    except duckdb.Error as e:
        out.unlink(missing_ok=True)
        raise SourceError(f"cannot read {scan.source} as CSV: {first_line(e)}") from e
    try:
        after = _quarantine_rejects(state, rejects, scan)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    booleans = {f.name for f in target if pa.types.is_boolean(f.type)}
    written = ParquetFile(
        path=out,
        rows=int(row[1]),
        size=int(row[2]),
        columns=_return_stats(row[4] or {}, booleans),
    )
    return written, after


def _quarantine_rejects(state: ReadState, table: str, scan: _CsvScan) -> _CsvScan | None:
    """Quarantine the scan's rejected lines; the scan of the lines after a stray quote, if
    the scan ended in one."""
    bad, cut = _csv_rejects(state, table, scan)
    state.bad.append(bad)
    if cut is None:
        return None
    line, tail = cut
    if tail is None:
        return None
    if scan.cuts + 1 >= MAX_STRAY_QUOTES:
        raise SourceError(
            f"{scan.source} has {MAX_STRAY_QUOTES} quotes that never close (the last on line "
            f"{line}): check its quote character"
        )
    args = {**scan.csv_args, "header": False, "auto_detect": False}
    return dataclasses.replace(
        scan,
        read_path=str(tail),
        compression=None,
        csv_args=args,
        line_offset=line,
        cuts=scan.cuts + 1,
    )


def _csv_rejects(
    state: ReadState, table: str, scan: _CsvScan
) -> tuple[pl.DataFrame, tuple[int, Path | None] | None]:
    """The scan's rejected lines as quarantine rows; and, when the scan ended in a quote that
    never closed, that line's number and the file of the lines after it."""
    rows = state.con.sql(
        f"SELECT line_byte_position, any_value(csv_line), list(error_type), "
        f"list(column_name), list(error_message) FROM {table} "
        "GROUP BY line_byte_position ORDER BY line_byte_position"
    ).fetchall()
    if not rows:
        return empty_quarantine(), None
    names = scan.names
    found = physical_lines(Path(scan.read_path), scan.compression, [r[0] for r in rows])
    lines = {pos: line + scan.line_offset for pos, line in found.items()}
    limit = int(scan.csv_args.get("max_line_size", MAX_LINE))
    type_of = dict(zip(names, scan.types, strict=True))
    records: list[list[Any]] = []
    reasons: list[str] = []
    extra_any = False
    cut: tuple[int, Path | None] | None = None
    for pos, text, kinds, columns, messages in rows:
        if any(UNTERMINATED in (m or "") for m in messages):
            encoding = str(scan.csv_args.get("encoding", "utf-8"))
            stray = cut_at(Path(scan.read_path), scan.compression, pos, state.tmp, encoding)
            cut = (lines[pos], stray.tail)
            fields = stray.line_text.split(str(scan.csv_args["delim"]))  # quotes as text
            records.append([*fields[: len(names)], *([None] * (len(names) - len(fields)))])
            records[-1].append(fields[len(names) :] or None)
            extra_any = extra_any or len(fields) > len(names)
            reasons.append(REASON)
            continue
        fields = split_line(text or "", scan.csv_args)
        record: list[Any] = [*fields[: len(names)], *([None] * (len(names) - len(fields)))]
        extra = fields[len(names) :]
        extra_any = extra_any or bool(extra)
        records.append([*record, extra or None])
        why: list[str] = []
        reported = list(zip(kinds, columns, messages, strict=True))
        if "LINE SIZE OVER MAXIMUM" in kinds:  # DuckDB's text of it is cut: no field count
            reported = [r for r in reported if r[0] == "LINE SIZE OVER MAXIMUM"][:1]
        for kind, column, message in reported:
            reason = _reject_reason(kind, column, message, len(names), len(fields), type_of, limit)
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
    ), cut


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
    limit: int,
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
    if kind in ("INVALID UNICODE", "INVALID ENCODING"):
        return "invalid characters for the file's encoding"
    if kind == "LINE SIZE OVER MAXIMUM":
        return f"line too long: over the {limit / 1e6:,.1f} MB a line may have (max_line_size)"
    return first_line(message) or kind.lower()


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
