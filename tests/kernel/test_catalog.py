"""Catalog registration of lake tables and external sources, search, documentation, writes."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from dap_kernel.catalog.models import ColumnInfo
from dap_kernel.catalog.stats import merge_column_stats, written_stats
from dap_kernel.errors import DapError, SourceError, TableExists, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.lake import ColumnStats, ParquetFile
from dap_kernel.session import Workspace


def test_csv_file_is_registered_with_schema_and_statistics(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(
        "day,region,amount\n2024-01-01,EMEA,10.5\n2024-01-02,AMER,\n2024-01-02,EMEA,3\n"
    )
    info = workspace.catalog.register_file("sales", path, description="Raw sales export")
    assert info.kind == "csv"
    assert info.row_count == 3
    columns = {c.name: c for c in info.columns}
    assert columns["day"].data_type == "DATE"
    assert columns["amount"].null_count == 1
    assert columns["region"].distinct_count == 2
    assert (columns["amount"].min_value, columns["amount"].max_value) == ("3.0", "10.5")
    frame = workspace.session().sql(
        "SELECT region, sum(amount) AS s FROM sales GROUP BY 1 ORDER BY 1"
    )
    assert frame.to_dicts() == [{"region": "AMER", "s": None}, {"region": "EMEA", "s": 13.5}]


def test_tsv_gzip_parquet_json_and_glob_sources(workspace: Workspace, tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    (tmp_path / "t.tsv").write_text("id\tname\n1\ta\n2\tb\n")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write("id,name\n1,a\n")
    frame.write_parquet(tmp_path / "t.parquet")
    frame.write_ndjson(tmp_path / "t.ndjson")
    (tmp_path / "parts").mkdir()
    for i in range(3):
        frame.write_parquet(tmp_path / "parts" / f"p{i}.parquet")
    cat = workspace.catalog
    assert cat.register_file("tsv", tmp_path / "t.tsv").row_count == 2
    assert cat.register_file("gz", tmp_path / "t.csv.gz").row_count == 1
    assert cat.register_file("pq", tmp_path / "t.parquet").row_count == 3
    assert cat.register_file("js", tmp_path / "t.ndjson").row_count == 3
    assert cat.register_file("parts", str(tmp_path / "parts" / "*.parquet")).row_count == 9
    total = workspace.session().sql(
        "SELECT (SELECT count(*) FROM tsv) + (SELECT count(*) FROM pq)"
        " + (SELECT count(*) FROM parts) AS n"
    )["n"][0]
    assert total == 14


def test_sqlite_table_is_read_at_query_time(workspace: Workspace, tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE items (id INTEGER, label TEXT)")
    con.executemany("INSERT INTO items VALUES (?, ?)", [(1, "x"), (2, "y")])
    con.commit()
    info = workspace.catalog.register_database_table("items", f"sqlite:///{db}", "items")
    assert info.kind == "sqlite" and info.row_count == 2
    con.execute("INSERT INTO items VALUES (3, 'z')")
    con.commit()
    con.close()
    assert workspace.session().sql("SELECT count(*) AS n FROM items")["n"][0] == 3


@pytest.mark.postgres
def test_postgres_table_is_registered(workspace: Workspace, postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("CREATE TABLE accounts (id int, owner text, balance numeric(10,2))")
        con.execute("INSERT INTO accounts VALUES (1, 'ann', 10.50), (2, 'bob', 5.25)")
    info = workspace.catalog.register_database_table("pg_accounts", postgres_url, "accounts")
    assert info.row_count == 2
    assert "secret" not in info.location
    assert workspace.session().sql("SELECT sum(balance) AS s FROM pg_accounts")["s"][0] == 15.75


def test_missing_and_malformed_sources_register_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="file not found"):
        workspace.catalog.register_file("nope", tmp_path / "missing.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet at all")
    with pytest.raises(SourceError, match="cannot read"):
        workspace.catalog.register_file("bad", bad)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n" + "1,2\n" * 50 + "3,4,5,6\n" + "1,2\n" * 10)
    with pytest.raises(SourceError, match="cannot read .*ragged.csv"):
        workspace.catalog.register_file("ragged", ragged)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(SourceError, match="cannot read .*garbage.csv"):
        workspace.catalog.register_file("garbage", garbage)
    with pytest.raises(SourceError, match="format"):
        workspace.catalog.register_file("weird", tmp_path / "x.weird")
    with pytest.raises(SourceError, match="no such SQLite file"):
        workspace.catalog.register_database_table("db", f"sqlite:///{tmp_path / 'x.db'}", "none")
    assert not (tmp_path / "x.db").exists()  # read-only: a read never creates the database
    sqlite3.connect(tmp_path / "y.db").close()
    with pytest.raises(SourceError, match="cannot read .*y.db none: no such table"):
        workspace.catalog.register_database_table("db", f"sqlite:///{tmp_path / 'y.db'}", "none")
    assert workspace.catalog.list_tables() == []


def test_search_by_name_tag_column_and_description(demo_workspace: Workspace) -> None:
    def names(term: str) -> list[str]:
        return [t.name for t in demo_workspace.catalog.search(term)]

    assert names("order") == ["order_lines", "orders"]
    assert names("pii") == ["customers"]
    assert names("email") == ["customers"]  # a column name and a column tag
    assert names("clickstream") == ["web_events"]
    assert names("") == [t.name for t in demo_workspace.catalog.list_tables()]


def test_documentation_and_errors(demo_workspace: Workspace) -> None:
    cat = demo_workspace.catalog
    info = cat.describe_table("orders", owner="sales-team", columns={"status": "Order state"})
    assert info.owner == "sales-team"
    assert {c.name: c.description for c in info.columns}["status"] == "Order state"
    with pytest.raises(UnknownTable, match="did you mean main.orders"):
        cat.get("ordes")
    with pytest.raises(TableExists):
        cat.create_table("orders", pl.DataFrame({"x": [1]}))
    with pytest.raises(DapError, match="invalid table name"):
        cat.get("a.b.c")


def test_writes_update_version_and_statistics(workspace: Workspace) -> None:
    cat = workspace.catalog
    cat.create_table("t", pl.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
    info = cat.write("t", pl.DataFrame({"id": [3], "v": ["c"]}), "append")
    assert (info.version, info.row_count) == (1, 3)
    info = cat.write("t", pl.DataFrame({"id": [3, 4], "v": ["C", "d"]}), "merge", keys=["id"])
    assert (info.version, info.row_count) == (2, 4)
    s = workspace.session()
    assert s.sql("SELECT v FROM t WHERE id = 3")["v"][0] == "C"
    cat.write("t", pl.DataFrame({"id": [9], "v": ["z"]}), "overwrite")
    assert s.sql("SELECT count(*) AS n FROM t")["n"][0] == 1


def test_drop_with_purge_removes_the_lake_files(workspace: Workspace) -> None:
    workspace.catalog.create_table("gone", pl.DataFrame({"x": [1]}))
    workspace.catalog.drop("gone", purge=True)
    assert not workspace.lake.exists("main", "gone")
    with pytest.raises(UnknownTable):
        workspace.session().sql("SELECT * FROM gone")


def test_a_vanished_source_file_is_named_in_the_error(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "gone.csv"
    path.write_text("a,b\n1,2\n")
    workspace.catalog.register_file("gone", path)
    path.unlink()
    with pytest.raises(SourceError, match="source of main.gone is gone"):
        workspace.session().sql("SELECT * FROM gone")
    assert workspace.audit.tail(1)[0].decision == "failed"


def test_replacing_a_table_replaces_schema_and_keeps_history(workspace: Workspace) -> None:
    workspace.catalog.create_table("r", pl.DataFrame({"a": [1]}))
    info = workspace.catalog.create_table("r", pl.DataFrame({"b": ["x"], "c": [2.0]}), replace=True)
    assert [c.name for c in info.columns] == ["b", "c"]
    assert info.version == 1
    assert workspace.lake.read("main", "r", version=0).column_names == ["a"]


def test_register_committed_takes_the_writer_statistics(workspace: Workspace) -> None:
    cat = workspace.catalog
    # A commit made outside the catalog (as ingestion's Parquet path does).
    version = workspace.lake.create("main", "c", pl.DataFrame({"id": [1, 20], "v": ["b", None]}))
    columns = [
        ColumnInfo("id", "BIGINT", null_count=0, min_value="1", max_value="20"),
        ColumnInfo("v", "VARCHAR", null_count=1, min_value="b", max_value="b"),
    ]
    info = cat.register_committed("c", version, 2, columns, mode="create", owner="ann")
    assert (info.row_count, info.version, info.owner, info.kind) == (2, 0, "ann", "delta")
    assert workspace.session().sql("SELECT count(*) AS n FROM c")["n"][0] == 2
    with pytest.raises(TableExists):
        cat.register_committed("c", version, 2, columns, mode="create")
    cat.describe_table("c", columns={"id": "the key"})
    version = workspace.lake.append("main", "c", pl.DataFrame({"id": [3], "v": ["a"]}))
    added = [
        ColumnInfo("id", "BIGINT", null_count=0, min_value="3", max_value="3"),
        ColumnInfo("v", "VARCHAR", null_count=0, min_value="a", max_value="a"),
    ]
    info = cat.register_committed("c", version, 1, added, mode="append")
    by_name = {c.name: c for c in info.columns}
    assert (info.row_count, info.version) == (3, 1)
    assert (by_name["id"].min_value, by_name["id"].max_value) == ("1", "20")
    assert (by_name["v"].min_value, by_name["v"].null_count) == ("a", 1)
    assert by_name["id"].description == "the key"  # documentation survives
    version = workspace.lake.overwrite("main", "c", pl.DataFrame({"id": [7], "v": ["q"]}))
    info = cat.register_committed("c", version, 1, added, mode="overwrite")
    assert (info.row_count, info.version) == (1, 2)


def test_statistics_combine_by_type() -> None:
    def col(t: str, low: str | None, high: str | None, nulls: int | None = 0) -> ColumnInfo:
        return ColumnInfo("x", t, null_count=nulls, min_value=low, max_value=high)

    merged = merge_column_stats(col("BIGINT", "9", "10"), col("BIGINT", "100", "100", 2))
    assert merged == ColumnInfo("x", "BIGINT", null_count=2, min_value="9", max_value="100")
    merged = merge_column_stats(
        col("DECIMAL(10,2)", "-1.50", "2.00"), col("DECIMAL(10,2)", "-10.00", "1.00")
    )
    assert merged is not None and (merged.min_value, merged.max_value) == ("-10.00", "2.00")
    merged = merge_column_stats(col("VARCHAR", None, None, 5), col("VARCHAR", "b", "c"))
    assert merged is not None and (merged.min_value, merged.max_value, merged.null_count) == (
        "b",
        "c",
        5,
    )
    clipped = "z" * 199 + "…"
    merged = merge_column_stats(col("VARCHAR", "a", clipped), col("VARCHAR", "b", "c"))
    assert merged is not None and merged.max_value is None  # a clipped value bounds nothing
    assert merge_column_stats(col("BIGINT", "1", "2"), col("VARCHAR", "1", "2")) is None
    assert merge_column_stats(None, col("BIGINT", "1", "2")) is None
    unknown = merge_column_stats(col("BIGINT", "1", "2", None), col("BIGINT", "1", "2"))
    assert unknown is not None and unknown.null_count is None


def test_written_stats_fold_the_files(tmp_path: Path) -> None:
    files = [
        ParquetFile(
            tmp_path / "a", 2, 1, {"n": ColumnStats(1, "5", "5"), "t": ColumnStats(0, "x", "y")}
        ),
        ParquetFile(tmp_path / "b", 0, 1, {}),  # an empty file says nothing
        ParquetFile(tmp_path / "c", 3, 1, {"n": ColumnStats(0, "-2", "40"), "t": ColumnStats(3)}),
    ]
    columns = written_stats(files, {"n": "INTEGER", "t": "VARCHAR"})
    assert [(c.name, c.data_type, c.null_count, c.min_value, c.max_value) for c in columns] == [
        ("n", "INTEGER", 1, "-2", "40"),
        ("t", "VARCHAR", 3, "x", "y"),
    ]
    assert written_stats([], {"n": "INTEGER"}) == [ColumnInfo("n", "INTEGER", null_count=0)]


def test_a_table_with_nested_columns_gets_its_statistics(workspace: Workspace) -> None:
    """Repeated NULL statistics of nested columns once collided and broke the profile."""
    import pyarrow as pa

    data = pa.table({"id": [1, 2], "tags": [["a"], ["b", "c"]], "info": [{"k": 1}, {"k": 2}]})
    info = workspace.catalog.create_table("main.nested", data, owner="tester")
    assert info.row_count == 2
    assert [c.name for c in info.columns] == ["id", "tags", "info"]


def test_an_empty_append_keeps_the_columns_their_tags_and_the_tag_masks(
    workspace: Workspace,
) -> None:
    """A stream batch whose events all went to the quarantine commits no rows: the columns, and
    the tags a tag mask reads, must stay — else the mask silently stops applying."""
    cat = workspace.catalog
    cat.create_table(
        "people",
        pl.DataFrame({"id": [1], "email": ["a@example.com"]}),
        owner="tester",
        column_tags={"email": ["pii"]},
    )
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann")
    admin.grant("SELECT", "main.people", "user", "ann")
    admin.set_mask("tag:pii", "redact")
    version = workspace.lake.append("main", "people", pl.DataFrame({"id": [], "email": []}))

    info = cat.register_committed("people", version, 0, [], mode="append")

    assert info.version == version and info.row_count == 1
    assert [(c.name, list(c.tags)) for c in info.columns] == [("id", []), ("email", ["pii"])]
    ann = workspace.session(Principal(name="ann", source="test"))
    assert ann.sql("SELECT email FROM people")["email"].to_list() == ["***"]
