"""PostgreSQL → lake throughput: DAP's ``read_sql`` (ADBC) vs the usual other ways, one run.

    .venv/bin/python bench/pg_to_lake.py [--rows 5000000] [--reps 1] [--json PATH]

A throw-away PostgreSQL (Debian's, initdb'd into a temp dir, 127.0.0.1, fsync off) gets one
table ``orders`` of ``--rows`` rows (bigint, int, numeric(12,2), text, timestamptz, text).
Variants (each reads the whole table; the median of ``--reps`` runs is reported):

  dap_lake        ``read_sql(url, "orders")`` streamed into ``Lake.create`` (a Delta commit)
  dap_arrow       ``read_sql(url, "orders").to_table()``: the extract alone
  copy_lake       ``copy_pyarrow`` below, then the same ``Lake.create`` (the raw way to a lake)
  adbc_raw        the ADBC driver alone (``fetch_arrow_table``; numeric stays an opaque string,
                  uuid/json stay extension types): what ``read_sql``'s type mapping costs
  polars_sa       ``pl.read_database("SELECT * FROM orders", sqlalchemy engine)`` (psycopg 3)
  copy_pyarrow    psycopg ``COPY orders TO STDOUT (FORMAT csv)`` → memory → ``pyarrow.csv``
  copy_duckdb     the same CSV dump written to a file → DuckDB ``read_csv`` → Arrow

rows/s is the table's row count over the wall time; ratios are against ``dap_lake``. Every
variant runs once untimed on a 1,000-row table first (imports, first connection).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        sys.exit("PostgreSQL is not installed (apt-get install -y postgresql)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server for this run only (same recipe as tests/conftest.py)."""
    datadir = Path(tempfile.mkdtemp(prefix="dap-bench-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(datadir, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = str(datadir / "data"), _free_port()
    init = [_pg_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    subprocess.run([*as_postgres, *init], check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off"
    log = str(datadir / "server.log")
    start = [_pg_bin("pg_ctl"), "-D", data, "-l", log, "-o", options, "-w", "start"]
    subprocess.run([*as_postgres, *start], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = [_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]
        subprocess.run([*as_postgres, *stop], capture_output=True)
        shutil.rmtree(datadir, ignore_errors=True)


def fill(url: str, rows: int, table: str = "orders") -> float:
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            f"""CREATE UNLOGGED TABLE {table} (
                id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text,
                created_at timestamptz, note text)"""
        )
        con.execute(
            f"""INSERT INTO {table}
               SELECT i, (i * 7919) %% 100000, round((random() * 1000)::numeric, 2),
                      (ARRAY['new','paid','shipped','returned'])[1 + i %% 4],
                      timestamptz '2024-01-01' + i * interval '1 second',
                      'order note ' || i
               FROM generate_series(1, %s::bigint) AS i""",
            (rows,),
        )
        con.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - start


# -- the variants: each returns the number of rows it ended up with --------------------------


def _to_lake(work: Path, data: Any) -> int:
    import deltalake

    from dap_kernel.lake import Lake

    lake = Lake(work / "lake")
    if lake.exists("main", "orders"):
        lake.drop("main", "orders")
    lake.create("main", "orders", data)
    return int(deltalake.DeltaTable(str(lake.path("main", "orders"))).count())


def dap_lake(url: str, work: Path, table: str) -> int:
    from dap_kernel.connectors.sql import read_sql

    return _to_lake(work, read_sql(url, table).data)


def dap_arrow(url: str, work: Path, table: str) -> int:
    from dap_kernel.connectors.sql import read_sql

    return int(read_sql(url, table).to_table().num_rows)


def adbc_raw(url: str, work: Path, table: str) -> int:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url) as con, con.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        return int(cur.fetch_arrow_table().num_rows)


def polars_sa(url: str, work: Path, table: str) -> int:
    import polars as pl
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as con:
            return int(pl.read_database(f"SELECT * FROM {table}", con).to_arrow().num_rows)
    finally:
        engine.dispose()


def _copy_csv(url: str, table: str, sink: Any) -> None:
    import psycopg

    with (
        psycopg.connect(url) as con,
        con.cursor().copy(f"COPY {table} TO STDOUT (FORMAT csv, HEADER)") as copy,
    ):
        for chunk in copy:
            sink.write(chunk)


def _copy_arrow(url: str, table: str) -> Any:
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    _copy_csv(url, table, buffer)
    buffer.seek(0)
    return pacsv.read_csv(buffer)


def copy_pyarrow(url: str, work: Path, table: str) -> int:
    return int(_copy_arrow(url, table).num_rows)


def copy_lake(url: str, work: Path, table: str) -> int:
    return _to_lake(work, _copy_arrow(url, table))


def copy_duckdb(url: str, work: Path, table: str) -> int:
    import duckdb

    path = work / f"{table}.csv"
    with path.open("wb") as f:
        _copy_csv(url, table, f)
    con = duckdb.connect()
    try:
        arrow = duckdb.read_csv(str(path), connection=con).to_arrow_table()
    finally:
        con.close()
        path.unlink()
    return int(arrow.num_rows)


VARIANTS: dict[str, Callable[[str, Path, str], int]] = {
    "dap_lake": dap_lake,
    "copy_lake": copy_lake,
    "dap_arrow": dap_arrow,
    "adbc_raw": adbc_raw,
    "polars_sa": polars_sa,
    "copy_pyarrow": copy_pyarrow,
    "copy_duckdb": copy_duckdb,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated variants")
    parser.add_argument("--json", default="", help="write the results here")
    args = parser.parse_args()
    chosen = [v for v in args.only.split(",") if v] or list(VARIANTS)

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with postgres() as url, tempfile.TemporaryDirectory(prefix="dap-bench-") as tmp:
        work = Path(tmp)
        print(f"filling orders with {args.rows:,} rows … ", end="", flush=True)
        print(f"{fill(url, args.rows):.1f} s")
        fill(url, 1000, "warm")
        for name in chosen:  # imports and first connections, untimed
            VARIANTS[name](url, work, "warm")
        seconds: dict[str, list[float]] = {v: [] for v in chosen}
        for rep in range(args.reps):
            order = chosen if rep % 2 == 0 else list(reversed(chosen))
            for name in order:
                start = time.perf_counter()
                got = VARIANTS[name](url, work, "orders")
                seconds[name].append(time.perf_counter() - start)
                if got != args.rows:
                    print(f"  {name}: ROW COUNT MISMATCH {got} != {args.rows}")
    medians = {v: statistics.median(s) for v, s in seconds.items()}
    base = medians.get("dap_lake") or next(iter(medians.values()))
    print()
    print(f"PostgreSQL → Arrow/lake, {args.rows:,} rows, median of {args.reps}")
    print(f"{'variant':<14}{'seconds':>10}{'rows/s':>14}{'vs dap_lake':>14}")
    for name, sec in medians.items():
        print(f"{name:<14}{sec:>10.2f}{args.rows / sec:>14,.0f}{base / sec:>13.2f}×")
    print("(vs dap_lake > 1× means that variant is faster than DAP's extract + Delta write)")
    if args.json:
        out = {"rows": args.rows, "reps": args.reps, "seconds": seconds, "median_s": medians}
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
