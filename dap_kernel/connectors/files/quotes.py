"""A stray quote in a CSV file: one line whose quote opens a field that never closes.

By RFC 4180 everything from that quote to the end of the file is one field, so a single stray
``"`` would fail the whole file (DuckDB's sniffer gives up: "Error when sniffing file") or send
every later line to the quarantine as one record. A quote that is still open at the end of the
file was never meant to open a field spanning lines: DAP quarantines the line it is on, with its
line number, and reads the lines after it as the rest of the file. A quoted field that spans
lines and closes (legitimate CSV) is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .raw import open_file

UNTERMINATED = "unterminated quote"  # in DuckDB's message for a quote open at the end
REASON = "a quote that is never closed: this line is quarantined and the lines after it are read"
MAX_STRAY_QUOTES = 100  # a file with more is not a CSV with a few typos: say so instead


def unclosed_line(text: bytes, quote: str, escape: str) -> int | None:
    """The 0-based index of the line whose quote is still open at the end of ``text``, or
    None when every quote closes. A quote counts unless escaped (a doubled quote counts twice,
    so it never changes whether a field is open)."""
    q = quote.encode()
    e = escape.encode() if escape and escape != quote else b""
    inside, opened = False, None
    for i, line in enumerate(text.split(b"\n")):
        n = line.count(q) - (line.count(e + q) if e else 0)
        if n % 2:
            inside = not inside
            opened = i if inside else None
    return opened if inside else None


def without_line(text: bytes, index: int) -> bytes:
    """``text`` without its line ``index`` (0-based): a sample to sniff the dialect from."""
    lines = text.split(b"\n")
    return b"\n".join(lines[:index] + lines[index + 1 :])


@dataclass(frozen=True)
class Cut:
    """A file cut at a stray quote: the line it is on, and the lines after it (a file of
    their own under the read's temporary folder, or None when the line was the last)."""

    line_text: str
    tail: Path | None


def cut_at(path: Path, compression: str | None, position: int, tmp: Path, encoding: str) -> Cut:
    """Split ``path`` at the line holding byte ``position`` (where DuckDB says the
    unterminated field's record began): that line, and a plain copy of everything after it."""
    with open_file(path, compression) as src:
        skipped, start = 0, b""
        while skipped < position:  # a compressed stream cannot seek: read up to the line
            chunk = src.read(min(1 << 22, position - skipped))
            if not chunk:
                break
            skipped += len(chunk)
            newline = chunk.rfind(b"\n")
            start = chunk[newline + 1 :] if newline >= 0 else start + chunk
        line = start + src.readline()
        rest = src.read(1 << 22)
        if not rest:
            return Cut(_text(line, encoding), None)
        tail = tmp / f"{len(list(tmp.iterdir()))}-after-{position}.csv"  # plain: no .gz
        with open(tail, "wb") as dst:
            while rest:
                dst.write(rest)
                rest = src.read(1 << 22)
    return Cut(_text(line, encoding), tail)


def _text(line: bytes, encoding: str) -> str:
    return line.decode(encoding, errors="replace").rstrip("\r\n")
