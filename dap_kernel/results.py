"""Query results: what a finished query returns (:class:`QueryResult`), and a cache of them for
dashboards and reports that ask the same question again.

The key is the *rewritten* statement (so it already carries the caller's row filters and masks
as literals), the bound parameter values, and a version token per table read. A new Delta
version, a replaced file or a re-registered source changes the token, so a changed table can
never answer from the cache; the old entries simply age out. Tables from live databases have no
version and are never cached.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from glob import glob
from typing import Any

import polars as pl
import pyarrow as pa

from .engines.base import Binding


@dataclass(frozen=True)
class QueryResult:
    """A finished query: the Arrow table plus what the user is told about it."""

    table: pa.Table
    query_id: str
    elapsed_ms: float
    tables: tuple[str, ...]
    sql: str
    cached: bool = False

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)

    def to_polars(self) -> pl.DataFrame:
        table = self.table
        names = table.column_names
        if len(set(names)) != len(names):
            # SQL allows `SELECT * FROM a JOIN b` to repeat a name; a DataFrame does not.
            seen: dict[str, int] = {}
            unique = []
            for name in names:
                seen[name] = seen.get(name, 0) + 1
                unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
            table = table.rename_columns(unique)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame


def freshness_token(binding: Binding) -> Hashable | None:
    """What identifies this table's content right now, or None when nothing can."""
    if binding.signature.startswith("db:"):  # live databases are read afresh every time
        return None
    if binding.kind == "delta":
        return (binding.qualified_name, binding.signature)
    # Files can be replaced behind the catalog's back: include size and mtime of each one.
    paths = sorted(glob(binding.location)) if any(c in binding.location for c in "*?[") else []
    paths = paths or [binding.location]
    stats: list[tuple[str, int, int]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            return None
        stats.append((path, st.st_size, st.st_mtime_ns))
    return (binding.qualified_name, binding.signature, tuple(stats))


def cache_key(sql: str, params: Any, bindings: Sequence[Binding]) -> Hashable | None:
    """The key of one governed statement, or None when it must not be cached."""
    tokens = []
    for binding in sorted(bindings, key=lambda b: b.qualified_name):
        token = freshness_token(binding)
        if token is None:
            return None
        tokens.append(token)
    return (sql, repr(params), tuple(tokens))


@dataclass
class _Entry:
    table: pa.Table
    stored: float
    nbytes: int


class ResultCache:
    """A thread-safe LRU of Arrow results, bounded by bytes and by age."""

    def __init__(self, max_bytes: int = 256 * 2**20, ttl_s: float = 600.0) -> None:
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> pa.Table | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or now - entry.stored > self.ttl_s:
                if entry is not None:
                    self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry.table

    def put(self, key: Hashable, table: pa.Table) -> None:
        nbytes = int(table.nbytes)
        if self.max_bytes <= 0 or nbytes > self.max_bytes // 4:
            return  # one huge result would evict everything useful
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = _Entry(table, time.monotonic(), nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        """Forget every result (an erasure: a cached answer must not outlive its rows)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.nbytes
