"""The result cache: bounded by bytes and age, and never answering for a changed table."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from dap_kernel.engines.base import Binding
from dap_kernel.results import ResultCache, cache_key


def _table(rows: int) -> pa.Table:
    return pa.table({"x": list(range(rows))})


def test_least_recently_used_results_make_room() -> None:
    one = _table(1000)
    cache = ResultCache(max_bytes=one.nbytes * 4, ttl_s=600)
    for key in "abcd":
        cache.put(key, one)
    assert cache.get("a") is one  # now the most recently used
    cache.put("e", one)  # over the limit: "b", the least recently used, goes
    assert cache.get("b") is None
    assert all(cache.get(k) is one for k in "acde")


def test_a_result_too_big_for_the_cache_is_not_kept() -> None:
    cache = ResultCache(max_bytes=_table(1000).nbytes, ttl_s=600)
    cache.put("small", _table(10))
    cache.put("huge", _table(1000))  # more than a quarter of the cache
    assert cache.get("huge") is None and cache.get("small") is not None


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("dap_kernel.results.time.monotonic", lambda: now[0])
    cache = ResultCache(ttl_s=10)
    cache.put("k", _table(3))
    now[0] += 9
    assert cache.get("k") is not None
    now[0] += 2
    assert cache.get("k") is None


def test_keys_follow_table_versions_and_file_changes(tmp_path: Path) -> None:
    delta = Binding("main", "t", "delta", "lake:main/t", "delta:3")
    newer = Binding("main", "t", "delta", "lake:main/t", "delta:4")
    assert cache_key("SELECT 1", None, [delta]) != cache_key("SELECT 1", None, [newer])
    assert cache_key("SELECT 1", None, [delta]) == cache_key("SELECT 1", None, [delta])
    live = Binding("main", "pg", "postgres", "postgresql://h/db", "db:1234")
    assert cache_key("SELECT 1", None, [delta, live]) is None  # a live database: never cached
    csv = tmp_path / "rates.csv"
    csv.write_text("a\n1\n")
    source = Binding("main", "rates", "csv", str(csv), "csv:x:1")
    before = cache_key("SELECT 1", None, [source])
    csv.write_text("a\n1\n2\n")  # replaced behind the catalog's back
    os.utime(csv, ns=(1, 1))
    assert cache_key("SELECT 1", None, [source]) != before
    csv.unlink()
    assert cache_key("SELECT 1", None, [source]) is None
