"""A CSV file's dialect (header, columns, escape, date formats), as DuckDB's sniffer finds it,
and what DAP does when the sniffer gives up on the whole file for one flaw a person would
forgive: line endings that change within the file (DuckDB reads one kind per file), and a quote
that never closes (:mod:`.quotes`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ...errors import SourceError
from .parts import ReadState, first_line
from .quotes import unclosed_line, without_line
from .raw import long_line, open_file, physical_lines, unify_newlines

SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True)
class Sniffed:
    """The dialect, and where to read: the file itself or a copy with one kind of line ending;
    ``sample_path`` is what the column types are guessed from (the read, or the first lines
    without a stray quote); ``fixed`` says the reads must not sniff again (they would fail)."""

    dialect: tuple[Any, ...]  # HasHeader, Columns, Escape, DateFormat, TimestampFormat, Comment
    read_path: str
    compression: str | None
    sample_path: str
    fixed: bool = False


def sniff(
    state: ReadState, source: str, read_path: str, compression: str | None, args: Mapping[str, Any]
) -> Sniffed:
    refuse_long_lines(source, Path(read_path), compression, int(args["max_line_size"]))
    try:
        return Sniffed(_dialect(state, read_path, args), read_path, compression, read_path)
    except duckdb.Error as e:
        found = _sniff_again(state, read_path, compression, args)
        if found is None:
            raise SourceError(f"cannot read {source} as CSV: {first_line(e)}") from e
        return found


def refuse_long_lines(source: str, path: Path, compression: str | None, limit: int) -> None:
    """Raise :class:`SourceError` naming the first line longer than ``limit`` bytes.

    DuckDB's parallel reader drops a line longer than its buffer without a row or a reject
    (seen with a 40 MB line, DuckDB 2.0.1); its serial reader reports it but then loses the
    reject of a quote that never closes. So DAP looks itself, before DuckDB reads: cheaply in
    a plain file (:func:`.raw.long_line` probes windows), in one decompressing pass otherwise.
    """
    found = long_line(path, compression, limit)
    if found is None:
        return
    start, length = found
    line = physical_lines(path, compression, [start])[start]
    raise SourceError(
        f"{source}: line {line} is {length / 1e6:,.1f} MB long, over the {limit / 1e6:,.1f} MB "
        "a line may have: pass max_line_size (in bytes) to read it"
    )


def _dialect(state: ReadState, path: str, args: Mapping[str, Any]) -> tuple[Any, ...]:
    found = state.con.execute(
        "SELECT HasHeader, Columns, Escape, DateFormat, TimestampFormat, Comment FROM sniff_csv(?, "
        + ", ".join(f"{k} := ?" for k in args)
        + ", ignore_errors := true)",
        [path, *args.values()],
    ).fetchall()
    return tuple(found[0])


def _sniff_again(
    state: ReadState, read_path: str, compression: str | None, args: Mapping[str, Any]
) -> Sniffed | None:
    """After the sniffer gave up: read a copy with one kind of line ending if the file mixes
    them; then sniff the first lines without the one whose quote is still open at their end
    (and read without sniffing). None when neither explains the failure."""
    with open_file(Path(read_path), compression) as f:
        sample = f.read(SAMPLE_BYTES)
    if mixed_newlines(sample):
        read_path = str(unify_newlines(Path(read_path), compression, state.tmp))
        compression = None
        with contextlib.suppress(duckdb.Error):
            return Sniffed(_dialect(state, read_path, args), read_path, None, read_path)
        sample = sample.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # as in the copy
    if len(sample) == SAMPLE_BYTES and b"\n" in sample:
        sample = sample[: sample.rfind(b"\n")]  # whole lines only
    index = unclosed_line(sample, str(args["quote"]), str(state.options.get("escape", "")))
    if index is None:
        return None
    clean = state.tmp / f"{len(list(state.tmp.iterdir()))}-sniff.csv"  # plain, whatever the source
    clean.write_bytes(without_line(sample, index))
    try:
        dialect = _dialect(state, str(clean), args)
    except duckdb.Error:
        return None
    return Sniffed(dialect, read_path, compression, str(clean), fixed=True)


def mixed_newlines(sample: bytes) -> bool:
    """Whether more than one of ``\\r\\n``, ``\\n`` and ``\\r`` ends lines in ``sample``."""
    crlf = sample.count(b"\r\n")
    kinds = (crlf, sample.count(b"\n") - crlf, sample.count(b"\r") - crlf)
    return sum(1 for k in kinds if k) > 1
