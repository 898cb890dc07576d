"""Database sources against a real PostgreSQL (the session's server) and real SQLite files."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from dap_kernel.connectors.sql import read_sql
from dap_kernel.errors import SourceError
from dap_kernel.lake import Lake
from tests.conftest import _free_port, _pg_bin

PASSWORD = "Pg-S3cret-pa55word"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _orders(url: str, ids: range) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS orders (
                id int PRIMARY KEY, amount numeric(10,2), code text, ref uuid, doc jsonb,
                updated_at timestamptz, secret_note text)"""
        )
        for i in ids:
            con.execute(
                "INSERT INTO orders VALUES (%s, %s, %s, gen_random_uuid(), %s, %s, %s)",
                (i, Decimal(i) * Decimal("1.25"), f"c{i:03d}", f'{{"n": {i}}}',
                 T0 + timedelta(hours=i), f"do not read {i}"),
            )  # fmt: skip


@pytest.fixture
def pg(postgres_url: str) -> str:
    _orders(postgres_url, range(1, 7))
    return postgres_url


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_reads_only_the_requested_columns_as_plain_arrow_types(pg: str) -> None:
    result = read_sql(pg, "orders", columns=["id", "amount", "ref", "doc", "updated_at"])
    table = result.to_table().sort_by("id")
    assert table.column_names == ["id", "amount", "ref", "doc", "updated_at"]
    assert "secret_note" not in table.column_names
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert table.schema.field("ref").type == pa.string()
    assert table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("amount").to_pylist()[:2] == [Decimal("1.25"), Decimal("2.50")]
    assert len(table.column("ref")[0].as_py()) == 36
    assert table.column("doc")[2].as_py().replace(" ", "") == '{"n":3}'
    assert "***" not in result.source and "orders" in result.source


@pytest.mark.postgres
def test_postgresql_psycopg_urls_and_schema_qualified_odd_names(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute('CREATE SCHEMA sales; CREATE TABLE sales."Order Lines" ("select" int, x int)')
        con.execute('INSERT INTO sales."Order Lines" VALUES (1, 10), (2, 20)')
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    table = read_sql(url, 'sales."Order Lines"', columns=["select"]).to_table()
    assert table.column_names == ["select"]
    assert sorted(table.column("select").to_pylist()) == [1, 2]


@pytest.mark.postgres
def test_a_query_is_wrapped_so_pushdown_still_applies(pg: str) -> None:
    result = read_sql(
        pg,
        query="SELECT id, amount * 2 AS doubled, code FROM orders WHERE id <= 4;",
        columns=["doubled"],
        incremental_column="id",
        since=2,
    )
    table = result.to_table()
    assert table.column_names == ["doubled"]
    assert [float(v) for v in table.column("doubled").to_pylist()] == [7.5, 10.0]
    assert result.watermark == 4


@pytest.mark.postgres
def test_incremental_reads_only_newer_rows_and_moves_the_watermark(pg: str) -> None:
    first = read_sql(pg, "orders", columns=["id"], incremental_column="updated_at")
    assert first.to_table().column("id").to_pylist() == [1, 2, 3, 4, 5, 6]  # ordered
    assert first.watermark == T0 + timedelta(hours=6)

    _orders(pg, range(7, 10))
    second = read_sql(
        pg, "orders", columns=["id"], incremental_column="updated_at", since=first.watermark
    )
    assert second.to_table().column("id").to_pylist() == [7, 8, 9]
    assert second.watermark == T0 + timedelta(hours=9)

    # A watermark stored as JSON text comes back as a string: coerced to the column's type.
    again = read_sql(
        pg, "orders", columns=["id"], incremental_column="updated_at",
        since=second.watermark.isoformat(),
    )  # fmt: skip
    assert again.to_table().num_rows == 0
    assert again.watermark == second.watermark.isoformat()
    assert again.to_table().column_names == ["id"]


@pytest.mark.postgres
def test_since_is_bound_never_pasted(pg: str) -> None:
    sneaky = "c000' OR '1'='1"
    result = read_sql(pg, "orders", columns=["id"], incremental_column="code", since=sneaky)
    assert result.to_table().column("id").to_pylist() == [1, 2, 3, 4, 5, 6]  # 'c001' > sneaky
    beyond = read_sql(pg, "orders", columns=["id"], incremental_column="code", since="d' OR 1=1--")
    assert beyond.to_table().num_rows == 0
    with pytest.raises(SourceError, match="does not fit the incremental column"):
        read_sql(pg, "orders", incremental_column="updated_at", since="yesterday' OR 1=1")


@pytest.mark.postgres
def test_streams_in_batches_into_a_lake_table(pg: str, tmp_path: Path) -> None:
    result = read_sql(pg, "orders", columns=["id", "amount", "code"], batch_rows=4)
    assert isinstance(result.data, pa.RecordBatchReader)
    lake = Lake(tmp_path / "lake")
    lake.create("main", "orders", result.data)
    back = lake.read("main", "orders").sort_by("id")
    assert back.column("id").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert back.column("amount").to_pylist()[-1] == Decimal("7.50")


@pytest.mark.postgres
def test_batches_hold_at_most_batch_rows(pg: str) -> None:
    reader = read_sql(pg, "orders", batch_rows=4).data
    assert isinstance(reader, pa.RecordBatchReader)
    assert [b.num_rows for b in reader] == [4, 2]


@pytest.mark.postgres
def test_missing_table_and_column_are_one_line_errors(pg: str) -> None:
    with pytest.raises(SourceError, match='relation "nope" does not exist') as info:
        read_sql(pg, "nope")
    assert "\n" not in str(info.value)
    with pytest.raises(SourceError, match='column "zz" does not exist'):
        read_sql(pg, "orders", columns=["id", "zz"])


def test_dead_server_is_retried_then_fails_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{_free_port()}/shop"
    logger = "dap_kernel.connectors.sql"
    with caplog.at_level(logging.WARNING, logger=logger), pytest.raises(SourceError) as info:
        read_sql(url, "orders", attempts=3, backoff_s=0.01)
    message = str(info.value)
    assert "Connection refused" in message and "after 3 attempts" in message
    assert PASSWORD not in message and "app:***@127.0.0.1" in message
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[str]:
    """A PostgreSQL that checks passwords (the shared server trusts everyone)."""
    datadir = Path(tempfile.mkdtemp(prefix="dap-pgsrc-"))
    as_postgres: list[str] = []
    pwfile = datadir / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = str(datadir / "data"), _free_port()
    init = [_pg_bin("initdb"), "-D", data, "-U", "postgres", "--auth=scram-sha-256"]
    subprocess.run([*as_postgres, *init, f"--pwfile={pwfile}"], check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off"
    log = str(datadir / "server.log")
    start = [_pg_bin("pg_ctl"), "-D", data, "-l", log, "-o", options, "-w", "start"]
    subprocess.run([*as_postgres, *start], check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop = [_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]
        subprocess.run([*as_postgres, *stop], capture_output=True)
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.mark.postgres
def test_wrong_password_is_not_retried_and_not_shown(
    password_postgres: str, caplog: pytest.LogCaptureFixture
) -> None:
    right = f"postgresql://postgres:{PASSWORD}@{password_postgres}/postgres"
    assert read_sql(right, query="SELECT 1 AS one").to_table().column("one").to_pylist() == [1]
    wrong = "Wr0ng-" + PASSWORD
    logger = "dap_kernel.connectors.sql"
    with caplog.at_level(logging.WARNING, logger=logger), pytest.raises(SourceError) as info:
        read_sql(right.replace(PASSWORD, wrong), "pg_class", attempts=3)
    message = str(info.value)
    assert 'password authentication failed for user "postgres"' in message
    assert wrong not in message and PASSWORD not in message and "postgres:***@" in message
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


# -- SQLite ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE events (id INTEGER, kind TEXT, at TEXT, private TEXT)")
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?)",
        [(i, f"k{i % 2}", f"2024-01-{i:02d}", "hidden") for i in range(1, 11)],
    )
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])  # ADBC, SQLAlchemy fallback
def test_sqlite_pushdown_and_incremental(sqlite_db: Path, scheme: str) -> None:
    url = f"{scheme}:///{sqlite_db}"
    before = sqlite_db.read_bytes()
    result = read_sql(
        url, "events", columns=["id", "at"], incremental_column="at", since="2024-01-07"
    )
    table = result.to_table()
    assert table.column_names == ["id", "at"]
    assert table.column("id").to_pylist() == [8, 9, 10]
    assert result.watermark == "2024-01-10"
    empty = read_sql(url, "events", columns=["id"], incremental_column="at", since="2024-01-10")
    assert empty.to_table().num_rows == 0 and empty.watermark == "2024-01-10"
    assert sqlite_db.read_bytes() == before  # read-only


def test_sqlite_missing_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(SourceError, match="no such SQLite file"):
        read_sql(f"sqlite:///{missing}", "t")
    assert not missing.exists()


def test_sqlite_missing_table(sqlite_db: Path) -> None:
    with pytest.raises(SourceError, match="no such table: nope"):
        read_sql(f"sqlite:///{sqlite_db}", "nope")


# -- mistakes --------------------------------------------------------------------------------


def test_argument_mistakes_are_clear(sqlite_db: Path) -> None:
    url = f"sqlite:///{sqlite_db}"
    with pytest.raises(SourceError, match="exactly one of table= or query="):
        read_sql(url)
    with pytest.raises(SourceError, match="exactly one of table= or query="):
        read_sql(url, "events", query="SELECT 1")
    with pytest.raises(SourceError, match="not a database URL") as info:
        read_sql(f"shop:{PASSWORD}", "events")
    assert PASSWORD not in str(info.value)


def test_a_dialect_without_a_driver_says_which_to_install() -> None:
    with pytest.raises(SourceError, match="no database driver for mysql://") as info:
        read_sql(f"mysql://app:{PASSWORD}@127.0.0.1/shop", "orders")
    assert PASSWORD not in str(info.value)
