"""Copies of lake tables on a ClickHouse server: the earlier Memory copy sent row by row
against today's MergeTree copy sorted by date and sent column by column, side by side.

    .venv/bin/python bench/clickhouse_copy.py [--rows 1000000] [--reps 5]

Starts Debian's ``clickhouse-server`` on 127.0.0.1 (tests/engines/clickhouse_server.py), makes
an orders-like Arrow table (id, day over three years, region, amount, quantity), copies it
both ways and times the copy, then a one-month range query on each copy (median of --reps).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dap_kernel.engines.base import Binding
from dap_kernel.engines.clickhouse import ClickHouseEngine, clickhouse_type
from dap_kernel.engines.names import quote_ident
from tests.engines.clickhouse_server import clickhouse_server


def orders(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    start = dt.date(2024, 1, 1)
    days = rng.integers(0, 3 * 365, rows)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "day": pa.array([start + dt.timedelta(days=int(d)) for d in days], pa.date32()),
            "region": pa.array(rng.choice(["EMEA", "APAC", "AMER", "LATAM"], rows)),
            "amount": pa.array(rng.random(rows) * 1000),
            "quantity": pa.array(rng.integers(1, 50, rows)),
        }
    )


def memory_copy(engine: ClickHouseEngine, data: pa.Table, name: str) -> None:
    """What bind did before: a Memory table, the rows sent as Python rows."""
    from clickhouse_connect.datatypes.registry import get_from_name

    database = engine.names.schema("bench")
    types = [clickhouse_type(f.type) for f in data.schema]
    columns = ", ".join(
        f"{quote_ident(f.name)} {t}" for f, t in zip(data.schema, types, strict=True)
    )
    engine._trusted(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
    engine._databases.add(database)
    engine._trusted(f"CREATE TABLE {engine.relation('bench', name)} ({columns}) ENGINE = Memory")
    engine._client.insert(
        name,
        [list(r.values()) for r in data.to_pylist()],
        database=database,
        column_names=data.column_names,
        column_types=[get_from_name(t) for t in types],
    )


def timed(fn: object, *args: object) -> float:
    t = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    data = orders(args.rows)
    with tempfile.TemporaryDirectory() as tmp, clickhouse_server(Path(tmp)) as url:
        engine = ClickHouseEngine(url, required=("readonly",))
        try:
            old_s = timed(memory_copy, engine, data, "memory")
            new_s = timed(engine.bind, [Binding("bench", "merge", "arrow", "", "v1", arrow=data)])
            sql = (
                "SELECT count() AS n, sum(amount) AS revenue FROM {} "
                "WHERE day >= toDate('2025-03-01') AND day < toDate('2025-04-01')"
            )
            answers, times = {}, {}
            for name in ("memory", "merge"):
                query = sql.format(engine.relation("bench", name))
                engine.execute_internal(query)  # warm
                runs = []
                for _ in range(args.reps):
                    t = time.perf_counter()
                    answers[name] = engine.execute_internal(query).to_pylist()
                    runs.append(time.perf_counter() - t)
                times[name] = statistics.median(runs)
        finally:
            engine.close()
    assert answers["memory"][0]["n"] == answers["merge"][0]["n"], answers
    print(f"{args.rows:,} rows, server {engine._version}")
    print(
        f"copy: Memory row by row {old_s:.2f} s ({args.rows / old_s:,.0f} rows/s); "
        f"MergeTree by column {new_s:.2f} s ({args.rows / new_s:,.0f} rows/s)"
    )
    print(
        f"one month of three years, median of {args.reps}: Memory {times['memory'] * 1000:.1f} ms, "
        f"MergeTree sorted by day {times['merge'] * 1000:.1f} ms "
        f"({answers['merge'][0]['n']:,} rows match)"
    )


if __name__ == "__main__":
    main()
