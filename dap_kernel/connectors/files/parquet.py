"""Parquet files: their own schema, read in batches (a compressed one from a plain copy), or
copied by DuckDB straight into a lake table's Parquet files.

An integer column read with a declared integer type (an existing table's) keeps the rows whose
values fit it; a value that does not fit ("qty: '3000000000' does not fit INTEGER") sends its row
to quarantine with the file and its row number, on both paths alike.

The copy (:func:`_copy_parquet`) is taken only for conversions whose DuckDB cast gives exactly
what the streamed read gives (same type, wider numbers, text flavours, all-null columns,
integers narrowed with the same range check) and only when DuckDB reads every column with the
type pyarrow reports; anything else streams (fail closed: the general path decides).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import SourceError
from ...lake import ParquetFile
from ...quarantine import quarantine_frame
from .csv import _return_stats  # DuckDB's RETURN_STATS → ColumnStats, as for CSV
from .listing import SourceFile
from .parts import BATCH_ROWS, PARSE_RULE, Part, ReadState, first_line
from .raw import plain_copy
from .types import duck_type, is_text

_ROW_NUMBER = "file_row_number"  # DuckDB's name for the row's position in its file


def plan_parquet(state: ReadState, file: SourceFile, declared: Mapping[str, pa.DataType]) -> Part:
    source = str(file.path)
    path = plain_copy(file, state.tmp) if file.compression else file.path
    try:
        parquet = pq.ParquetFile(path)
        found = parquet.schema_arrow
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"{source} is not a readable Parquet file: {first_line(e)}") from e
    # Integers take a declared integer type (checked row by row); other declared types are
    # left to the caller's schema check, which refuses what does not convert.
    read_as = {
        f.name: declared[f.name]
        for f in found
        if f.name in declared
        and pa.types.is_integer(f.type)
        and pa.types.is_integer(declared[f.name])
        and f.type != declared[f.name]
    }
    schema = pa.schema(
        [pa.field(f.name, read_as.get(f.name, f.type), f.nullable) for f in found],
        metadata=found.metadata,
    )
    narrowed = {n: t for n, t in read_as.items() if not _holds(t, found.field(n).type)}

    def produce(_target: pa.Schema) -> Iterator[pa.RecordBatch]:
        row = 0
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                yield _fit(state, batch, schema, read_as, narrowed, source, row)
                row += batch.num_rows
        except (pa.ArrowException, OSError) as e:
            raise SourceError(f"{source} is not a readable Parquet file: {first_line(e)}") from e

    def copies(target: pa.Schema) -> bool:
        return _can_copy(state, str(path), found, target)

    def copy(target: pa.Schema, directory: Path) -> list[ParquetFile]:
        return [_copy_parquet(state, source, str(path), found, target, directory)]

    return Part(source=source, schema=schema, produce=produce, copy=copy, copies=copies)


def _fit(
    state: ReadState,
    batch: pa.RecordBatch,
    schema: pa.Schema,
    read_as: Mapping[str, pa.DataType],
    narrowed: Mapping[str, pa.DataType],
    source: str,
    first_row: int,
) -> pa.RecordBatch:
    """The batch as ``schema`` (``read_as``'s integer types); the rows with a value out of
    range for its type are quarantined with their row number in the file (1 for the first)."""
    if not read_as:
        return batch
    bad: pa.Array | None = None
    reasons: list[pa.Array] = []
    for name, t in narrowed.items():
        column = batch.column(name)
        low, high = _range(t)
        out = pc.fill_null(pc.or_(pc.less(column, low), pc.greater(column, high)), False)
        if not pc.any(out).as_py():
            continue
        text = pc.binary_join_element_wise(
            f"{name}: '", pc.cast(column, pa.string()), f"' does not fit {_duck(t)}", ""
        )
        reasons.append(pc.if_else(out, text, pa.scalar(None, pa.string())))
        bad = out if bad is None else pc.or_(bad, out)
    if bad is not None:
        rows = pl.from_arrow(pa.Table.from_batches([batch.filter(bad)]))
        assert isinstance(rows, pl.DataFrame)
        why = pa.Table.from_arrays(reasons, names=[str(i) for i in range(len(reasons))])
        joined = pl.from_arrow(why.filter(bad))
        assert isinstance(joined, pl.DataFrame)
        lines = pc.add(pc.indices_nonzero(bad), first_row + 1).to_pylist()
        state.bad.append(
            quarantine_frame(
                rows,
                rule=PARSE_RULE,
                reason=joined.select(pl.concat_str(pl.all(), separator="; ", ignore_nulls=True))
                .to_series()
                .to_list(),
                source=source,
                line=lines,
            )
        )
        batch = batch.filter(pc.invert(bad))
    arrays = [
        pc.cast(batch.column(i), read_as[f.name]) if f.name in read_as else batch.column(i)
        for i, f in enumerate(batch.schema)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _range(t: pa.DataType) -> tuple[int, int]:
    bits = t.bit_width
    if pa.types.is_unsigned_integer(t):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _holds(wide: pa.DataType, narrow: pa.DataType) -> bool:
    """Whether every value of integer type ``narrow`` fits integer type ``wide``."""
    low, high = _range(narrow)
    lo, hi = _range(wide)
    return lo <= low and high <= hi


_INTEGERS = {8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}


def _duck(t: pa.DataType) -> str:
    """DuckDB's name of an integer type, for the quarantine reason both paths give."""
    return ("U" if pa.types.is_unsigned_integer(t) else "") + _INTEGERS[t.bit_width]


# -- the copy: DuckDB reads the file and writes the table's Parquet file --------------------------


def _converts_exactly(src: pa.DataType, dst: pa.DataType) -> bool:
    """Conversions DuckDB's CAST does exactly as the streamed read (pyarrow casts) does."""
    if src == dst or pa.types.is_null(src):
        return True
    if pa.types.is_integer(src) and pa.types.is_integer(dst):
        return True  # a range check on both paths
    if pa.types.is_float32(src) and pa.types.is_float64(dst):
        return True
    text = is_text(src) or (pa.types.is_dictionary(src) and is_text(src.value_type))
    return bool(text and is_text(dst))


def _can_copy(state: ReadState, path: str, found: pa.Schema, target: pa.Schema) -> bool:
    if _ROW_NUMBER in found.names or len(set(found.names)) != len(found.names):
        return False
    for f in target:
        if f.name in found.names and not _converts_exactly(found.field(f.name).type, f.type):
            return False
    try:
        described = state.con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({_lit(path)})"
        ).fetchall()
    except duckdb.Error:
        return False  # the streamed read says what is wrong
    duck = {str(row[0]): str(row[1]) for row in described}
    wanted = [f for f in found if f.name in target.names]
    return all(duck.get(f.name) == duck_type(state.con, f.type) for f in wanted)


def _copy_parquet(
    state: ReadState,
    source: str,
    path: str,
    found: pa.Schema,
    target: pa.Schema,
    directory: Path,
) -> ParquetFile:
    """``COPY (SELECT … FROM read_parquet(f)) TO 'part-<uuid>.parquet' (RETURN_STATS)``: DuckDB
    reads and writes in parallel without the rows crossing into Python; rows with an integer
    that does not fit its column are left out here and quarantined from a second, filtered
    read (only when a column is narrowed)."""
    select, bad, why = [], [], []
    for f in target:
        want = duck_type(state.con, f.type)
        column = _ident(f.name)
        if f.name not in found.names:
            select.append(f"NULL::{want} AS {column}")
            continue
        src = found.field(f.name).type
        if src == f.type:
            select.append(column)
            continue
        select.append(f"TRY_CAST({column} AS {want}) AS {column}")
        if pa.types.is_integer(src) and pa.types.is_integer(f.type) and not _holds(f.type, src):
            low, high = _range(f.type)
            test = f"coalesce({column} < {low} OR {column} > {high}, false)"  # NULL fits
            bad.append(test)
            why.append(
                f"CASE WHEN {test} THEN {_lit(f.name + ': ' + chr(39))} || {column}::VARCHAR "
                f"|| {_lit(chr(39) + ' does not fit ' + _duck(f.type))} END"
            )
    out = directory / f"part-{uuid.uuid4()}.parquet"
    where = f" WHERE NOT ({' OR '.join(bad)})" if bad else ""
    sql = (
        f"COPY (SELECT {', '.join(select)} FROM read_parquet({_lit(path)}){where}) "
        f"TO {_lit(str(out))} (FORMAT parquet, RETURN_STATS)"
    )
    try:
        row = state.con.execute(sql).fetchall()[0]
        if bad:
            _quarantine(state, source, path, bad, why)
    except duckdb.Error as e:
        out.unlink(missing_ok=True)
        raise SourceError(f"{source} is not a readable Parquet file: {first_line(e)}") from e
    booleans = {f.name for f in target if pa.types.is_boolean(f.type)}
    return ParquetFile(
        path=out,
        rows=int(row[1]),
        size=int(row[2]),
        columns=_return_stats(row[4] or {}, booleans),
    )


def _quarantine(state: ReadState, source: str, path: str, bad: list[str], why: list[str]) -> None:
    rejected = state.con.sql(
        f"SELECT * EXCLUDE ({_ROW_NUMBER}), {_ROW_NUMBER} + 1 AS _dap_row, "
        f"concat_ws('; ', {', '.join(why)}) AS _dap_reason "
        f"FROM read_parquet({_lit(path)}, file_row_number = true) "
        f"WHERE {' OR '.join(bad)} ORDER BY {_ROW_NUMBER}"
    ).to_arrow_table()
    if not rejected.num_rows:
        return
    frame = pl.from_arrow(rejected)
    assert isinstance(frame, pl.DataFrame)
    state.bad.append(
        quarantine_frame(
            frame.drop("_dap_row", "_dap_reason"),
            rule=PARSE_RULE,
            reason=frame["_dap_reason"].to_list(),
            source=source,
            line=frame["_dap_row"].to_list(),
        )
    )


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
