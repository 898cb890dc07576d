"""``%%dap sql`` vs JupySQL ``%sql`` vs raw DuckDB, in one in-process IPython shell.

    .venv/bin/python bench/magics.py [--reps-small 200] [--reps-large 5] [--rows 1000000]

Cases
  select42  ``SELECT 42 AS x``                        (no table: pure per-query overhead)
  lookup    ``SELECT * FROM t WHERE id = 424242``    (one row out of a 1M-row table)
  scan1m    ``SELECT * FROM t``                       (1M rows, 5 columns, to the client)

``t`` is created once as a DAP lake (Delta) table with ``Catalog.create_table``; raw DuckDB
and JupySQL get a view over the very Parquet files of that Delta snapshot, so all sides read
the same bytes. Every DuckDB connection runs with the same ``threads``.

Variants (each timed call returns the result object a user would get)
  raw           ``con.sql(q).to_arrow_table()``                    DuckDB alone (Arrow)
  raw_polars    ``con.sql(q).pl()``                                 DuckDB alone (polars)
  query         ``Session.query(q)``                                governed path (Arrow)
  session_sql   ``Session.sql(q)``                                  + Arrow → polars
  dap_sql       ``dap.sql(q)``                                       + default workspace lookup
  dap_magic     ``%%dap sql`` (run_cell_magic, summary shown)       what a cell runs
  dap_magic_ns  ``%%dap sql`` with DapMagics.show_summary = False
  jupysql       ``%%sql`` (run_cell_magic, autopolars, feedback 0, displaycon False)
  jupysql_rs    ``%%sql`` with autopolars off: JupySQL's default lazy ResultSet, which fetches
                only the rows it displays (not the same work for 1M rows: context only)
  dap_cell      ``run_cell("%%dap sql\\n" + q)``  full cell: IPython machinery + result display
  jupysql_cell  ``run_cell("%%sql\\n" + q)``

JupySQL talks to DuckDB through a native ``duckdb.connect()`` connection (``%sql con``), the
way its docs recommend for DuckDB; ``%sql duckdb://`` needs the ``duckdb-engine`` SQLAlchemy
dialect, which is measured too (variant ``jupysql_sa``) when it is installed.

Variants are interleaved (in a fresh random order every rep) and the median is reported. After the
timings, the governed one-row path is broken into its parts, and profiled with cProfile.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# JupySQL lives in .bench-site (`make bench`), not in the workbench's environment; after the
# environment's own packages, so the versions DAP runs with are the ones measured.
BENCH_SITE = Path(__file__).resolve().parents[1] / ".bench-site"
if BENCH_SITE.is_dir():
    sys.path.append(str(BENCH_SITE))

TARGET_JUPYSQL_RATIO = 1.0
TARGET_ONE_ROW_OVERHEAD_MS = 2.0

CASES = {
    "select42": "SELECT 42 AS x",
    "lookup": "SELECT * FROM t WHERE id = 424242",
    "scan1m": "SELECT * FROM t",
}


def cases(rows: int) -> dict[str, str]:
    """The three queries; the looked-up id exists whatever --rows is."""
    lookup = 424242 if rows > 424242 else rows // 2
    return {**CASES, "lookup": f"SELECT * FROM t WHERE id = {lookup}"}


class _Null(io.TextIOBase):
    """A stdout that swallows what the shell prints (results, summaries)."""

    def write(self, s: str) -> int:
        return len(s)


def make_frame(rows: int):  # type: ignore[no-untyped-def]
    """id int64, k int32, x float64, s string, d date: a small, typical fact table."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(42)
    ids = np.arange(rows, dtype=np.int64)
    return pl.DataFrame(
        {
            "id": ids,
            "k": (ids % 1000).astype(np.int32),
            "x": rng.random(rows),
            "s": pl.Series("s", ids % 50_000).cast(pl.String).str.zfill(5),
        }
    ).with_columns(
        s="item-" + pl.col("s"),
        d=pl.date(2000, 1, 1) + pl.duration(days=pl.col("id") % 3650),
    )


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Temporary DAP home, the table, the shell with both extensions, the raw connections."""
    tmp = tempfile.TemporaryDirectory(prefix="dap-bench-magics-")
    os.environ["DAP_HOME"] = tmp.name
    os.environ["DAP_USER"] = "bench"
    os.environ["DAP_THREADS"] = str(args.threads)

    import duckdb
    import polars as pl
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import dap_kernel as dap
    from dap_kernel.session import default_workspace, reset_default_workspace

    reset_default_workspace()
    ws = default_workspace()
    frame = make_frame(args.rows)
    started = time.perf_counter()
    ws.catalog.create_table("t", frame)
    create_s = time.perf_counter() - started
    files = ws.lake.snapshot("main", "t").files
    files = [f.removeprefix("file://") for f in files]
    file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    print(
        f"table t: {args.rows:,} rows x {frame.width} columns "
        f"({', '.join(f'{n} {t}' for n, t in frame.schema.items())}), "
        f"{len(files)} Parquet file(s), created as a DAP lake table in {create_s:.1f} s"
    )
    del frame

    def duck() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute(f"SET threads={args.threads}")
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet([{file_list}])")
        return con

    raw = duck()
    jcon = duck()

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.cache_size = 0  # no Out[] history holding on to 1M-row frames
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "dap_kernel")
    shell.run_line_magic("load_ext", "sql")
    for line in (
        "SqlMagic.autopolars = True",
        "SqlMagic.displaycon = False",
        "SqlMagic.feedback = 0",
    ):
        shell.run_line_magic("config", line)
    shell.user_ns["bench_duckdb"] = jcon
    with contextlib.redirect_stdout(_Null()):
        shell.run_line_magic("sql", "bench_duckdb --alias native")
    dap_magics = next(m for m in shell.configurables if type(m).__name__ == "DapMagics")
    jupysql_magics = next(m for m in shell.configurables if type(m).__name__ == "SqlMagic")

    from sql.connection import ConnectionManager

    def reset_jupysql() -> None:
        """JupySQL keeps every ResultSet (with its fetched rows) on the connection and scans
        that list on each query: drop them between reps (untimed) so its cost stays flat and
        1M-row results do not pile up in memory and GC work for everyone else."""
        for conn in ConnectionManager.connections.values():
            conn._result_sets.close_all()

    jupysql_sa = False
    try:
        import duckdb_engine  # noqa: F401
    except ImportError:
        pass
    else:  # %sql duckdb:// (SQLAlchemy) over the same files, when the dialect is installed
        ip: Any = shell
        try:
            with contextlib.redirect_stdout(_Null()):
                ip.run_line_magic("sql", "duckdb:// --alias duckdb_sa")
                ip.run_cell_magic("sql", "duckdb_sa", f"SET threads={args.threads}")
                view = f"CREATE VIEW t AS SELECT * FROM read_parquet([{file_list}])"
                ip.run_cell_magic("sql", "duckdb_sa", view)
                ip.run_cell_magic("sql", "duckdb_sa", "SELECT 42 AS x")
                ip.run_line_magic("sql", "native")  # back to the native connection
            jupysql_sa = True
        except Exception as e:  # a broken optional variant must not stop the benchmark
            print(f"%sql duckdb:// not usable, not measured: {e}")

    session = ws.session()
    return {
        "tmp": tmp,
        "ws": ws,
        "session": session,
        "dap": dap,
        "raw": raw,
        "jcon": jcon,
        "shell": shell,
        "dap_magics": dap_magics,
        "jupysql_magics": jupysql_magics,
        "reset": reset_jupysql,
        "jupysql_sa": jupysql_sa,
        "file_list": file_list,
        "pl": pl,
    }


def variants(env: dict[str, Any], q: str) -> dict[str, Callable[[], Any]]:
    shell = env["shell"]
    raw = env["raw"]
    session = env["session"]
    dap = env["dap"]
    magics = env["dap_magics"]

    jupysql_magics = env["jupysql_magics"]

    def jupysql_rs() -> Any:
        jupysql_magics.autopolars = False
        try:
            return shell.run_cell_magic("sql", "native", q)
        finally:
            jupysql_magics.autopolars = True

    def dap_magic_ns() -> Any:
        magics.show_summary = False
        try:
            return shell.run_cell_magic("dap", "sql", q)
        finally:
            magics.show_summary = True

    out: dict[str, Callable[[], Any]] = {
        "raw": lambda: raw.sql(q).to_arrow_table(),
        "raw_polars": lambda: raw.sql(q).pl(),
        "query": lambda: session.query(q),
        "session_sql": lambda: session.sql(q),
        "dap_sql": lambda: dap.sql(q),
        "dap_magic": lambda: shell.run_cell_magic("dap", "sql", q),
        "dap_magic_ns": dap_magic_ns,
        "jupysql": lambda: shell.run_cell_magic("sql", "native", q),
        "jupysql_rs": jupysql_rs,
        "dap_cell": lambda: _cell(shell, "%%dap sql\n" + q),
        "jupysql_cell": lambda: _cell(shell, "%%sql native\n" + q),
    }
    if env["jupysql_sa"]:
        out["jupysql_sa"] = lambda: shell.run_cell_magic("sql", "duckdb_sa", q)
    return out


def _cell(shell: Any, text: str) -> Any:
    result = shell.run_cell(text, store_history=False)
    if result.error_in_exec is not None or result.error_before_exec is not None:
        raise RuntimeError(f"cell failed: {result.error_in_exec or result.error_before_exec}")
    return result.result


def _rows(value: Any) -> int:
    if value is None:
        return -1
    for attr in ("num_rows", "height", "row_count"):
        if hasattr(value, attr):
            return int(getattr(value, attr))
    return len(value)


def time_case(env: dict[str, Any], name: str, q: str, reps: int, warmup: int) -> dict[str, Any]:
    fns = variants(env, q)
    names = list(fns)
    rows: dict[str, int] = {}
    with contextlib.redirect_stdout(_Null()):
        for _ in range(warmup):
            for v in names:
                rows[v] = _rows(fns[v]())
            env["reset"]()
    expected = rows["raw"]
    # cell variants return polars frames via the displayhook-less run_cell result; the cell
    # result may be None when the shell does not keep outputs: check the rest only
    wrong = {
        v: n for v, n in rows.items() if n != expected and not (v.endswith("_cell") and n == -1)
    }
    times: dict[str, list[float]] = {v: [] for v in names}
    with contextlib.redirect_stdout(_Null()):
        for rep in range(reps):
            order = list(names)
            random.Random(rep).shuffle(order)  # no variant always follows the same one
            for v in order:
                fn = fns[v]
                started = time.perf_counter()
                fn()
                times[v].append((time.perf_counter() - started) * 1000)
            env["reset"]()
            if reps <= 20:
                gc.collect()
    return {
        "case": name,
        "sql": q,
        "reps": reps,
        "rows": expected,
        "row_mismatch": wrong,
        "rows_by_variant": rows,
        "median_ms": {v: statistics.median(t) for v, t in times.items()},
        "p10_ms": {v: _quantile(t, 0.1) for v, t in times.items()},
        "p90_ms": {v: _quantile(t, 0.9) for v, t in times.items()},
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- where the governed one-row time goes ------------------------------------------------------


def breakdown(env: dict[str, Any], q: str, reps: int) -> dict[str, float]:
    """Median ms of each step of ``Session.query`` (and of what the magic adds), run alone."""
    from concurrent.futures import ThreadPoolExecutor

    from dap_kernel.governance.audit import AuditEvent
    from dap_kernel.governance.rewrite import (
        StaticResolver,
        parameters,
        parse_one_statement,
        prepare,
        qualify_tables,
        refuse_forbidden_functions,
        refuse_writes,
    )
    from dap_kernel.magics import _show_summary

    ws = env["ws"]
    session = env["session"]
    catalog = ws.catalog
    known = StaticResolver(catalog.known_names())  # sqlglot work alone, no metadata read
    prepared = prepare(q, known=known)
    keys = [t.lower() for t in prepared.tables]
    tree = parse_one_statement(q)
    result = session.query(q)
    bindings = catalog.bindings(prepared.tables)
    # What the engine runs: every catalog table replaced by its secured source (the fail-closed
    # rewrite), so the engine step is timed on the governed text, not on the user's.
    governed_sql = ws.governor().govern(q, None, session.principal, catalog.resolver()).prepared.sql

    def checks() -> None:
        t = tree.copy()
        refuse_writes(t)
        refuse_forbidden_functions(t)
        qualify_tables(t, known)

    pool = ThreadPoolExecutor(max_workers=1)

    def thread_roundtrip() -> None:
        pool.submit(lambda: None).result(0.05)

    def on_worker(fn: Callable[[], Any]) -> Callable[[], Any]:
        """Run where the magic runs queries: on its worker thread (hand-off included)."""
        return lambda: pool.submit(fn).result()

    state = getattr(ws.policy, "state", None)

    steps: dict[str, Callable[[], Any]] = {
        "policy state read (the policy version)": state or (lambda: None),
        "catalog.lookup(tables), uncached (skipped on a hit)": lambda: catalog.lookup(keys),
        "govern() (lookup, checks, authorize, secure, bind)": lambda: ws.governor().govern(
            q, None, session.principal, catalog.resolver()
        ),
        "prepare() total (parse+check+qualify+generate)": lambda: prepare(q, known=known),
        "  sqlglot parse (parse_one_statement)": lambda: parse_one_statement(q),
        "  checks + qualify (on a tree copy)": checks,
        "  sqlglot generate (tree.sql)": lambda: tree.sql(dialect="duckdb"),
        "  parameters()": lambda: parameters(tree),
        "engine.bind(bindings) (view cache hit)": lambda: ws.engine.bind(bindings),
        "engine.execute on the worker (cursor + DuckDB + Arrow)": on_worker(
            lambda: ws.engine.execute(governed_sql)
        ),
        "audit.record (queue; written by a background thread)": lambda: ws.audit.record(
            AuditEvent("bench", "query", "allowed", q, prepared.tables, row_count=1)
        ),
        "QueryResult.to_polars()": result.to_polars,
        "magic: hand-off to the query worker thread": thread_roundtrip,
        "magic: _show_summary display()": lambda: _show_summary(result),
        "Session.query (all of it)": lambda: session.query(q),
        "Session.query on the worker (as the magic runs it)": on_worker(lambda: session.query(q)),
        "raw DuckDB con.sql(q).to_arrow_table()": lambda: env["raw"].sql(q).to_arrow_table(),
        "raw DuckDB on the worker": on_worker(lambda: env["raw"].sql(q).to_arrow_table()),
    }
    out: dict[str, float] = {}
    with contextlib.redirect_stdout(_Null()):
        for fn in steps.values():
            fn()
        samples: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(reps):
            for k, fn in steps.items():
                started = time.perf_counter()
                fn()
                samples[k].append((time.perf_counter() - started) * 1000)
    pool.shutdown()
    for k, v in samples.items():
        out[k] = statistics.median(v)
    return out


def profile(env: dict[str, Any], q: str, calls: int) -> tuple[str, list[tuple[str, float, float]]]:
    """cProfile of ``calls`` × ``Session.query(q)``: top functions and per-call cumulative ms."""
    session = env["session"]
    for _ in range(20):
        session.query(q)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        session.query(q)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(25)
    text = buf.getvalue()
    # cumulative per call, for the functions that matter
    wanted = {
        ("session.py", "query"),
        ("rewrite.py", "prepare"),
        ("rewrite.py", "parse_one_statement"),
        ("rewrite.py", "qualify_tables"),
        ("rewrite.py", "refuse_forbidden_functions"),
        ("rewrite.py", "parameters"),
        ("store.py", "lookup"),
        ("store.py", "bindings"),
        ("duckdb.py", "bind"),
        ("duckdb.py", "execute"),
        ("audit.py", "record"),
        ("audit.py", "_digest"),
        ("session.py", "_audit"),
        ("__init__.py", "parse"),
        ("expressions.py", "sql"),
        ("core.py", "sql"),
        ("session.py", "commit"),
        ("base.py", "commit"),
    }
    rows: list[tuple[str, float, float]] = []
    raw_stats = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, nc, _tt, ct, _callers) in raw_stats.items():
        short = Path(filename).name
        if (short, func) in wanted:
            where = "/".join(Path(filename).parts[-2:])
            rows.append((f"{where}:{func}", nc / calls, ct / calls * 1000))
    rows.sort(key=lambda r: -r[2])
    return text, rows


# -- reporting -------------------------------------------------------------------------------


def report(results: list[dict[str, Any]]) -> None:
    names = list(results[0]["median_ms"])
    header = f"{'variant':<14}" + "".join(f"{r['case'] + ' ms':>14}" for r in results)
    print()
    print(
        "median ms per call (reps: " + ", ".join(f"{r['case']} {r['reps']}" for r in results) + ")"
    )
    print(header)
    for v in names:
        print(f"{v:<14}" + "".join(f"{r['median_ms'][v]:>14.3f}" for r in results))
    print()
    print("minus raw DuckDB (ms): what each layer adds on top of con.sql(q).to_arrow_table()")
    print(header)
    for v in names:
        print(
            f"{v:<14}"
            + "".join(f"{r['median_ms'][v] - r['median_ms']['raw']:>+14.3f}" for r in results)
        )
    print()
    print("ratios and overheads")
    for r in results:
        m = r["median_ms"]
        line = (
            f"  {r['case']:<9} %%dap/%%sql x{m['dap_magic'] / m['jupysql']:.3f}"
            f" (no summary x{m['dap_magic_ns'] / m['jupysql']:.3f},"
            f" full cells x{m['dap_cell'] / m['jupysql_cell']:.3f})"
            f" | Session.query - raw {m['query'] - m['raw']:+.2f} ms"
            f" | %%dap - raw {m['dap_magic'] - m['raw']:+.2f} ms"
            f" | %%sql - raw {m['jupysql'] - m['raw']:+.2f} ms"
            f" | Session.query/raw x{m['query'] / m['raw']:.3f}"
        )
        print(line)
        if r["row_mismatch"]:
            print(f"    ROW COUNT MISMATCH vs raw ({r['rows']}): {r['row_mismatch']}")
    one_row = [r for r in results if r["case"] != "scan1m"]
    big = [r for r in results if r["case"] == "scan1m"]
    print()
    for r in one_row:
        over = r["median_ms"]["dap_magic"] - r["median_ms"]["raw"]
        print(
            f"target one-row overhead <= {TARGET_ONE_ROW_OVERHEAD_MS} ms above raw DuckDB "
            f"({r['case']}, %%dap sql): {over:.2f} ms "
            f"{'MET' if over <= TARGET_ONE_ROW_OVERHEAD_MS else 'NOT MET'}"
        )
    for r in results:
        ratio = r["median_ms"]["dap_magic"] / r["median_ms"]["jupysql"]
        print(
            f"target %%dap sql <= {TARGET_JUPYSQL_RATIO}x JupySQL ({r['case']}): x{ratio:.3f} "
            f"{'MET' if ratio <= TARGET_JUPYSQL_RATIO else 'NOT MET'}"
        )
    del big


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps-small", type=int, default=200, help="reps of one-row cases")
    parser.add_argument("--reps-large", type=int, default=5, help="reps of the 1M-row case")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of table t")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile-calls", type=int, default=300)
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    env = setup(args)
    ws = env["ws"]
    dap_threads = ws.engine._con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    print(f"threads: raw/JupySQL DuckDB {args.threads}, DAP engine {dap_threads}")
    print(
        f"JupySQL via native duckdb connection; duckdb-engine (%sql duckdb://) "
        f"{'measured as jupysql_sa' if env['jupysql_sa'] else 'not installed: not measured'}"
    )

    queries = cases(args.rows)
    results = []
    for name, q in queries.items():
        reps = args.reps_large if name == "scan1m" else args.reps_small
        warmup = 1 if name == "scan1m" else 10
        print(f"timing {name}: {q!r}, {reps} reps …", flush=True)
        results.append(time_case(env, name, q, reps, warmup))
    report(results)

    print()
    print(
        "where the governed one-row time goes (median ms of each step run alone, "
        f"{args.reps_small} reps)"
    )
    parts = {}
    for name in ("select42", "lookup"):
        parts[name] = breakdown(env, queries[name], args.reps_small)
    print(f"{'step':<56}{'select42':>10}{'lookup':>10}")
    for k in parts["select42"]:
        print(f"{k:<56}{parts['select42'][k]:>10.3f}{parts['lookup'][k]:>10.3f}")

    prof_text, prof_rows = profile(env, queries["lookup"], args.profile_calls)
    print()
    print(
        f"cProfile of {args.profile_calls} x Session.query({queries['lookup']!r}) "
        "(profiler overhead inflates the figures; compare them with each other)"
    )
    print(f"{'function':<45}{'calls/query':>12}{'cum ms/query':>14}")
    for where, nc, ms in prof_rows:
        print(f"{where:<45}{nc:>12.1f}{ms:>14.3f}")
    print()
    print("top 25 by own time:")
    print("\n".join(prof_text.strip().splitlines()[:40]))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {peak:.0f} MiB")

    if args.json:
        from importlib.metadata import version

        import duckdb
        import IPython
        import polars as pl
        import sql as jupysql

        payload = {
            "cases": results,
            "breakdown": parts,
            "profile": [
                {"function": w, "calls_per_query": n, "cum_ms": m} for w, n, m in prof_rows
            ],
            "peak_rss_mib": peak,
            "threads": args.threads,
            "rows": args.rows,
            "versions": {
                "python": platform.python_version(),
                "duckdb": duckdb.__version__,
                "polars": pl.__version__,
                "sqlglot": version("sqlglot"),
                "ipython": IPython.__version__,
                "jupysql": jupysql.__version__,
            },
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"results written to {args.json}")
    env["ws"].close()
    env["raw"].close()
    env["jcon"].close()
    env["tmp"].cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
