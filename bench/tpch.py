"""TPC-H through the governed DAP path vs the raw engine over the same Parquet files.

    .venv/bin/python bench/tpch.py [--scale 1] [--reps 3] [--queries DIR] [--json PATH]
                                   [--engine duckdb|chdb|spark]

``--engine spark`` compares governed Spark (``DAP_ENGINE=spark``) with raw Spark SQL over the
same files (the query transpiled by sqlglot, temporary views over ``spark.read.parquet``), both
in the process's one local Spark session; ``--engine chdb`` compares governed chDB with raw chDB
(Memory tables loaded once from the same files, the engine's query settings) in the process's one
chDB server. The steps below read "Spark" or "chDB" for "DuckDB".

1. Generates TPC-H Parquet with ``tpchgen-cli`` into ``bench/data/tpch-sf{SCALE}`` (skipped
   when the eight files are already there).
2. Opens a fresh DAP workspace in a temporary home and registers the eight files as catalog
   tables in schema ``main``, so the 22 standard queries run unmodified.
3. Opens a plain ``duckdb.connect()`` with one view per table over the same files.
4. Per query: one warm-up on each side (their results are compared), then ``--reps`` timed
   runs, interleaved, alternating which side goes first.

DAP side: ``Session.sql(q)`` (parse/check/qualify with sqlglot, catalog lookup, view binding,
DuckDB, audit record, Arrow → polars). Raw side: ``con.sql(q).to_arrow_table()``.
Both engines get the same ``threads`` setting. A query DAP refuses or fails is reported, not
worked around.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb
import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from dap_kernel.session import Workspace
from polars.testing import assert_frame_equal

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")
DEFAULT_QUERIES = Path(__file__).resolve().parents[2] / "shared/data/tpch"
TARGET_RATIO = 1.05
T = TypeVar("T")


@dataclass
class QueryRow:
    query: str
    raw_ms: list[float] = field(default_factory=list)
    dap_ms: list[float] = field(default_factory=list)
    raw_rows: int | None = None
    dap_rows: int | None = None
    check: str = ""  # "equal", or what differs
    error: str = ""  # DAP (or raw) failure, verbatim
    prepare_ms: float | None = None  # DAP's parse/check/qualify/generate alone (sqlglot)
    steps: dict[str, float] = field(default_factory=dict)  # governance steps run alone (ms)

    @property
    def raw_median(self) -> float | None:
        return statistics.median(self.raw_ms) if self.raw_ms else None

    @property
    def dap_median(self) -> float | None:
        return statistics.median(self.dap_ms) if self.dap_ms else None

    @property
    def ratio(self) -> float | None:
        if self.raw_median and self.dap_median is not None:
            return self.dap_median / self.raw_median
        return None


# -- data ------------------------------------------------------------------------------------


def tpchgen() -> str:
    found = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    if not Path(found).exists():
        sys.exit("tpchgen-cli not found: pip install tpchgen-cli (into .venv)")
    return found


def table_path(data: Path, name: str) -> Path:
    """``DIR/name.parquet``, or ``DIR/name/*.parquet`` when generated with ``--parts``."""
    single = data / f"{name}.parquet"
    if single.exists():
        return single
    return data / name / "*.parquet"


def ensure_data(data: Path, scale: float) -> None:
    missing = [
        t for t in TABLES if not (data / f"{t}.parquet").exists() and not (data / t).is_dir()
    ]
    if not missing:
        print(f"data: {data} (present, generation skipped)")
        return
    data.mkdir(parents=True, exist_ok=True)
    scale_arg = str(int(scale)) if float(scale).is_integer() else str(scale)
    cmd = [tpchgen(), "parquet", "-s", scale_arg, "--output-dir", str(data), "--overwrite"]
    print(f"data: generating TPC-H SF{scale_arg} Parquet: {' '.join(cmd)}", flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"data: generated in {time.perf_counter() - started:.1f} s")


def load_queries(folder: Path, only: set[str] | None) -> list[tuple[str, str]]:
    files = sorted(folder.glob("q[0-9][0-9].sql"))
    if not files:
        sys.exit(f"no q01.sql … q22.sql in {folder} (pass --queries DIR)")
    queries = [(f.stem, f.read_text()) for f in files]
    if only:
        queries = [(n, q) for n, q in queries if n in only]
    return queries


# -- the two sides ---------------------------------------------------------------------------


def open_raw(data: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    for t in TABLES:
        path = str(table_path(data, t)).replace("'", "''")
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}')")
    return con


class RawSpark:
    """Raw Spark SQL over the same files: what the Spark column is compared with."""

    def __init__(self, data: Path) -> None:
        from dap_kernel.engines import spark

        spark.start_shared_session()
        self.spark = spark._Shared.root.newSession()
        for t in TABLES:
            self.spark.read.parquet(str(table_path(data, t))).createOrReplaceTempView(t)

    def sql(self, query: str) -> pa.Table:
        import sqlglot

        table: pa.Table = self.spark.sql(sqlglot.transpile(query, "duckdb", "spark")[0]).toArrow()
        return table

    def close(self) -> None:
        for t in TABLES:
            self.spark.catalog.dropTempView(t)


class RawChdb:
    """Raw chDB over the same files: each table loaded once into a Memory table (as the DAP
    chdb engine loads what it binds), the query transpiled by sqlglot, the engine's settings."""

    DATABASE = "bench_raw"

    def __init__(self, data: Path) -> None:
        from dap_kernel.engines.chdb import QUERY_SETTINGS, _Shared

        self.session = _Shared.acquire()  # chDB allows one embedded server per process
        self.settings = QUERY_SETTINGS.replace("readonly=1, ", "")
        self.session.query(f"CREATE DATABASE IF NOT EXISTS {self.DATABASE}", "CSV")
        for t in TABLES:
            path = str(table_path(data, t)).replace("'", "\\'")
            self.session.query(
                f"CREATE TABLE {self.DATABASE}.{t} ENGINE = Memory AS "
                f"SELECT * FROM file('{path}', Parquet)",
                "CSV",
            )

    def sql(self, query: str) -> pa.Table:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(query, read="duckdb")
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not table.db and table.name in TABLES and table.name not in ctes:
                table.set("db", exp.to_identifier(self.DATABASE))
        text = f"{tree.sql(dialect='clickhouse')} {self.settings}"
        reader = self.session.send_query(text, "Arrow").record_batch(rows_per_batch=100_000)
        return pa.Table.from_batches(list(reader))

    def close(self) -> None:
        self.session.query(f"DROP DATABASE IF EXISTS {self.DATABASE}", "CSV")


def open_dap(home: Path, data: Path, threads: int, engine: str = "duckdb"):  # type: ignore[no-untyped-def]
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    ws = Workspace(Settings(home=home, user="bench", threads=threads, engine=engine))
    for t in TABLES:
        started = time.perf_counter()
        info = ws.catalog.register_file(t, table_path(data, t))
        print(
            f"  registered main.{t:<9} {info.row_count or 0:>10,} rows "
            f"in {(time.perf_counter() - started) * 1000:7.0f} ms"
        )
    return ws


def engine_threads(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])


# -- comparing results -----------------------------------------------------------------------


def compare(raw: pa.Table, dap: pl.DataFrame) -> str:
    """ "equal", or a short description of the first difference."""
    if raw.num_rows != dap.height:
        return f"ROW COUNT differs: raw {raw.num_rows}, dap {dap.height}"
    raw_df = pl.from_arrow(raw)
    assert isinstance(raw_df, pl.DataFrame)
    notes = []
    if raw_df.columns != dap.columns:
        notes.append(f"column names differ: raw {raw_df.columns} vs dap {dap.columns}")
        dap = dap.rename(dict(zip(dap.columns, raw_df.columns, strict=True)))
    if raw_df.schema != dap.schema:
        notes.append(f"types differ: raw {raw_df.schema} vs dap {dap.schema}")
    try:
        assert_frame_equal(raw_df, dap, check_dtypes=False, check_exact=False, rel_tol=1e-9)
    except AssertionError as e:
        notes.append("values differ: " + str(e).splitlines()[0])
    return "; ".join(notes) if notes else "equal"


# -- the run ---------------------------------------------------------------------------------


STEP_REPS = 5


def governance_steps(ws: Workspace, text: str) -> dict[str, float]:
    """Median ms of each non-engine step of ``Session.query`` for this query, run alone."""
    from dap_kernel.governance.audit import AuditEvent
    from dap_kernel.governance.rewrite import StaticResolver, prepare

    catalog = ws.catalog
    names = StaticResolver(catalog.known_names())  # sqlglot work alone, no metadata read
    prepared = prepare(text, known=names, write_dialect=ws.engine.dialect)
    keys = [t.lower() for t in prepared.tables]
    bindings = catalog.bindings(prepared.tables)
    event = AuditEvent("bench", "query", "allowed", text, prepared.tables, row_count=1)
    steps: dict[str, Callable[[], object]] = {
        "prepare": lambda: prepare(text, known=names, write_dialect=ws.engine.dialect),
        "catalog.lookup": lambda: catalog.lookup(keys),
        "engine.bind": lambda: ws.engine.bind(bindings),
        "audit.record": lambda: ws.audit.record(event),
    }
    for fn in steps.values():  # warm
        fn()
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(STEP_REPS):
        for k, fn in steps.items():
            samples[k].append(timed(fn)[0])
    return {k: statistics.median(v) for k, v in samples.items()}


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def run(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    from dap_kernel.errors import DapError

    data = Path(args.data).resolve()
    ensure_data(data, args.scale)
    only = (
        {f"q{int(q.lower().lstrip('q')):02d}" for q in args.only.split(",")} if args.only else None
    )
    queries = load_queries(Path(args.queries), only)
    threads = args.threads or os.cpu_count() or 1

    tmp = tempfile.TemporaryDirectory(prefix="dap-bench-tpch-")
    home = Path(tmp.name)
    print(f"DAP home: {home} (temporary)")
    started = time.perf_counter()
    ws = open_dap(home, data, threads, args.engine)
    register_s = time.perf_counter() - started
    session = ws.session()
    if args.engine == "spark":
        raw: duckdb.DuckDBPyConnection | RawSpark | RawChdb = RawSpark(data)
        dap_threads = raw_threads = threads  # one local[threads] session serves both sides
    elif args.engine == "chdb":
        raw = RawChdb(data)
        dap_threads = raw_threads = threads  # one embedded chDB server serves both sides
    else:
        raw = open_raw(data, threads)
        dap_threads = engine_threads(ws.engine._con)  # type: ignore[attr-defined]
        raw_threads = engine_threads(raw)
    print(f"threads: raw {args.engine} {raw_threads}, DAP engine {dap_threads}; reps {args.reps}")
    if dap_threads != raw_threads:
        print("WARNING: the two engines run with different thread counts")

    rows: list[QueryRow] = []
    audit_extra = 0  # records written by governance_steps, not by queries
    for name, text in queries:
        row = QueryRow(name)
        rows.append(row)

        def run_raw(q: str = text) -> pa.Table:
            if isinstance(raw, RawSpark | RawChdb):
                return raw.sql(q)
            return raw.sql(q).to_arrow_table()

        def run_dap(q: str = text) -> pl.DataFrame:
            frame: pl.DataFrame = session.sql(q)
            return frame

        # warm-up (also the results compared)
        try:
            _, raw_result = timed(run_raw)
            row.raw_rows = raw_result.num_rows
        except Exception as e:  # duckdb's or Spark's error, reported as it is
            row.error = f"raw {args.engine} failed: {str(e).splitlines()[0]}"
            print(f"{name}: {row.error}", flush=True)
            continue
        try:
            _, dap_result = timed(run_dap)
            row.dap_rows = dap_result.height
        except DapError as e:
            row.error = f"DAP {type(e).__name__} ({e.code}): {e.message}"
            print(f"{name}: {row.error}", flush=True)
            continue
        row.check = compare(raw_result, dap_result)
        del raw_result, dap_result
        for rep in range(args.reps):
            sides = [("raw", run_raw), ("dap", run_dap)]
            if rep % 2:
                sides.reverse()
            for side, fn in sides:
                ms, _ = timed(fn)
                (row.raw_ms if side == "raw" else row.dap_ms).append(ms)
        row.steps = governance_steps(ws, text)
        audit_extra += STEP_REPS + 1
        row.prepare_ms = row.steps["prepare"]
        print(
            f"{name}: raw {row.raw_median:8.1f} ms  dap {row.dap_median:8.1f} ms  "
            f"x{row.ratio:.3f}  rows {row.dap_rows}  {row.check}",
            flush=True,
        )

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:
        import psutil

        rss_now = psutil.Process().memory_info().rss
    except ImportError:
        rss_now = None
    audit_rows = len(ws.audit.tail(100_000)) - audit_extra
    raw.close()
    ws.close()
    tmp.cleanup()

    ok = [r for r in rows if r.ratio is not None]
    total_raw = sum(r.raw_median or 0 for r in ok)
    total_dap = sum(r.dap_median or 0 for r in ok)
    result = {
        "engine": args.engine,
        "scale": args.scale,
        "reps": args.reps,
        "threads": {"raw": raw_threads, "dap": dap_threads},
        "register_s": register_s,
        "queries": [
            {**asdict(r), "raw_median": r.raw_median, "dap_median": r.dap_median, "ratio": r.ratio}
            for r in rows
        ],
        "total_raw_ms": total_raw,
        "total_dap_ms": total_dap,
        "total_ratio": total_dap / total_raw if total_raw else None,
        "peak_rss_mib": peak_kb / 1024,
        "rss_end_mib": rss_now / 2**20 if rss_now else None,
        "audit_records": audit_rows,
        "versions": versions(),
    }
    return result


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "sqlglot": version("sqlglot"),
        **({"pyspark": version("pyspark")} if _installed("pyspark") else {}),
    }


def _installed(package: str) -> bool:
    try:
        version(package)
    except Exception:  # PackageNotFoundError
        return False
    return True


def report(result: dict) -> None:  # type: ignore[type-arg]
    print()
    print(
        f"TPC-H SF{result['scale']} on {result.get('engine', 'duckdb')}: "
        f"median of {result['reps']} reps after 1 warm-up, "
        f"threads raw={result['threads']['raw']} dap={result['threads']['dap']}"
    )
    print(
        f"{'query':<6} {'raw ms':>10} {'dap ms':>10} {'ratio':>7} {'dap-raw':>8} "
        f"{'prepare':>8} {'gov':>6} {'rows':>6}  result check"
    )
    for q in result["queries"]:
        if q["ratio"] is None:
            print(
                f"{q['query']:<6} {'-':>10} {'-':>10} {'-':>7} {'-':>8} {'-':>8} {'-':>6} "
                f"{'-':>6}  FAILED: {q['error']}"
            )
            continue
        print(
            f"{q['query']:<6} {q['raw_median']:>10.1f} {q['dap_median']:>10.1f} "
            f"{q['ratio']:>7.3f} {q['dap_median'] - q['raw_median']:>+8.1f} "
            f"{q['prepare_ms']:>8.2f} {sum(q['steps'].values()):>6.1f} {q['dap_rows']:>6}  "
            f"{q['check']}"
        )
    ratio = result["total_ratio"]
    print("-" * 78)
    print(
        f"{'total':<6} {result['total_raw_ms']:>10.1f} {result['total_dap_ms']:>10.1f} "
        f"{ratio if ratio is not None else float('nan'):>7.3f} "
        f"{result['total_dap_ms'] - result['total_raw_ms']:>+8.1f}   target <= {TARGET_RATIO} "
        f"{'MET' if ratio is not None and ratio <= TARGET_RATIO else 'NOT MET'}"
    )
    print(
        "dap-raw: difference of the medians (ms); prepare: median ms of DAP's prepare() alone "
        "(sqlglot parse, checks, qualify, generate);\ngov: sum of the medians of the "
        "governance steps run alone (below)"
    )
    ok = [q for q in result["queries"] if q["steps"]]
    if ok:
        gap = sum(q["dap_median"] - q["raw_median"] for q in ok)
        print(
            f"governance steps, summed over the {len(ok)} queries (each the median of "
            f"{STEP_REPS} runs alone), against the total dap-raw gap of {gap:+.1f} ms:"
        )
        names = list(ok[0]["steps"])
        total = 0.0
        for k in names:
            ms = sum(q["steps"][k] for q in ok)
            total += ms
            print(f"  {k:<14} {ms:8.1f} ms  ({ms / len(ok):5.2f} ms per query)")
        print(
            f"  {'all steps':<14} {total:8.1f} ms  ({total / len(ok):5.2f} ms per query); "
            f"rest of the gap {gap - total:+.1f} ms (engine cursor, Arrow->polars, noise)"
        )
    failed = [q for q in result["queries"] if q["error"]]
    mismatched = [q for q in result["queries"] if q["check"] and q["check"] != "equal"]
    print(
        f"failed queries: {len(failed)}"
        + "".join(f"\n  {q['query']}: {q['error']}" for q in failed)
    )
    print(
        f"result mismatches: {len(mismatched)}"
        + "".join(f"\n  {q['query']}: {q['check']}" for q in mismatched)
    )
    print(
        f"catalog registration of 8 tables (incl. statistics): {result['register_s']:.1f} s; "
        f"audit records written: {result['audit_records']}"
    )
    end = result["rss_end_mib"]
    print(
        f"peak RSS of the process (both engines): {result['peak_rss_mib']:.0f} MiB"
        + (f"; RSS at end {end:.0f} MiB" if end else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1, help="TPC-H scale factor (default 1)")
    parser.add_argument("--data", default=None, help="Parquet folder (default bench/data/tpch-sfN)")
    parser.add_argument("--queries", default=str(DEFAULT_QUERIES), help="folder with q01..q22.sql")
    parser.add_argument("--reps", type=int, default=3, help="timed runs per query and side")
    parser.add_argument("--threads", type=int, default=0, help="engine threads (default: nproc)")
    parser.add_argument(
        "--engine",
        choices=("duckdb", "chdb", "spark"),
        default="duckdb",
        help="the engine compared",
    )
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. q01,q18")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if a query fails or results differ"
    )
    args = parser.parse_args(argv)
    if args.data is None:
        scale = int(args.scale) if float(args.scale).is_integer() else args.scale
        args.data = str(HERE / "data" / f"tpch-sf{scale}")
    result = run(args)
    report(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        print(f"results written to {args.json}")
    bad = any(q["error"] or q["check"] != "equal" for q in result["queries"])
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
