"""The bytes of a source file: decompressed (``.gz``, ``.zst``), in which encoding, copied plain
or as UTF-8 for readers that want that, and the physical line of a byte offset (so quarantined
rows say where in the file they came from)."""

from __future__ import annotations

import codecs
import gzip
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


def read_all(file: SourceFile) -> bytes:
    return head(file, -1)


def plain_copy(file: SourceFile, tmp: Path) -> Path:
    """Decompress to a temporary file, for readers that want a plain file."""
    target = tmp / f"{len(list(tmp.iterdir()))}-{file.path.name.rsplit('.', 1)[0]}"
    try:
        with open_file(file.path, file.compression) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    except Exception as e:
        raise SourceError(f"cannot decompress {file.path}: {first_line(e)}") from e
    return target


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


def detect_encoding(sample: bytes) -> str:
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
    return result
