"""CSV → lake table: `dap ingest` vs raw DuckDB `read_csv` → Parquet vs polars, same file, one run.

    .venv/bin/python bench/ingest.py [--mb 1024] [--reps 1] [--bad 100] [--json PATH]

1. Generates ``bench/data/ingest/sales-{MB}mb.csv`` (skipped when present): id, customer,
   amount, day, ts, region, qty, note; ``--bad`` malformed lines spread through the file (too
   many fields, a non-number amount), so DAP's quarantine path is part of what is measured.
2. Per rep, interleaved (the order rotates each rep):
   - **duckdb**: ``COPY (SELECT * FROM read_csv(f)) TO 'x.parquet'`` on a plain
     ``duckdb.connect()``; with bad lines present it needs ``ignore_errors=true`` (it drops them);
   - **polars**: ``pl.scan_csv(f, ignore_errors=True, truncate_ragged_lines=True)``
     ``.sink_parquet(..)`` (it keeps bad lines, padded, cut or nulled);
   - **dap**: ``ingest(f, "main.sales", mode="overwrite")`` in a fresh workspace: sniffing,
     DuckDB ``COPY (SELECT … FROM read_csv(…, store_rejects)) TO '<table>/part-<uuid>.parquet'
     (RETURN_STATS)``, one Delta commit adding the file, catalog statistics from the writer's
     measurements, quarantine with file and line.
3. Prints seconds (wall, and CPU of the process: steadier on a shared machine), rows/s and MB/s
   of each side and the throughput ratio dap/duckdb (target ≥ 0.9), by wall and by CPU time.
   For reference it also times a full catalog ``refresh`` (the rescan every write used to pay;
   ingest no longer does it) and the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
TARGET_RATIO = 0.9
BYTES_PER_ROW = 78  # of the generated rows, to size the file


def generate(path: Path, mb: int, bad: int) -> int:
    """Write the CSV with DuckDB (fast), then splice in ``bad`` malformed lines."""
    rows = mb * 1_000_000 // BYTES_PER_ROW
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    con = duckdb.connect()
    con.sql(
        f"""COPY (SELECT i AS id, 'cust_' || (i % 100003) AS customer,
            round((i % 99991) * 0.37, 2) AS amount, DATE '2020-01-01' + (i % 1800)::INT AS day,
            TIMESTAMP '2020-01-01 00:00:00' + to_seconds(i % 86400000) AS ts,
            ['EMEA', 'APAC', 'AMER', 'LATAM'][1 + i % 4] AS region, i % 17 AS qty,
            'note ' || (i * 7919 % 1000003) AS note
        FROM range({rows}) t(i)) TO '{tmp}' (HEADER, DELIMITER ',')"""
    )
    con.close()
    if bad:
        every = max(rows // bad, 1)
        with open(tmp, "rb") as src, open(path, "wb") as dst:
            for n, line in enumerate(src):
                if n and n % every == 0 and n // every <= bad:
                    line = (
                        line.rstrip(b"\n") + b",surplus\n"
                        if (n // every) % 2
                        else b"%d,cust,not-a-number,2020-01-01,2020-01-01 00:00:00,EMEA,1,x\n" % n
                    )
                dst.write(line)
        tmp.unlink()
    else:
        tmp.rename(path)
    return rows


def count_lines(path: Path) -> int:
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines - 1  # the header


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def cpu_timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall seconds and this process's CPU seconds (every DuckDB/polars thread included): on a
    shared machine the CPU figure is the steadier one."""
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - started, time.process_time() - cpu, value


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="CSV size in MB (default 1024)")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--bad", type=int, default=100, help="malformed lines in the file")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "ingest")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    path = args.data / f"sales-{args.mb}mb-bad{args.bad}.csv"
    if not path.exists():
        print(f"data: generating {path} …", flush=True)
        seconds, _ = timed(lambda: generate(path, args.mb, args.bad))
        print(f"data: generated in {seconds:.1f} s")
    load_before = _load()
    size_mb = path.stat().st_size / 1e6
    lines = count_lines(path)
    print(f"data: {path} ({size_mb:,.0f} MB, {lines:,} data lines, {args.bad} malformed)")

    from dap_kernel.ingestion import ingest
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="dap-bench-ingest-"))
    ws = Workspace(Settings(home=work / "home", user="bench"))
    session = ws.session()
    out = work / "out.parquet"
    lenient = ", ignore_errors=true" if args.bad else ""

    def raw_duckdb() -> int:
        con = duckdb.connect()
        con.sql(f"COPY (SELECT * FROM read_csv('{path}'{lenient})) TO '{out}' (FORMAT parquet)")
        con.close()
        return int(pq.ParquetFile(out).metadata.num_rows)

    def polars_sink() -> int:
        pl.scan_csv(
            path, ignore_errors=bool(args.bad), truncate_ragged_lines=bool(args.bad)
        ).sink_parquet(out)
        return int(pq.ParquetFile(out).metadata.num_rows)

    loads: list[tuple[int, int]] = []

    def dap_ingest() -> int:
        result = ingest(path, "main.sales", mode="overwrite", session=session)
        loads.append((result.rows_loaded, result.rows_quarantined))
        return result.rows_loaded

    sides: dict[str, Callable[[], int]] = {
        "duckdb": raw_duckdb,
        "polars": polars_sink,
        "dap": dap_ingest,
    }
    times: dict[str, list[float]] = {k: [] for k in sides}
    rows: dict[str, int] = {}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    profile: list[float] = []
    try:
        for rep in range(args.reps):
            order = list(sides)[rep % 3 :] + list(sides)[: rep % 3]
            for name in order:
                seconds, cpu_s, n = cpu_timed(sides[name])
                times[name].append(seconds)
                cpu[name].append(cpu_s)
                rows[name] = int(n)  # type: ignore[call-overload]
                print(
                    f"rep {rep + 1} {name:7s} {seconds:7.2f} s  (cpu {cpu_s:5.2f} s)  "
                    f"{rows[name]:,} rows",
                    flush=True,
                )
            # The full catalog profile (what every write used to pay), timed alone.
            profile.append(timed(lambda: ws.catalog.refresh("main.sales"))[0])
    finally:
        ws.close()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'side':8s} {'median s':>9s} {'cpu s':>6s} {'rows/s':>12s} {'MB/s':>8s}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    for name, seconds in medians.items():
        print(
            f"{name:8s} {seconds:9.2f} {cpu_medians[name]:6.2f} "
            f"{rows[name] / seconds:12,.0f} {size_mb / seconds:8.1f}"
        )
    stats_s = statistics.median(profile)
    ratio = (rows["dap"] / medians["dap"]) / (rows["duckdb"] / medians["duckdb"])
    cpu_ratio = (rows["dap"] / cpu_medians["dap"]) / (rows["duckdb"] / cpu_medians["duckdb"])
    print(
        f"\ndap/duckdb throughput ratio: {ratio:.2f} (target ≥ {TARGET_RATIO}); "
        f"per CPU second: {cpu_ratio:.2f}"
    )
    print(f"a full catalog rescan (refresh, not part of ingest any more) takes {stats_s:.2f} s")
    print(f"load average before {load_before} and after {_load()} (1, 5, 15 min)")
    print(f"dap loaded {loads[-1][0]:,} rows and quarantined {loads[-1][1]:,} (with file and line)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "file_mb": size_mb,
                    "lines": lines,
                    "bad": args.bad,
                    "reps": args.reps,
                    "seconds": times,
                    "cpu_seconds": cpu,
                    "rows": rows,
                    "catalog_refresh_s": profile,
                    "ratio_dap_duckdb": ratio,
                    "cpu_ratio_dap_duckdb": cpu_ratio,
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "duckdb": version("duckdb"),
                        "polars": version("polars"),
                        "deltalake": version("deltalake"),
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
