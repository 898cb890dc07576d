"""Files → lake table: `dap ingest` vs raw DuckDB → Parquet vs polars, same files, one run.

    .venv/bin/python bench/ingest.py [--format csv|parquet] [--mb N] [--reps 1] [--bad 100]
                                     [--files 6] [--json PATH]

**CSV** (the default, ``--mb 1024``):

1. Generates ``bench/data/ingest/sales-{MB}mb-bad{BAD}.csv`` (skipped when present): id,
   customer, amount, day, ts, region, qty, note; ``--bad`` malformed lines spread through the
   file (too many fields, a non-number amount), so DAP's quarantine path is part of what is
   measured.
2. Per rep, interleaved (the order rotates each rep):
   - **duckdb**: ``COPY (SELECT * FROM read_csv(f)) TO 'x.parquet'`` on a plain
     ``duckdb.connect()``; with bad lines present it needs ``ignore_errors=true`` (it drops them);
   - **polars**: ``pl.scan_csv(f, ignore_errors=True, truncate_ragged_lines=True)``
     ``.sink_parquet(..)`` (it keeps bad lines, padded, cut or nulled);
   - **dap**: ``ingest(f, "main.sales", mode="overwrite")`` in a fresh workspace: sniffing,
     DuckDB ``COPY (SELECT … FROM read_csv(…, store_rejects)) TO '<table>/part-<uuid>.parquet'
     (RETURN_STATS)``, one Delta commit adding the file, catalog statistics from the writer's
     measurements, quarantine with file and line.

**Parquet** (``--format parquet``, ``--mb 390`` by default):

1. Generates ``bench/data/ingest/parquet-{MB}mb-{FILES}files/part-N.parquet`` (skipped when
   present), written by DuckDB (snappy): id BIGINT, customer VARCHAR, amount DOUBLE, score
   DOUBLE, day DATE, ts TIMESTAMP, region VARCHAR, qty INTEGER, and two nullable columns
   (note VARCHAR, discount DOUBLE, a NULL in every 7th / 11th row).
2. Per rep, interleaved: **duckdb** ``COPY (SELECT * FROM read_parquet([...])) TO 'x.parquet'
   (FORMAT parquet)``; **polars** ``pl.scan_parquet([...]).sink_parquet(..)``; **dap**
   ``ingest(folder, "main.sales", mode="overwrite")`` (the core function ``dap ingest`` calls).

Both modes print seconds (wall, and CPU of the process: steadier on a shared machine), rows/s and
MB/s of each side and the throughput ratio dap/duckdb (target ≥ 0.9), by wall and by CPU time.
For reference they also time a full catalog ``refresh`` (the rescan every write used to pay;
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
PARQUET_BYTES_PER_ROW = 32  # of the generated Parquet rows (snappy), to size the files


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


def generate_parquet(folder: Path, mb: int, files: int) -> int:
    """Write ``files`` Parquet files of about ``mb`` MB in all with DuckDB (realistic types, two
    nullable columns); ids run on across the files."""
    rows = mb * 1_000_000 // PARQUET_BYTES_PER_ROW
    per_file = rows // files
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    con = duckdb.connect()
    for n in range(files):
        start = n * per_file
        con.sql(
            f"""COPY (SELECT i AS id, 'cust_' || (i % 100003) AS customer,
                round((i % 99991) * 0.37, 2)::DOUBLE AS amount,
                ((i * 2654435761) % 1000003) / 7.0 AS score,
                DATE '2020-01-01' + (i % 1800)::INT AS day,
                TIMESTAMP '2020-01-01 00:00:00' + to_seconds(i % 86400000) AS ts,
                ['EMEA', 'APAC', 'AMER', 'LATAM'][1 + i % 4] AS region,
                (i % 17)::INTEGER AS qty,
                CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || (i * 7919 % 1000003) END AS note,
                CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 1000) / 100.0 END AS discount
            FROM range({start}, {start + per_file}) t(i))
            TO '{tmp / f"part-{n}.parquet"}' (FORMAT parquet)"""
        )
    con.close()
    tmp.rename(folder)
    return per_file * files


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
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--mb", type=int, default=None, help="data size in MB (CSV 1024, Parquet 390)"
    )
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--bad", type=int, default=100, help="CSV: malformed lines in the file")
    parser.add_argument("--files", type=int, default=6, help="Parquet: how many files")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "ingest")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    parquet = args.format == "parquet"
    mb = args.mb or (390 if parquet else 1024)

    if parquet:
        path = args.data / f"parquet-{mb}mb-{args.files}files"
        if not path.exists():
            print(f"data: generating {path} …", flush=True)
            seconds, _ = timed(lambda: generate_parquet(path, mb, args.files))
            print(f"data: generated in {seconds:.1f} s")
        sources = sorted(path.glob("*.parquet"))
        size_mb = sum(f.stat().st_size for f in sources) / 1e6
        lines = sum(pq.ParquetFile(f).metadata.num_rows for f in sources)
        print(f"data: {path} ({size_mb:,.0f} MB in {len(sources)} files, {lines:,} rows)")
    else:
        path = args.data / f"sales-{mb}mb-bad{args.bad}.csv"
        if not path.exists():
            print(f"data: generating {path} …", flush=True)
            seconds, _ = timed(lambda: generate(path, mb, args.bad))
            print(f"data: generated in {seconds:.1f} s")
        sources = [path]
        size_mb = path.stat().st_size / 1e6
        lines = count_lines(path)
        print(f"data: {path} ({size_mb:,.0f} MB, {lines:,} data lines, {args.bad} malformed)")
    load_before = _load()

    from dap_kernel.ingestion import ingest
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="dap-bench-ingest-"))
    ws = Workspace(Settings(home=work / "home", user="bench"))
    session = ws.session()
    out = work / "out.parquet"
    lenient = ", ignore_errors=true" if args.bad else ""
    listed = "[" + ", ".join(f"'{f}'" for f in sources) + "]"

    def raw_duckdb() -> int:
        con = duckdb.connect()
        read = f"read_parquet({listed})" if parquet else f"read_csv('{path}'{lenient})"
        con.sql(f"COPY (SELECT * FROM {read}) TO '{out}' (FORMAT parquet)")
        con.close()
        return int(pq.ParquetFile(out).metadata.num_rows)

    def polars_sink() -> int:
        if parquet:
            pl.scan_parquet(sources).sink_parquet(out)
        else:
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
                    f"{rows[name]:,} rows  load {_load()}",
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
    quarantined = "" if parquet else " (with file and line)"
    print(f"dap loaded {loads[-1][0]:,} rows and quarantined {loads[-1][1]:,}{quarantined}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "format": args.format,
                    "data_mb": size_mb,
                    "files": len(sources),
                    "rows": lines,
                    "bad": 0 if parquet else args.bad,
                    "reps": args.reps,
                    "seconds": times,
                    "cpu_seconds": cpu,
                    "rows_out": rows,
                    "catalog_refresh_s": profile,
                    "ratio_dap_duckdb": ratio,
                    "cpu_ratio_dap_duckdb": cpu_ratio,
                    "load_before": load_before,
                    "load_after": _load(),
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
