"""The export formats, their media types, and what an export reports back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import polars as pl
import pyarrow as pa

from .errors import ExportError

FORMATS = ("csv", "xlsx", "pdf")
_ALIASES = {"excel": "xlsx", "xls": "xlsx"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


Data: TypeAlias = pl.DataFrame | pa.Table | str


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the file, its format, the number of data rows in it, and the
    catalog tables its SQL read (for the audit record of the copy)."""

    path: Path
    format: str
    rows: int
    tables: tuple[str, ...] = ()


def normalize_format(to: str) -> str:
    fmt = _ALIASES.get(to.lower().lstrip("."), to.lower().lstrip("."))
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {to!r}: use csv, xlsx or pdf")
    return fmt


def content_type(fmt: str) -> str:
    """The HTTP media type of an export format."""
    return CONTENT_TYPES[normalize_format(fmt)]
