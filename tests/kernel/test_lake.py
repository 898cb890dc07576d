"""Delta tables: create, append, overwrite, merge, time travel, history, vacuum, atomicity."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from dap_kernel.errors import DapError, SchemaMismatch, TableExists, UnknownTable
from dap_kernel.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def rows(lake: Lake, **kw: object) -> list[dict[str, object]]:
    table = lake.read("main", "t", **kw)  # type: ignore[arg-type]
    return sorted(table.to_pylist(), key=lambda r: r["id"])  # type: ignore[arg-type,return-value]


def test_create_append_overwrite_and_versions(lake: Lake) -> None:
    assert lake.create("main", "t", pl.DataFrame({"id": [1, 2], "v": ["a", "b"]})) == 0
    assert lake.append("main", "t", pl.DataFrame({"id": [3], "v": ["c"]})) == 1
    assert [r["id"] for r in rows(lake)] == [1, 2, 3]
    assert lake.overwrite("main", "t", pl.DataFrame({"id": [9], "v": ["z"]})) == 2
    assert rows(lake) == [{"id": 9, "v": "z"}]
    assert [r["id"] for r in rows(lake, version=1)] == [1, 2, 3]
    history = lake.history("main", "t")
    assert [h["version"] for h in history] == [2, 1, 0]
    assert [h["operationParameters"]["mode"] for h in history] == [
        "Overwrite",
        "Append",
        "ErrorIfExists",
    ]


def test_merge_updates_matches_and_inserts_the_rest(lake: Lake) -> None:
    lake.create("main", "t", pl.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
    metrics = lake.merge("main", "t", pl.DataFrame({"id": [2, 3], "v": ["B", "c"]}), keys=["id"])
    assert metrics["num_target_rows_updated"] == 1
    assert metrics["num_target_rows_inserted"] == 1
    assert rows(lake) == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]


def test_time_travel_by_timestamp(lake: Lake) -> None:
    lake.create("main", "t", pl.DataFrame({"id": [1], "v": ["a"]}))
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    lake.append("main", "t", pl.DataFrame({"id": [2], "v": ["b"]}))
    assert [r["id"] for r in rows(lake, version=between)] == [1]


def test_failed_write_leaves_the_table_unchanged(lake: Lake) -> None:
    lake.create("main", "t", pl.DataFrame({"id": [1], "v": ["a"]}))
    with pytest.raises(SchemaMismatch):
        lake.append("main", "t", pl.DataFrame({"other": [1.5]}))
    assert lake.version("main", "t") == 0
    assert rows(lake) == [{"id": 1, "v": "a"}]


def test_vacuum_removes_unreferenced_files_but_keeps_current_data(lake: Lake) -> None:
    lake.create("main", "t", pl.DataFrame({"id": [1], "v": ["a"]}))
    lake.overwrite("main", "t", pl.DataFrame({"id": [2], "v": ["b"]}))
    removed = lake.vacuum("main", "t", retention_hours=0)
    assert len(removed) == 1
    assert rows(lake) == [{"id": 2, "v": "b"}]


def test_errors_are_typed(lake: Lake) -> None:
    lake.create("main", "t", pl.DataFrame({"id": [1]}))
    with pytest.raises(TableExists):
        lake.create("main", "t", pl.DataFrame({"id": [1]}))
    with pytest.raises(UnknownTable):
        lake.append("main", "missing", pl.DataFrame({"id": [1]}))
    with pytest.raises(DapError, match="invalid table name"):
        lake.create("main", "../escape", pl.DataFrame({"id": [1]}))
    with pytest.raises(DapError, match=r"no version numbered 7 \(versions 0 to 0"):
        lake.read("main", "t", version=7)
