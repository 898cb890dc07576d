"""Parquet files into lake tables: DuckDB copies them into the table's Parquet files (one Delta
commit, statistics from the write) with the same result as the streamed general path, integers
that do not fit the table quarantined row by row, refusals that write nothing, and a fall back
to the general path for what the copy does not handle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dap_kernel.connectors.files import FilePlan
from dap_kernel.errors import SchemaMismatch, SourceError
from dap_kernel.ingestion import ingest
from dap_kernel.session import Workspace

UTC = dt.UTC


def typed_table(start: int, n: int) -> pa.Table:
    """Realistic types, with nulls in every nullable column."""
    ids = list(range(start, start + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "qty": pa.array([i % 17 for i in ids], pa.int32()),
            "small": pa.array([i % 100 for i in ids], pa.int8()),
            "amount": pa.array([None if i % 7 == 0 else i * 0.25 for i in ids], pa.float64()),
            "ratio": pa.array([i / 8 for i in ids], pa.float32()),
            "customer": pa.array([f"cust_{i % 13}" for i in ids], pa.string()),
            "note": pa.array([None if i % 5 == 0 else f"n{i}" for i in ids], pa.large_string()),
            "region": pa.array([["EMEA", "APAC"][i % 2] for i in ids]).dictionary_encode(),
            "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in ids]),
            "ts": pa.array(
                [dt.datetime(2020, 1, 1, 0, 0, 0, 123456) + dt.timedelta(hours=i) for i in ids],
                pa.timestamp("us"),
            ),
            "tz": pa.array(
                [dt.datetime(2021, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=i) for i in ids],
                pa.timestamp("us", "UTC"),
            ),
            "price": pa.array([Decimal(i) / 4 for i in ids], pa.decimal128(10, 2)),
            "flag": pa.array([None if i % 3 == 0 else i % 2 == 0 for i in ids]),
            "code": pa.array([i for i in ids], pa.uint32()),
            "nothing": pa.nulls(n),
        }
    )


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Which path each load took: "copy" (DuckDB writes the files) or "stream"."""
    taken: list[str] = []
    copy, stream = FilePlan.write_parquet, FilePlan.stream

    def spy_copy(self: FilePlan, *args: object, **kwargs: object) -> object:
        taken.append("copy")
        return copy(self, *args, **kwargs)  # type: ignore[arg-type]

    def spy_stream(self: FilePlan) -> object:
        taken.append("stream")
        return stream(self)

    monkeypatch.setattr(FilePlan, "write_parquet", spy_copy)
    monkeypatch.setattr(FilePlan, "stream", spy_stream)
    yield taken


def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the general (streamed) path, to compare with."""
    monkeypatch.setattr(FilePlan, "can_write_parquet", lambda _self, _schema: False)


def rows(ws: Workspace, table: str) -> list[dict[str, object]]:
    return sorted(ws.lake.read("main", table).to_pylist(), key=lambda r: str(r["id"]))


def test_the_copy_gives_the_table_the_general_path_gives_in_one_commit(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[str]
) -> None:
    for n in range(3):
        pq.write_table(typed_table(n * 50, 50), tmp_path / f"part-{n}.parquet", row_group_size=20)
    session = workspace.session()
    fast = ingest(tmp_path / "*.parquet", "fast", session=session)
    assert paths == ["copy"]
    with monkeypatch.context() as m:
        streamed(m)
        slow = ingest(tmp_path / "*.parquet", "slow", session=session)
    assert paths == ["copy", "stream"]
    assert (fast.rows_loaded, fast.rows_quarantined, fast.version) == (150, 0, 0)
    assert (slow.rows_loaded, slow.version) == (150, 0)
    a, b = workspace.lake.read("main", "fast"), workspace.lake.read("main", "slow")
    assert a.schema == b.schema
    assert a.schema.field("region").type == pa.string()  # no dictionary in the lake
    assert a.schema.field("code").type == pa.int64()  # no unsigned in the lake
    assert rows(workspace, "fast") == rows(workspace, "slow")
    # One commit, one table file per source file, Delta statistics in the log.
    assert len(workspace.lake.history("main", "fast")) == 1
    assert len(workspace.lake.snapshot("main", "fast").files) == 3
    # The catalog's statistics come from the write and match a full profile.
    measured = workspace.catalog.get("fast")
    full = workspace.catalog.get("slow")
    assert (measured.row_count, measured.owner) == (150, "tester")
    assert measured.description == "Loaded from part-0.parquet and 2 more files"
    for m_col, f_col in zip(measured.columns, full.columns, strict=True):
        assert (m_col.name, m_col.data_type, m_col.null_count, m_col.min_value) == (
            f_col.name,
            f_col.data_type,
            f_col.null_count,
            f_col.min_value,
        )
        assert m_col.max_value == f_col.max_value
    # Appending goes the same way: one more commit, the same rows as the general path.
    more = tmp_path / "more"
    more.mkdir()
    pq.write_table(typed_table(500, 10), more / "m.parquet")
    assert ingest(more, "fast", session=session).version == 1
    with monkeypatch.context() as m:
        streamed(m)
        assert ingest(more, "slow", session=session).version == 1
    assert paths[-2:] == ["copy", "stream"]
    assert rows(workspace, "fast") == rows(workspace, "slow")
    assert workspace.catalog.get("fast").row_count == 160
    assert session.sql("SELECT count(*) AS n, max(id) AS top FROM fast").row(0) == (160, 509)


def test_integers_that_do_not_fit_the_table_go_to_quarantine_on_both_paths(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[str]
) -> None:
    session = workspace.session()
    first = tmp_path / "first.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "note": ["a", "b"]}), first)
    values = [3, 3_000_000_000, None, -5_000_000_000, 7]
    wide = tmp_path / "wide.parquet"
    pq.write_table(
        pa.table({"id": pa.array(values, pa.int64()), "note": ["c", "d", None, "e", "f"]}), wide
    )
    results = {}
    for table in ("fast", "slow"):
        ingest(first, table, session=session)
        with monkeypatch.context() as m:
            if table == "slow":
                streamed(m)
            results[table] = ingest(wide, table, session=session)
    assert paths == ["copy", "copy", "copy", "stream"]
    for table, result in results.items():
        assert (result.rows_loaded, result.rows_quarantined, result.version) == (3, 2, 1)
        frame = session.sql(f"SELECT id, note FROM {table} ORDER BY id NULLS LAST")
        assert frame.rows() == [(1, "a"), (2, "b"), (3, "c"), (7, "f"), (None, None)]
        assert workspace.lake.read("main", table).schema.field("id").type == pa.int32()
        bad = session.sql(
            "SELECT _dap_rule, _dap_reason, _dap_source, _dap_line, _dap_record, _dap_run_id "
            f"FROM {table}__quarantine ORDER BY _dap_line"
        ).rows()
        assert bad == [
            (
                "parse",
                "id: '3000000000' does not fit INTEGER",
                str(wide),
                2,
                '{"id":3000000000,"note":"d"}',
                result.run_id,
            ),
            (
                "parse",
                "id: '-5000000000' does not fit INTEGER",
                str(wide),
                4,
                '{"id":-5000000000,"note":"e"}',
                result.run_id,
            ),
        ]


def test_a_schema_mismatch_is_refused_with_one_message_and_no_commit(
    workspace: Workspace, tmp_path: Path, paths: list[str]
) -> None:
    session = workspace.session()
    good = tmp_path / "good.parquet"
    pq.write_table(typed_table(0, 20), good)
    ingest(good, "sales", session=session)
    location = workspace.lake.path("main", "sales")
    files = set(location.iterdir())
    drifted = tmp_path / "drift.parquet"
    pq.write_table(
        typed_table(20, 5).drop_columns(["note"]).set_column(0, "id", pa.array(["x"] * 5)),
        drifted,
    )
    with pytest.raises(SchemaMismatch) as info:
        ingest(drifted, "sales", session=session)
    message = str(info.value)
    assert "\n" not in message and message.endswith("Nothing was loaded")
    assert "column id is string in the file but int64 in the table" in message
    assert "table columns missing from the file: note" in message
    assert paths == ["copy"]  # the refusal came before any write
    assert workspace.lake.version("main", "sales") == 0
    assert set(location.iterdir()) == files
    assert workspace.catalog.get("sales").row_count == 20
    assert "main.sales__quarantine" not in workspace.catalog.known_names()


def test_a_corrupt_or_truncated_file_is_one_clear_error_and_writes_nothing(
    workspace: Workspace, tmp_path: Path, paths: list[str]
) -> None:
    session = workspace.session()
    folder = tmp_path / "drop"
    folder.mkdir()
    big = pa.table({"id": list(range(200_000)), "s": [f"value {i}" for i in range(200_000)]})
    pq.write_table(big, folder / "a.parquet", row_group_size=50_000, compression="zstd")
    data = bytearray((folder / "a.parquet").read_bytes())
    middle = len(data) * 3 // 4  # the footer stays valid: the failure comes while copying
    data[middle : middle + 200] = b"\xff" * 200
    (folder / "b.parquet").write_bytes(bytes(data))
    # A first load: no table, no folder, no catalog entry.
    with pytest.raises(SourceError) as info:
        ingest(folder, "events", session=session)
    assert str(info.value).startswith(f"{folder / 'b.parquet'} is not a readable Parquet file: ")
    assert "\n" not in str(info.value)
    assert paths == ["copy"]
    assert not workspace.lake.path("main", "events").exists()
    assert "main.events" not in workspace.catalog.known_names()
    # Into an existing table: its version and its files stay as they were.
    ingest(folder / "a.parquet", "events", session=session)
    location = workspace.lake.path("main", "events")
    files = set(location.iterdir())
    with pytest.raises(SourceError, match=r"b\.parquet is not a readable Parquet file"):
        ingest(folder, "events", mode="overwrite", session=session)
    assert set(location.iterdir()) == files
    assert workspace.lake.version("main", "events") == 0
    assert workspace.catalog.get("events").row_count == 200_000
    # Truncated (no footer): refused while planning, before anything is written.
    (folder / "b.parquet").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(SourceError, match=r"b\.parquet is not a readable Parquet file"):
        ingest(folder, "events", session=session)
    assert set(location.iterdir()) == files
    assert workspace.lake.version("main", "events") == 0


@pytest.mark.parametrize(
    "column",
    [
        pa.array([dt.datetime(2020, 1, 1, 0, 0, 0, 1)], pa.timestamp("ns")),  # nanoseconds
        pa.array([dt.datetime(2020, 1, 1, tzinfo=UTC)], pa.timestamp("us", "Europe/Paris")),
        pa.array([[1, 2]], pa.list_(pa.int64())),  # nested
        pa.array([b"\x00\x01"], pa.binary()),
    ],
    ids=["ns", "zone", "list", "binary"],
)
def test_what_the_copy_does_not_handle_takes_the_general_path(
    workspace: Workspace, tmp_path: Path, paths: list[str], column: pa.Array
) -> None:
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"id": [1], "odd": column}), path)
    result = ingest(path, "odd", session=workspace.session())
    assert paths == ["stream"]
    assert (result.rows_loaded, result.version) == (1, 0)
    assert workspace.lake.read("main", "odd").column("id").to_pylist() == [1]


def test_a_conversion_the_copy_does_not_make_falls_back_for_an_existing_table(
    workspace: Workspace, tmp_path: Path, paths: list[str]
) -> None:
    session = workspace.session()
    first = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": [1], "amount": [1.5]}), first)
    ingest(first, "t", session=session)
    # Integers into a float column: a conversion the copy leaves to the general path.
    later = tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [2], "amount": [3]}), later)
    assert ingest(later, "t", session=session).version == 1
    assert paths == ["copy", "stream"]
    assert session.sql("SELECT amount FROM t ORDER BY id")["amount"].to_list() == [1.5, 3.0]
    # A column named like the row number DuckDB adds: the general path too.
    named = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [3], "file_row_number": [0]}), named)
    ingest(named, "u", session=session)
    assert paths[-1] == "stream"
    assert workspace.lake.read("main", "u").column("file_row_number").to_pylist() == [0]
