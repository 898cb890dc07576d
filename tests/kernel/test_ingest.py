"""Loading files into lake tables: create, append, overwrite, merge, quarantine, governance,
schema drift, and the `dap ingest` / `%dap ingest` front doors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import dap_kernel as dap
from dap_kernel.errors import DapError, QueryRefused, SchemaMismatch, SourceError
from dap_kernel.governance.identity import Principal
from dap_kernel.ingestion import IngestResult, ingest
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"


def write_sales(path: Path, rows: range, bad: dict[int, str] | None = None) -> Path:
    lines = ["id,region,amount"]
    for i in rows:
        lines.append((bad or {}).get(i, f"{i},{'EMEA' if i % 2 else 'APAC'},{i}.5"))
    path.write_text("\n".join(lines) + "\n")
    return path


def count(ws: Workspace, table: str) -> int:
    return int(ws.session().sql(f"SELECT count(*) AS n FROM {table}")["n"][0])


def test_first_load_creates_the_table_and_quarantines_bad_rows(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_sales(
        tmp_path / "sales.csv", range(1, 101), bad={7: "7,EMEA,1.5,extra", 50: "50,APAC,lots"}
    )
    result = ingest(path, "sales", session=workspace.session())
    assert isinstance(result, IngestResult)
    assert (result.table, result.rows_loaded, result.rows_quarantined, result.version) == (
        "main.sales",
        98,
        2,
        0,
    )
    assert result.files == [str(path)] and result.created
    assert result.summary() == (
        "loaded 98 rows into main.sales (version 0); 2 rows quarantined in main.sales__quarantine"
    )
    info = workspace.catalog.get("main.sales")
    assert info.row_count == 98 and info.owner == "tester"
    assert {c.name: c.data_type for c in info.columns}["amount"] == "DOUBLE"
    bad = workspace.session().sql(
        "SELECT _dap_source, _dap_line, _dap_reason, _dap_run_id FROM main.sales__quarantine "
        "ORDER BY _dap_line"
    )
    assert bad["_dap_line"].to_list() == [8, 51]
    assert bad["_dap_source"].to_list() == [str(path)] * 2
    assert bad["_dap_reason"].to_list() == [
        "expected 3 fields, found 4",
        "amount: 'lots' is not a number",
    ]
    assert bad["_dap_run_id"].to_list() == [result.run_id] * 2


def test_append_uses_the_table_types_and_quarantines_what_does_not_fit(
    workspace: Workspace, tmp_path: Path
) -> None:
    session = workspace.session()
    ingest(write_sales(tmp_path / "a.csv", range(1, 51)), "sales", session=session)
    # Alone, this file's amount would be text; loaded into the table it is a number column.
    second = tmp_path / "b.csv"
    second.write_text("id,region,amount\n51,EMEA,n/a\n52,APAC,3\n53,EMEA,x\n")
    result = ingest(second, "main.sales", session=session)
    assert (result.rows_loaded, result.rows_quarantined, result.version) == (1, 2, 1)
    assert count(workspace, "main.sales") == 51
    assert count(workspace, "main.sales__quarantine") == 2


def test_overwrite_twice_loads_exactly_once(workspace: Workspace, tmp_path: Path) -> None:
    session = workspace.session()
    path = write_sales(tmp_path / "s.csv", range(1, 41), bad={3: "3"})
    ingest(path, "sales", session=session)
    first = ingest(path, "sales", mode="overwrite", session=session)
    second = ingest(path, "sales", mode="overwrite", session=session)
    assert second.version == first.version + 1
    assert count(workspace, "main.sales") == 39
    assert count(workspace, "main.sales__quarantine") == 1  # not one per run


def test_merge_on_keys_updates_and_inserts(workspace: Workspace, tmp_path: Path) -> None:
    session = workspace.session()
    ingest(write_sales(tmp_path / "a.csv", range(1, 21)), "sales", session=session)
    changes = tmp_path / "changes.csv"
    changes.write_text("id,region,amount\n5,LATAM,99.5\n21,EMEA,1.5\n")
    result = ingest(changes, "sales", mode="merge", keys=["id"], session=session)
    assert result.rows_loaded == 2
    frame = session.sql("SELECT id, region, amount FROM main.sales WHERE id IN (5, 21) ORDER BY id")
    assert frame.to_dict(as_series=False) == {
        "id": [5, 21],
        "region": ["LATAM", "EMEA"],
        "amount": [99.5, 1.5],
    }
    assert count(workspace, "main.sales") == 21
    with pytest.raises(DapError, match="merge needs at least one key"):
        ingest(changes, "sales", mode="merge", session=session)
    with pytest.raises(SchemaMismatch, match="key column"):
        ingest(changes, "sales", mode="merge", keys=["nope"], session=session)


def test_schema_mismatch_names_the_columns_and_writes_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    session = workspace.session()
    ingest(write_sales(tmp_path / "a.csv", range(1, 11)), "sales", session=session)
    before = workspace.catalog.get("main.sales").version
    drifted = tmp_path / "drift.csv"
    drifted.write_text("id,area,amount,extra\n1,EMEA,1.5,x\n2,APAC,oops,y\n")
    with pytest.raises(SchemaMismatch) as info:
        ingest(drifted, "sales", session=session)
    message = str(info.value)
    assert "area, extra" in message and "region" in message and "\n" not in message
    assert workspace.catalog.get("main.sales").version == before
    assert workspace.lake.version("main", "sales") == before
    assert count(workspace, "main.sales") == 10
    assert "main.sales__quarantine" not in workspace.catalog.known_names()


def test_wrong_types_in_parquet_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    session = workspace.session()
    ingest(write_sales(tmp_path / "a.csv", range(1, 4)), "sales", session=session)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["x"], "region": ["EMEA"], "amount": [1.0]}), path)
    with pytest.raises(SchemaMismatch, match="column id is string in the file but int64"):
        ingest(path, "sales", session=session)


def test_an_unreadable_file_in_a_glob_loads_nothing(workspace: Workspace, tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"garbage")
    with pytest.raises(SourceError, match="b.parquet is not a readable Parquet file"):
        ingest(tmp_path / "*.parquet", "events", session=workspace.session())
    assert "main.events" not in workspace.catalog.known_names()
    assert not workspace.lake.exists("main", "events")


def test_formats_and_folders_load(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.ndjson").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n')
    pq.write_table(pa.table({"id": [3], "v": ["c"]}), folder / "b.parquet")
    result = ingest(folder, "mixed", session=workspace.session())
    assert result.rows_loaded == 3 and len(result.files) == 2
    assert workspace.session().sql("SELECT v FROM mixed ORDER BY id")["v"].to_list() == [
        "a",
        "b",
        "c",
    ]


def test_default_session_and_top_level_api(tmp_path: Path) -> None:
    path = write_sales(tmp_path / "s.csv", range(1, 6))
    result = dap.ingest(path, "s")
    assert result.rows_loaded == 5
    assert dap.sql("SELECT count(*) AS n FROM s")["n"][0] == 5


# -- governance -------------------------------------------------------------------------------


def test_without_create_or_modify_nothing_is_loaded(governed: Workspace, tmp_path: Path) -> None:
    bob = governed.session(Principal(name="bob"))
    path = write_sales(tmp_path / "s.csv", range(1, 6))
    with pytest.raises(QueryRefused):
        ingest(path, "bobs_table", session=bob)
    assert "main.bobs_table" not in governed.catalog.known_names()
    version = governed.catalog.get("main.orders").version
    with pytest.raises(QueryRefused):
        ingest(path, "main.orders", mode="overwrite", session=bob)
    assert governed.catalog.get("main.orders").version == version
    admin = governed.admin("tester")
    admin.grant("CREATE", "main", "user", "bob")
    assert ingest(path, "bobs_table", session=bob).rows_loaded == 5
    assert governed.catalog.get("main.bobs_table").owner == "bob"


# -- front doors --------------------------------------------------------------------------------


def dap_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    environ.update({"DAP_HOME": str(home), "DAP_USER": "cli-user"})
    return subprocess.run([DAP, *args], capture_output=True, text=True, env=environ, timeout=120)


def test_cli_ingest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = write_sales(tmp_path / "sales.csv", range(1, 1001), bad={10: "10,x", 20: "20,y,z,w"})
    done = dap_cli("ingest", str(path), "--table", "main.sales", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "loaded 998 rows into main.sales (version 0); 2 rows quarantined in main.sales__quarantine"
    )
    again = dap_cli("ingest", str(path), "--table", "sales", "--mode", "overwrite", home=home)
    assert again.returncode == 0, again.stderr
    assert "loaded 998 rows into main.sales (version 1)" in again.stdout
    semi = tmp_path / "semi.txt"
    semi.write_text("id;region;amount\n1;EMEA;2\n")
    other = dap_cli(
        "ingest", str(semi), "--table", "sales", "--delimiter", ";", "--format", "csv", home=home
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.startswith("loaded 1 row into main.sales (version 2); 0 rows")
    failed = dap_cli("ingest", str(tmp_path / "nope.csv"), "--table", "x", home=home)
    assert failed.returncode == 1
    assert failed.stderr.strip() == f"error: file not found: {tmp_path / 'nope.csv'}"
    assert "Traceback" not in failed.stderr


@pytest.fixture
def shell(workspace: Workspace) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=workspace.session))
    yield ip
    InteractiveShell.clear_instance()


def test_magic_ingest(
    shell: InteractiveShell,
    workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_sales(tmp_path / "my sales.csv", range(1, 31), bad={4: "4"})
    result = shell.run_line_magic("dap", f"ingest '{path}' --table sales --mode overwrite")
    assert isinstance(result, IngestResult)
    assert result.rows_loaded == 29 and result.rows_quarantined == 1
    assert (
        "loaded 29 rows into main.sales (version 0); 1 row quarantined" in capsys.readouterr().out
    )
    with pytest.raises(UsageError, match="the following arguments are required: --table"):
        shell.run_line_magic("dap", f"ingest '{path}'")
    with pytest.raises(UsageError, match="file not found"):
        shell.run_line_magic("dap", "ingest /nope.csv --table x")
    shell.run_line_magic("dap", "help")
    assert "%dap ingest PATH --table NAME" in capsys.readouterr().out


def test_a_file_failing_half_way_leaves_the_table_at_its_version(
    workspace: Workspace, tmp_path: Path
) -> None:
    session = workspace.session()
    good = tmp_path / "good.parquet"
    table = pa.table({"id": list(range(200_000)), "s": [f"value {i}" for i in range(200_000)]})
    pq.write_table(table, good, row_group_size=50_000, compression="zstd")
    ingest(good, "events", session=session)
    broken = tmp_path / "broken.parquet"
    data = bytearray(good.read_bytes())
    middle = len(data) * 3 // 4  # the footer stays valid: the failure comes while writing
    data[middle : middle + 200] = b"\xff" * 200
    broken.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="broken.parquet is not a readable Parquet file"):
        ingest(broken, "events", mode="overwrite", session=session)
    assert workspace.lake.version("main", "events") == 0
    assert count(workspace, "main.events") == 200_000


def test_types_the_lake_cannot_hold_and_header_only_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    session = workspace.session()
    csv_path = tmp_path / "times.csv"
    csv_path.write_text('id,"opens at",ts\n1,09:30:00,2024-01-01 10:00:00+02\n')
    ingest(csv_path, "shops", session=session)
    row = session.sql('SELECT "opens at", ts FROM shops').row(0)
    assert row[0] == "09:30:00"  # Delta has no time of day: kept as written
    assert str(row[1]) == "2024-01-01 08:00:00+00:00"
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"u": pa.array([7], pa.uint32()), "n": pa.array([None])}), path)
    ingest(path, "odd", session=session)
    assert session.sql("SELECT u, n FROM odd").row(0) == (7, None)
    header_only = tmp_path / "empty.csv"
    header_only.write_text("a,b\n")
    result = ingest(header_only, "empty", session=session)
    assert (result.rows_loaded, result.version) == (0, 0)
    assert [c.name for c in workspace.catalog.get("empty").columns] == ["a", "b"]


# -- CSV through DuckDB-written Parquet files and one Delta commit ------------------------------

TYPED = (
    "id,amount,day,ts,tz,flag,note,price\n"
    "1,1.5,2020-01-02,2020-01-01 10:00:00.123456,2020-01-01 00:00:00+02,true,héllo,3.25\n"
    '2,2.25,2021-03-04,2020-06-01 00:00:00,2021-01-01 00:00:00+00,false,"a, b",4.5\n'
    "3,,,,,,,\n"
)


def table_files(ws: Workspace, table: str) -> list[str]:
    return [Path(f).name for f in ws.lake.snapshot("main", table).files]


def test_csv_is_written_by_duckdb_with_the_types_and_statistics_of_a_rescan(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "typed.csv"
    path.write_text(TYPED)
    session = workspace.session()
    ingest(path, "typed", options={"schema": {"price": "DECIMAL(10,2)"}}, session=session)
    files = table_files(workspace, "typed")
    assert len(files) == 1 and files[0].startswith("part-") and files[0].endswith(".parquet")
    table = workspace.lake.read("main", "typed")
    assert table.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.float64()),
            ("day", pa.date32()),
            ("ts", pa.timestamp("us")),
            ("tz", pa.timestamp("us", "UTC")),
            ("flag", pa.bool_()),
            ("note", pa.string()),
            ("price", pa.decimal128(10, 2)),
        ]
    )
    assert table.column("tz").to_pylist()[0].isoformat() == "2019-12-31T22:00:00+00:00"
    assert str(table.column("price").to_pylist()[1]) == "4.50"
    measured = workspace.catalog.get("typed")
    assert (measured.row_count, measured.version) == (3, 0)
    assert measured.owner == "tester" and measured.description == "Loaded from typed.csv"
    rescanned = workspace.catalog.refresh("typed")  # the full profile, as before
    assert rescanned.row_count == 3
    for fast, full in zip(measured.columns, rescanned.columns, strict=True):
        # The writer measures nulls and bounds; one pass after the commit counts distincts.
        assert fast == full
    assert [c.distinct_count for c in measured.columns] == [3, 2, 2, 2, 2, 2, 2, 2]
    assert not any(c.distinct_approx for c in measured.columns)
    assert {c.name: c.min_value for c in measured.columns}["flag"] == "false"


def test_a_table_written_by_the_new_path_works_with_every_delta_operation(
    workspace: Workspace, tmp_path: Path
) -> None:
    from deltalake import DeltaTable

    session = workspace.session()
    ingest(write_sales(tmp_path / "a.csv", range(1, 11)), "sales", session=session)
    ingest(write_sales(tmp_path / "b.csv", range(11, 16)), "sales", session=session)
    location = workspace.lake.path("main", "sales")
    dt = DeltaTable(str(location))
    assert dt.version() == 1 and dt.to_pyarrow_table().num_rows == 15
    # Delta statistics are in the log and readable (file skipping uses them).
    adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    assert sorted((a["num_records"], a["min.id"], a["max.id"]) for a in adds) == [
        (5, 11, 15),
        (10, 1, 10),
    ]
    assert adds[0]["null_count.region"] == 0
    assert workspace.lake.read("main", "sales", version=0).num_rows == 10  # time travel
    assert session.sql("SELECT count(*) AS n FROM sales", as_of=0)["n"][0] == 10
    # Delete and merge prune files by those statistics: they must be right.
    workspace.lake.delete_where("main", "sales", '"id" > 13')
    merged = tmp_path / "m.csv"
    merged.write_text("id,region,amount\n2,NORTH,99.5\n20,SOUTH,1.5\n")
    ingest(merged, "sales", mode="merge", keys=["id"], session=session)
    rows = session.sql("SELECT id, region FROM sales WHERE id IN (2, 12, 14, 20) ORDER BY id")
    assert rows.rows() == [(2, "NORTH"), (12, "APAC"), (20, "SOUTH")]
    assert count(workspace, "main.sales") == 14
    info = workspace.catalog.get("sales")
    assert (info.row_count, info.version) == (14, dt.version() + 2)
    before = {p.name for p in location.glob("*.parquet")}
    ingest(write_sales(tmp_path / "c.csv", range(1, 4)), "sales", mode="overwrite", session=session)
    removed = workspace.lake.vacuum("main", "sales", retention_hours=0)
    assert removed and all(Path(r).name in before for r in removed)
    assert {p.name for p in location.glob("*.parquet")} == set(table_files(workspace, "sales"))
    assert sorted(session.sql("SELECT id FROM sales")["id"].to_list()) == [1, 2, 3]


def test_appends_add_up_the_statistics_and_overwrite_replaces_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    session = workspace.session()
    first = tmp_path / "a.csv"
    first.write_text("id,amount,note\n9,5.5,m\n10,,z\n")
    ingest(first, "t", session=session)
    second = tmp_path / "b.csv"
    second.write_text("id,amount,note\n100,-1.25,a\n2,,\n")
    result = ingest(second, "t", session=session)
    info = workspace.catalog.get("t")
    columns = {c.name: c for c in info.columns}
    assert (info.row_count, info.version, result.version) == (4, 1, 1)
    # Numbers compare as numbers (9 < 10 < 100), not as text.
    assert (columns["id"].min_value, columns["id"].max_value) == ("2", "100")
    assert (columns["amount"].min_value, columns["amount"].max_value) == ("-1.25", "5.5")
    assert (columns["amount"].null_count, columns["note"].null_count) == (2, 1)
    assert (columns["note"].min_value, columns["note"].max_value) == ("a", "z")
    ingest(second, "t", mode="overwrite", session=session)
    columns = {c.name: c for c in workspace.catalog.get("t").columns}
    assert workspace.catalog.get("t").row_count == 2
    assert (columns["id"].min_value, columns["id"].max_value) == ("2", "100")
    # Another writer committed in between: the catalog rescans instead of adding up.
    workspace.lake.append("main", "t", pl.DataFrame({"id": [500], "amount": [1.0], "note": ["q"]}))
    ingest(first, "t", session=session)
    info = workspace.catalog.get("t")
    assert (info.row_count, info.version) == (5, 4)
    assert {c.name: c for c in info.columns}["id"].distinct_count == 5  # a full profile


def test_a_failed_commit_leaves_the_previous_version_and_no_files(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import DeltaTable

    session = workspace.session()
    path = write_sales(tmp_path / "s.csv", range(1, 21), bad={4: "4,EMEA,oops"})
    ingest(path, "sales", session=session)
    location = workspace.lake.path("main", "sales")
    files = set(location.glob("*.parquet"))

    def crash(*_args: object, **_kw: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(DeltaTable, "create_write_transaction", crash)
    with pytest.raises(DapError, match="cannot commit to main.sales: disk gone"):
        ingest(path, "sales", mode="overwrite", session=session)
    monkeypatch.undo()
    assert set(location.glob("*.parquet")) == files  # the new file was removed
    assert workspace.lake.version("main", "sales") == 0 and count(workspace, "main.sales") == 19
    assert count(workspace, "main.sales__quarantine") == 1  # no quarantine for a failed load
    # A writer killed between writing and committing leaves a file no version references:
    # invisible to readers, and vacuum removes it.
    orphan = location / "part-orphan.parquet"
    pq.write_table(pa.table({"id": [999]}), orphan)
    assert count(workspace, "main.sales") == 19
    assert not workspace.lake.vacuum("main", "sales", retention_hours=0)  # may be a live load
    assert orphan.exists()
    old = time.time() - 25 * 3600
    os.utime(orphan, (old, old))
    assert workspace.lake.vacuum("main", "sales", retention_hours=0) == ["part-orphan.parquet"]
    assert not orphan.exists() and count(workspace, "main.sales") == 19


def test_quarantine_lines_count_newlines_inside_quotes(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "notes.csv"
    path.write_text(
        'id,note,amount\n1,"two\nlines",1.5\n2,plain,2.5\n3,x,oops\n4,"a\nb\nc",4.5\n5,y,1,2\n'
    )
    result = ingest(
        path, "notes", options={"schema": {"amount": "DOUBLE"}}, session=workspace.session()
    )
    assert (result.rows_loaded, result.rows_quarantined) == (3, 2)
    bad = workspace.session().sql("SELECT _dap_line FROM notes__quarantine ORDER BY _dap_line")
    assert bad["_dap_line"].to_list() == [5, 9]
    assert workspace.lake.read("main", "notes").column("note").to_pylist() == [
        "two\nlines",
        "plain",
        "a\nb\nc",
    ]


def test_a_failed_first_load_leaves_no_table_and_no_folder(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dap_kernel.lake

    def crash(*_args: object, **_kw: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(dap_kernel.lake, "create_table_with_add_actions", crash)
    path = write_sales(tmp_path / "s.csv", range(1, 5), bad={2: "2,x"})
    with pytest.raises(DapError, match="cannot commit to main.sales: disk gone"):
        ingest(path, "sales", session=workspace.session())
    assert not workspace.lake.path("main", "sales").exists()
    assert "main.sales" not in workspace.catalog.known_names()
    assert "main.sales__quarantine" not in workspace.catalog.known_names()
    monkeypatch.undo()
    assert ingest(path, "sales", session=workspace.session()).rows_loaded == 3
