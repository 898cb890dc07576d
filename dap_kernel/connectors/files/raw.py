"""The bytes of a source file: decompressed (``.gz``, ``.zst``), in which encoding, copied plain
or as UTF-8 for readers that want that, and the physical line of a byte offset (so quarantined
rows say where in the file they came from)."""

from __future__ import annotations

import codecs
import gzip
import mmap
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from ...errors import SourceError
from .listing import SourceFile
from .parts import first_line


def open_file(path: Path, compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def head(file: SourceFile, size: int) -> bytes:
    try:
        with open_file(file.path, file.compression) as f:
            return f.read(size)
    except (OSError, EOFError) as e:
        raise SourceError(f"cannot read {file.path}: {first_line(e)}") from e
    except Exception as e:  # zstandard.ZstdError
        raise SourceError(f"cannot decompress {file.path}: {first_line(e)}") from e


# Formats read whole (JSON, Excel) stop here: a small file that decompresses to more (a "zip
# bomb") is refused before it fills the memory or the disk. CSV and Parquet stream.
WHOLE_FILE_LIMIT = 1 << 30


def _too_big(path: Path, what: str) -> SourceError:
    return SourceError(
        f"{path} is over {WHOLE_FILE_LIMIT / 2**30:.0f} GiB {what}: {path.suffix or 'this'} "
        "files are read whole, so DAP stops there (split it, or use CSV or NDJSON)"
    )


def read_all(file: SourceFile) -> bytes:
    """The file's bytes, decompressed, up to :data:`WHOLE_FILE_LIMIT`."""
    data = head(file, WHOLE_FILE_LIMIT + 1)
    if len(data) > WHOLE_FILE_LIMIT:
        raise _too_big(file.path, "decompressed" if file.compression else "")
    return data


def plain_copy(file: SourceFile, tmp: Path) -> Path:
    """Decompress to a temporary file, for readers that want a plain file (up to
    :data:`WHOLE_FILE_LIMIT`: they read it whole)."""
    target = tmp / f"{len(list(tmp.iterdir()))}-{file.path.name.rsplit('.', 1)[0]}"
    written = 0
    try:
        with open_file(file.path, file.compression) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 22):
                written += len(chunk)
                if written > WHOLE_FILE_LIMIT:
                    raise _too_big(file.path, "decompressed")
                dst.write(chunk)
    except SourceError:
        target.unlink(missing_ok=True)
        raise
    except Exception as e:
        raise SourceError(f"cannot decompress {file.path}: {first_line(e)}") from e
    return target


def check_archive(path: Path) -> None:
    """Refuse a zip container (an .xlsx) whose members decompress to more than
    :data:`WHOLE_FILE_LIMIT` together, counted by decompressing them (the sizes its directory
    declares may lie); a file that is no zip is left to its reader to reject."""
    import zipfile
    import zlib

    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    while chunk := member.read(1 << 22):
                        total += len(chunk)
                        if total > WHOLE_FILE_LIMIT:
                            raise _too_big(path, "unzipped")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error):
        return


def transcode(file: SourceFile, encoding: str, tmp: Path) -> Path:
    """A UTF-8 copy of a file in another encoding. Newlines map one to one, so lines still count."""
    target = tmp / f"{len(list(tmp.iterdir()))}-utf8-{file.path.stem}"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    done = 0
    try:
        with open_file(file.path, file.compression) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(decoder.decode(chunk).encode("utf-8"))
                done += len(chunk)
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{file.path} is not valid {encoding} at byte {done + e.start}: pass the encoding"
        ) from e
    return target


# A character of two to four bytes as UTF-8 writes it: text in another encoding (é in latin-1
# is one byte, 0xE9) almost never holds one by chance.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def unify_newlines(path: Path, compression: str | None, tmp: Path) -> Path:
    """A plain copy of a file whose lines end in ``\r\n``, ``\n`` or ``\r`` alike, every one
    ending in ``\n`` (DuckDB reads one kind of line ending per file)."""
    target = tmp / f"{len(list(tmp.iterdir()))}-lf.csv"
    try:
        with open_file(path, compression) as src, open(target, "wb") as dst:
            pending = b""  # a chunk's last \r: the next chunk may start with its \n
            while chunk := src.read(1 << 22):
                chunk = pending + chunk
                pending = b"\r" if chunk.endswith(b"\r") else b""
                if pending:
                    chunk = chunk[:-1]
                dst.write(chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
            if pending:
                dst.write(b"\n")
    except (OSError, EOFError) as e:
        raise SourceError(f"cannot read {path}: {first_line(e)}") from e
    return target


def long_line(path: Path, compression: str | None, limit: int) -> tuple[int, int] | None:
    """``(start, length)`` of the first line longer than ``limit`` bytes (decompressed).

    DuckDB's parallel CSV reader drops a line longer than its buffer without a word (no row, no
    reject), so DAP looks first. A line longer than ``limit`` spans a whole aligned window of
    ``limit // 2`` bytes, so only windows are probed for a newline: memchr stops at the first
    one, which is near the window's start in any ordinary file. A compressed file is read
    through.
    """
    if compression:
        return _long_line_in_stream(path, compression, limit)
    size = path.stat().st_size
    window = max(limit // 2, 1)
    if size <= limit:
        return None
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for begin in range(0, size, window):
            if data.find(b"\n", begin, begin + window) >= 0:
                continue
            start = data.rfind(b"\n", 0, begin) + 1
            end = data.find(b"\n", begin + window)
            length = (size if end < 0 else end) - start
            if length > limit:
                return start, length
    return None


def _long_line_in_stream(path: Path, compression: str, limit: int) -> tuple[int, int] | None:
    chunk_size = max(limit // 2, 1)  # a longer line crosses a chunk boundary: its run is seen
    offset, run = 0, 0  # bytes read; bytes since the last newline
    with open_file(path, compression) as f:
        while chunk := f.read(chunk_size):
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
            else:
                if run + first > limit:
                    return offset - run, run + first
                run = len(chunk) - chunk.rfind(b"\n") - 1
            offset += len(chunk)
    return (offset - run, run) if run > limit else None


def detect_encoding(sample: bytes) -> str:
    """The sample's encoding. UTF-8 with a few invalid bytes stays UTF-8 (the lines holding
    them are quarantined): guessing another encoding for the whole file would garble every
    correct character in it without a word."""
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
    invalid = sample.decode("utf-8", errors="replace").count("\ufffd")
    valid = len(_UTF8_MULTIBYTE.findall(sample))
    if valid and invalid <= 4 * valid:  # each bad line may hold a few bad bytes
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return "cp1252"  # decodes every byte but five: the usual suspect for Western text
    return codecs.lookup(best.encoding).name


def physical_lines(path: Path, compression: str | None, positions: Sequence[int]) -> dict[int, int]:
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
    with open_file(path, compression) as f:
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
    while target is not None:  # at or past the end (DuckDB's place for a quote left open)
        result[target] = line
        target = next(wanted, None)
    return result
