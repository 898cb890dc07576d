"""Which files a path names: one file, the supported files of a folder, or a glob's matches,
each with the format its extension (or the caller) gives and its compression."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from ...errors import SourceError

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


def source_file(path: Path, format: str | None) -> SourceFile | None:
    """One path as a source file of ``format`` (else of its extension's); None: not a format."""
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
            found = source_file(root, format)
            if found is None:
                raise SourceError(
                    f"cannot tell the format of {root}: pass a format "
                    "(csv, tsv, parquet, json, ndjson, xlsx)"
                )
            return [found]
        else:
            raise SourceError(f"file not found: {root}")
    files = [f for f in (source_file(p, format) for p in candidates) if f is not None]
    if not files:
        raise SourceError(where)
    return files
