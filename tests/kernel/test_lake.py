"""Delta tables: create, append, overwrite, merge, time travel, history, vacuum, atomicity."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from dap_kernel.errors import DapError, SchemaMismatch, TableExists, UnknownTable
from dap_kernel.lake import ColumnStats, Lake, ParquetFile, delta_stats


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def rows(lake: Lake, **kw: object) -> list[dict[str, object]]:
    table = lake.read("main", "t", **kw)  # type: ignore[arg-type]
    return sorted(table.to_pylist(), key=lambda r: r["id"])


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


def parquet(lake: Lake, sql: str, name: str) -> ParquetFile:
    """A Parquet file written by DuckDB into the table's folder (not committed)."""
    folder = lake.path("main", "t")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    con = duckdb.connect()
    rows = con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)").fetchall()[0][0]
    con.close()
    return ParquetFile(path=path, rows=rows, size=path.stat().st_size)


SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string())])


def test_commit_parquet_creates_appends_and_overwrites_in_one_commit_each(lake: Lake) -> None:
    one = parquet(lake, "SELECT 1::BIGINT AS id, 'a' AS v", "part-1.parquet")
    assert lake.commit_parquet("main", "t", [one], mode="create", schema_arrow=SCHEMA) == 0
    two = parquet(lake, "SELECT 2::BIGINT AS id, 'b' AS v", "part-2.parquet")
    assert lake.commit_parquet("main", "t", [two], mode="append", schema_arrow=SCHEMA) == 1
    assert rows(lake) == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    three = parquet(lake, "SELECT 3::BIGINT AS id, 'c' AS v", "part-3.parquet")
    empty = parquet(lake, "SELECT 4::BIGINT AS id, 'd' AS v LIMIT 0", "part-4.parquet")
    assert lake.commit_parquet("main", "t", [three, empty], mode="overwrite", schema_arrow=SCHEMA)
    assert rows(lake) == [{"id": 3, "v": "c"}] and not empty.path.exists()
    assert [r["id"] for r in rows(lake, version=1)] == [1, 2]
    assert lake.snapshot("main", "t").schema == SCHEMA
    # Delta itself (not only DAP) reads it, and merge and vacuum work on it.
    assert DeltaTable(str(lake.path("main", "t"))).to_pyarrow_table().num_rows == 1
    lake.merge("main", "t", pl.DataFrame({"id": [3, 5], "v": ["C", "e"]}), keys=["id"])
    assert rows(lake) == [{"id": 3, "v": "C"}, {"id": 5, "v": "e"}]
    assert len(lake.vacuum("main", "t", retention_hours=0)) == 3
    with pytest.raises(TableExists):
        lake.commit_parquet("main", "t", [], mode="create", schema_arrow=SCHEMA)


def test_a_refused_commit_deletes_its_files_and_keeps_the_version(
    lake: Lake, tmp_path: Path
) -> None:
    lake.create("main", "t", pl.DataFrame({"id": [1], "v": ["a"]}))
    outside = tmp_path / "elsewhere.parquet"
    outside.write_bytes(b"not really")
    stray = ParquetFile(path=outside, rows=1, size=10)
    with pytest.raises(DapError, match="is not inside the table folder"):
        lake.commit_parquet("main", "t", [stray], mode="append", schema_arrow=SCHEMA)
    assert not outside.exists() and lake.version("main", "t") == 0
    written = parquet(lake, "SELECT 2::BIGINT AS id, 'b' AS v", "part-x.parquet")
    folder = lake.path("main", "nope")
    folder.mkdir()
    moved = ParquetFile(written.path.rename(folder / "part-x.parquet"), 1, written.size)
    with pytest.raises(UnknownTable):
        lake.commit_parquet("main", "nope", [moved], mode="append", schema_arrow=SCHEMA)
    assert not moved.path.exists()


def test_delta_statistics_are_only_bounds_that_hold(tmp_path: Path) -> None:
    schema = pa.schema(
        [
            ("ts", pa.timestamp("us")),
            ("tz", pa.timestamp("us", "UTC")),
            ("small", pa.decimal128(10, 2)),
            ("big", pa.decimal128(38, 3)),
            ("f", pa.float64()),
            ("b", pa.bool_()),
            ("s", pa.string()),
            ("long", pa.string()),
            ("d", pa.date32()),
            ("unknown", pa.int64()),
        ]
    )
    columns = {
        "ts": ColumnStats(0, "2020-01-01 00:00:01.123456", "2020-01-01 00:00:01.123456"),
        "tz": ColumnStats(1, "2019-12-31 22:00:00+00", "2020-01-01 00:00:00.0005+00"),
        "small": ColumnStats(0, "-1.25", "12.50"),
        "big": ColumnStats(0, "-1.000", "12345678901234567890.123"),
        "f": ColumnStats(2, "-0.5", "inf"),
        "b": ColumnStats(0, "false", "true"),
        "s": ColumnStats(0, "a", "z"),
        "long": ColumnStats(0, "a", "z" * 100),
        "d": ColumnStats(3, "2020-01-02", "2021-03-04"),
        "unknown": ColumnStats(None, None, "5"),
    }
    stats = json.loads(delta_stats(ParquetFile(tmp_path / "x.parquet", 7, 1, columns), schema))
    assert stats["numRecords"] == 7
    # Milliseconds: the minimum rounds down, the maximum up, so both stay bounds.
    assert stats["minValues"]["ts"] == "2020-01-01T00:00:01.123"
    assert stats["maxValues"]["ts"] == "2020-01-01T00:00:01.124"
    assert stats["maxValues"]["tz"] == "2020-01-01T00:00:00.001Z"
    assert stats["minValues"]["tz"] == "2019-12-31T22:00:00.000Z"
    assert (stats["minValues"]["small"], stats["maxValues"]["small"]) == (-1.25, 12.5)
    assert Decimal(str(stats["maxValues"]["small"])) == Decimal("12.5")
    assert (stats["minValues"]["b"], stats["maxValues"]["b"]) == (False, True)
    assert stats["minValues"]["d"] == "2020-01-02"
    for gone in ("big", "f", "long", "unknown"):  # no exact double, infinite, long, unknown
        assert gone not in stats["minValues"] and gone not in stats["maxValues"]
    assert stats["nullCount"] == {
        "ts": 0,
        "tz": 1,
        "small": 0,
        "big": 0,
        "f": 2,
        "b": 0,
        "s": 0,
        "long": 0,
        "d": 3,
    }
