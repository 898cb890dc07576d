"""Names of lineage nodes: catalog tables, files, databases and APIs, told apart and cleaned.

Every other part of lineage speaks in these names, so a URL loses its secrets here, once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import DapError
from ..meta.store import redact_url

NODE_KINDS = ("table", "file", "database", "api", "column", "restricted")
RESTRICTED = "(restricted)"
CATALOG_PROCESS = "catalog"  # the edge from a registered file/database to its catalog table
DEFAULT_SCHEMA = "main"
_FILE_EXTENSIONS = {
    "csv",
    "tsv",
    "txt",
    "parquet",
    "pq",
    "json",
    "ndjson",
    "jsonl",
    "xlsx",
    "xls",
    "gz",
    "zst",
    "avro",
    "orc",
}
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"


@dataclass(frozen=True)
class ColumnEdge:
    """``target_table.target_column`` is computed from ``source_table.source_column``."""

    source_table: str
    source_column: str
    target_table: str
    target_column: str


def table_name(name: str) -> str:
    """``Orders`` → ``main.orders``; ``tpch.LineItem`` → ``tpch.lineitem``."""
    parts = [p.strip().strip('"') for p in name.strip().split(".")]
    if len(parts) == 1:
        parts = [DEFAULT_SCHEMA, parts[0]]
    if len(parts) != 2 or not all(re.fullmatch(_IDENT, p) for p in parts):
        raise DapError(f"invalid table name {name!r}: use TABLE or SCHEMA.TABLE")
    return ".".join(parts).lower()


def classify_source(name: str) -> tuple[str, str]:
    """(kind, node name) of a lineage source: a catalog table, a file, a database or an API.

    URLs lose their user information, query string and fragment (where keys and tokens hide);
    a ``kind:`` prefix (``file:orders.csv``) forces the kind.
    """
    text = name.strip()
    forced = re.match(r"^(table|file|database|api):(?!//)(.+)$", text)
    if forced:
        kind, rest = forced.group(1), forced.group(2).strip()
        if kind == "table":
            return "table", table_name(rest)
        return kind, _clean_url(rest) if "://" in rest else rest
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme == "file":
            return "file", urlsplit(text).path
        return ("api" if scheme in ("http", "https") else "database"), _clean_url(text)
    last = text.rsplit(".", 1)[-1].lower()
    if re.fullmatch(rf"{_IDENT}(\.{_IDENT})?", text) and last not in _FILE_EXTENSIONS:
        return "table", table_name(text)
    return "file", text


def _clean_url(url: str) -> str:
    parts = urlsplit(redact_url(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
