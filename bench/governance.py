"""What governance costs: the rewrite per statement, and governed TPC-H SF1 vs hand-filtered DuckDB.

    .venv/bin/python bench/governance.py [--rewrite-reps 50] [--repeat 50] [--reps 3]
                                         [--only q01,q18] [--skip-tpch] [--json PATH]

One multi-user workspace in a temporary home: the eight TPC-H SF1 tables (from ``bench/tpch.py``'s
data folder) registered in schema ``main``; ``admin`` switches on multi-user mode, adds user
``ann`` (attribute ``nation=7``) to the built-in ``analyst`` role (SELECT on everything), adds
the row filter ``l_shipmode <> 'MAIL'`` on ``main.lineitem`` and the mask ``redact`` on
``main.customer.c_phone``. Every query below runs as ``ann``.

1. **Rewrite cost** (no engine), per TPC-H statement, all variants interleaved:

   * ``plain``: ``prepare()`` without the secure step (parse, checks, qualify, generate); a
     no-op step keeps ``prepare()`` from answering out of its statement cache.
   * ``secure``: ``prepare(steps=[secure_tables])`` with the table policies looked up once
     beforehand: the pure sqlglot cost of parse + check + qualify + rewrite + generate.
   * ``front``: everything ``Session.query`` does before the engine, as it does it: catalog
     resolver, ``policy.enforcing()``, ``principal_details()``, ``prepare()`` with the secure
     step asking ``policy.table_policy()`` per table, ``policy.authorize()``.
   * each step alone (parse, checks, qualify, secure, generate, policy look-ups).
   * a repeated identical statement (same principal, same policy version) back to back, i.e.
     what a cache of governed statements would serve.

2. **Governed TPC-H SF1**: ``Session(ann).sql(q)`` for the 22 unmodified queries against raw
   DuckDB running the same text over views that apply the same filter and mask by hand
   (``WHERE l_shipmode <> 'MAIL'``; ``SELECT * REPLACE ('***' AS c_phone)``, which keeps the
   column order). A third side, ``eng``, runs the rewritten statement straight on DAP's DuckDB
   connection, splitting the gap into the engine's share and DAP's own. One warm-up per side
   (raw and governed results compared), then ``--reps`` runs with the order rotating.

3. **Pushdown**: ``EXPLAIN (FORMAT json)`` of each rewritten statement in DAP's engine against
   the raw statement's plan, comparing the filters pushed into each Parquet scan; and timed
   selective look-ups through the secured subqueries.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import pyarrow as pa
from tpch import (
    DEFAULT_QUERIES,
    HERE,
    REPO,
    TABLES,
    compare,
    ensure_data,
    load_queries,
    table_path,
    timed,
)

if TYPE_CHECKING:
    from sqlglot import exp

    from dap_kernel.governance.identity import Principal
    from dap_kernel.governance.policy import TablePolicy
    from dap_kernel.governance.rewrite import Prepared
    from dap_kernel.session import Session, Workspace

ROW_FILTER = ("main.lineitem", "l_shipmode <> 'MAIL'")
MASK = ("main.customer.c_phone", "redact")
TARGET_REWRITE_P50_MS = 2.0
TARGET_CACHED_MS = 0.050
TARGET_RATIO = 1.05

# Selective look-ups: with the filters pushed into the Parquet scan, min/max statistics skip
# almost every row group (lineitem and customer are stored sorted by their keys).
SELECTIVE = {
    "lineitem_range": (
        "SELECT count(*) AS n, sum(l_extendedprice) AS s FROM lineitem "
        "WHERE l_orderkey BETWEEN 4200000 AND 4200100"
    ),
    "customer_point": "SELECT c_custkey, c_name, c_phone FROM customer WHERE c_custkey = 4242",
    "lineitem_full": "SELECT count(*) AS n, sum(l_extendedprice) AS s FROM lineitem",
}


# -- small helpers ---------------------------------------------------------------------------


def pct(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt_us(ms: float) -> str:
    return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.2f} ms"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
                break
    except OSError:
        pass
    return {
        "date": date.today().isoformat(),
        "commit": git_commit(),
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
    }


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("duckdb", "polars", "pyarrow", "sqlglot", "sqlglotc", "SQLAlchemy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def print_header(threads: int) -> dict[str, Any]:
    v = package_versions()
    info: dict[str, Any] = {**machine(), "versions": v, "threads": threads}
    print(f"DAP governance bench, {info['date']}, commit {info['commit']}")
    print(f"machine: {info['cpu']}, {info['memory']}, {info['os']}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print(f"DuckDB threads: {threads} (both sides)")
    return info


# -- the workspace ---------------------------------------------------------------------------


def open_workspace(home: Path, data: Path, threads: int) -> Workspace:
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    ws = Workspace(Settings(home=home, user="admin", threads=threads))
    for t in TABLES:
        ws.catalog.register_file(t, table_path(data, t))
    adm = ws.admin("admin")
    adm.set_multi_user(True)
    adm.add_user("ann", {"nation": 7})
    adm.add_member("role", "analyst", "user", "ann")
    adm.add_row_filter(*ROW_FILTER)
    adm.set_mask(*MASK)
    return ws


def open_raw_governed(data: Path, threads: int) -> duckdb.DuckDBPyConnection:
    """Raw DuckDB with the filter and mask applied by hand in the views."""
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    for t in TABLES:
        path = str(table_path(data, t)).replace("'", "''")
        source = f"read_parquet('{path}')"
        if t == "lineitem":
            view = f"SELECT * FROM {source} WHERE l_shipmode <> 'MAIL'"
        elif t == "customer":
            view = f"SELECT * REPLACE ('***' AS c_phone) FROM {source}"
        else:
            view = f"SELECT * FROM {source}"
        con.execute(f"CREATE VIEW {t} AS {view}")
    return con


# -- 1. rewrite cost -------------------------------------------------------------------------


@dataclass
class RewriteRow:
    query: str
    tables: tuple[str, ...] = ()
    secured: tuple[str, ...] = ()
    samples: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # median ms of each step alone
    meta_reads: int = 0  # metadata-store statements per governed statement (front)
    version_reads: int = 0  # of them, reads of the policy version (policy_state)
    session_reads: int = 0  # metadata reads of a repeated Session.query (engine stubbed)
    error: str = ""


VARIANTS = ("plain", "secure", "front", "session")
STEP_NAMES = (
    "parse",
    "checks",
    "qualify",
    "secure",
    "generate",
    "parameters",
    "catalog.resolve",
    "policy.enforcing",
    "principal_details",
    "table_policy",
    "authorize",
)


class Rewriter:
    """The pieces of ``Session.query`` before the engine, for one principal."""

    def __init__(self, ws: Workspace, who: Principal) -> None:
        from dap_kernel.governance.rewrite import StaticResolver

        self.ws = ws
        self.who = who
        self.principal = ws.policy.principal_details(who)
        self.static = StaticResolver(ws.catalog.known_names())
        self.policies: dict[str, TablePolicy | None] = {
            name: ws.policy.table_policy(self.principal, name)
            for name in sorted(self.static.names.values())
        }
        self.dialect = ws.engine.dialect
        self._session: Session | None = None

    def secure_static(self, tree: exp.Expr) -> exp.Expr:
        from dap_kernel.governance.enforce import secure_tables

        return secure_tables(
            tree, self.policies.get, self.principal, self.ws.engine.names, self.ws.mask_key
        )

    def plain(self, text: str) -> Prepared:
        from dap_kernel.governance.rewrite import prepare

        return prepare(text, known=self.static, write_dialect=self.dialect, steps=[_same])

    def secure(self, text: str) -> Prepared:
        from dap_kernel.governance.rewrite import prepare

        return prepare(
            text, known=self.static, write_dialect=self.dialect, steps=[self.secure_static]
        )

    def cached_plain(self, text: str) -> Prepared:
        from dap_kernel.governance.rewrite import prepare

        return prepare(text, known=self.static, write_dialect=self.dialect)

    def cached_plain_live(self, text: str) -> Prepared:
        from dap_kernel.governance.rewrite import prepare

        return prepare(text, known=self.ws.catalog.resolver(), write_dialect=self.dialect)

    def scoped(self, text: str, live: bool = False) -> Prepared:
        """``prepare()`` with the secure step and a ``cache_scope``: a hit once it is cached."""
        from dap_kernel.governance.rewrite import prepare

        known = self.ws.catalog.resolver() if live else self.static
        return prepare(  # type: ignore[call-arg,unused-ignore]
            text,
            known=known,
            write_dialect=self.dialect,
            steps=[self.secure_static],
            cache_scope=("ann", "bench"),
        )

    def session_query(self, text: str) -> object:
        """The real ``Session.query``, its engine call stubbed (see ``engine_stubbed``)."""
        return self.session.query(text)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.ws.session(self.who)
        return self._session

    def front(self, text: str) -> Prepared:
        """``Session.query`` up to (not including) ``engine.bind``, step for step, as of commit
        d3acbd5: no ``cache_scope``, so every call parses, rewrites and generates."""
        from dap_kernel.errors import QueryRefused
        from dap_kernel.governance.enforce import secure_tables
        from dap_kernel.governance.rewrite import prepare

        ws = self.ws
        resolver = ws.catalog.resolver()
        principal = ws.policy.principal_details(self.who)

        def secure(tree: exp.Expr) -> exp.Expr:  # always: only it names the raw relations
            return secure_tables(
                tree,
                lambda t: ws.policy.table_policy(principal, t),
                principal,
                ws.engine.names,
                ws.mask_key,
            )

        prepared = prepare(text, known=resolver, write_dialect=self.dialect, steps=[secure])
        decision = ws.policy.authorize(self.who, "SELECT", prepared.tables)
        if not decision.allowed:
            raise QueryRefused(decision.reason)
        return prepared

    def step_functions(self, text: str) -> dict[str, Callable[[], object]]:
        """Each step alone; trees that a step mutates are copied outside the timed call."""
        from dap_kernel.governance.rewrite import (
            parameters,
            parse_one_statement,
            qualify_tables,
            refuse_forbidden_functions,
            refuse_writes,
        )

        ws = self.ws
        parsed = parse_one_statement(text)
        qualified = parsed.copy()
        tables = qualify_tables(qualified, self.static)
        secured = self.secure_static(qualified.copy())
        lowered = sorted({t.lower() for t in tables})

        def checks() -> None:
            refuse_writes(parsed)
            refuse_forbidden_functions(parsed)

        def with_copy(
            source: exp.Expr, fn: Callable[[exp.Expr], object]
        ) -> Callable[[], Callable[[], object]]:
            def setup() -> Callable[[], object]:
                tree = source.copy()
                return lambda: fn(tree)

            return setup

        return {
            "parse": lambda: parse_one_statement(text),
            "checks": checks,
            "qualify": with_copy(parsed, lambda t: qualify_tables(t, self.static)),
            "secure": with_copy(qualified, self.secure_static),
            "generate": lambda: secured.sql(dialect=self.dialect),
            "parameters": lambda: parameters(secured),
            "catalog.resolve": lambda: ws.catalog.resolver().resolve(lowered),
            "policy.enforcing": ws.policy.enforcing,
            "principal_details": lambda: ws.policy.principal_details(self.who),
            "table_policy": lambda: [ws.policy.table_policy(self.principal, t) for t in tables],
            "authorize": lambda: ws.policy.authorize(self.who, "SELECT", tables),
        }


def _same(tree: exp.Expr) -> exp.Expr:
    return tree


MUTATING_STEPS = ("qualify", "secure")  # their functions return a setup that copies the tree


def count_meta_statements(ws: Workspace, fn: Callable[[], object]) -> tuple[int, int]:
    """How many SQL statements ``fn`` sends to the metadata store from this thread (all, and
    reads of the policy version); the audit log's background writer is not counted."""
    import threading

    from sqlalchemy import event

    count = 0
    versions = 0
    me = threading.get_ident()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal count, versions
        if threading.get_ident() != me:
            return
        count += 1
        versions += "policy_state" in statement

    engine = ws.meta.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return count, versions


def has_governed_cache() -> bool:
    """Does ``prepare()`` cache statements with rewrite steps (its ``cache_scope`` argument)?"""
    import inspect

    from dap_kernel.governance.rewrite import prepare

    return "cache_scope" in inspect.signature(prepare).parameters


EMPTY = pa.table({"x": pa.array([], pa.int64())})


def _no_engine(*_args: Any, **_kwargs: Any) -> pa.Table:
    return EMPTY


def measure_rewrite(
    ws: Workspace, queries: list[tuple[str, str]], reps: int, repeat: int
) -> dict[str, Any]:
    from unittest import mock

    from dap_kernel.errors import DapError
    from dap_kernel.governance.identity import Principal
    from dap_kernel.governance.policy import GrantPolicy

    cache = has_governed_cache()
    rw = Rewriter(ws, Principal("ann"))
    rows = [RewriteRow(name) for name, _ in queries]
    texts = dict(queries)
    variants: dict[str, Callable[[str], object]] = {
        "plain": rw.plain,
        "secure": rw.secure,
        "front": rw.front,
        "session": rw.session_query,
    }
    steps: dict[str, dict[str, Callable[[], Any]]] = {}
    # Session.query runs for real except the engine call, which returns an empty table.
    with mock.patch.object(ws.engine, "execute", _no_engine):
        for row in rows:
            text = texts[row.query]
            try:
                prepared = rw.front(text)
                row.tables = prepared.tables
                row.secured = tuple(t for t in row.tables if rw.policies.get(t) is not None)
                steps[row.query] = rw.step_functions(text)
                row.meta_reads, row.version_reads = count_meta_statements(
                    ws, partial(rw.front, text)
                )
                rw.session_query(text)
                row.session_reads, _ = count_meta_statements(ws, partial(rw.session_query, text))
            except DapError as e:
                row.error = f"{type(e).__name__} ({e.code}): {e.message}"
                print(f"{row.query}: rewrite FAILED: {row.error}", flush=True)
            row.samples = {v: [] for v in variants}
        ok = [r for r in rows if not r.error]
        step_samples: dict[str, dict[str, list[float]]] = {r.query: {} for r in ok}
        rng = random.Random(42)

        for rep in range(reps + 1):  # rep 0 is the warm-up
            for row in ok:
                text = texts[row.query]
                order = list(variants)
                rng.shuffle(order)
                for v in order:
                    if v == "session":
                        ws.audit.flush()  # its background writer would compete for the GIL
                    ms, _ = timed(partial(variants[v], text))
                    if rep:
                        row.samples[v].append(ms)
                for name, fn in steps[row.query].items():
                    call = fn() if name in MUTATING_STEPS else fn
                    ms, _ = timed(call)
                    if rep:
                        step_samples[row.query].setdefault(name, []).append(ms)
        for row in ok:
            row.steps = {k: statistics.median(v) for k, v in step_samples[row.query].items()}

        # A repeated identical statement, back to back (same principal, same policy version).
        repeat_fns: dict[str, Callable[[str], object]] = {
            "session": rw.session_query,
            "front": rw.front,
        }
        if cache:
            repeat_fns["scoped"] = rw.scoped
            repeat_fns["scoped_live"] = partial(rw.scoped, live=True)
        repeat_fns["cached_plain"] = rw.cached_plain
        repeat_fns["cached_plain_live"] = rw.cached_plain_live
        repeated: dict[str, list[float]] = {k: [] for k in repeat_fns}
        for row in ok:
            text = texts[row.query]
            for kind, prep in repeat_fns.items():
                prep(text)
                for _ in range(repeat):
                    if kind == "session":
                        ws.audit.flush()
                    repeated[kind].append(timed(partial(prep, text))[0])

        # The first statement after a policy change: the policy snapshot is rebuilt.
        after_change: list[float] = []
        if isinstance(ws.policy, GrantPolicy):
            for _ in range(3):
                for row in ok:
                    ws.policy.invalidate()
                    after_change.append(timed(partial(rw.front, texts[row.query]))[0])
    ws.audit.flush()

    return {
        "rows": rows,
        "repeated": repeated,
        "after_change": after_change,
        "governed_cache": (
            "present: prepare(cache_scope=...) caches governed statements; Session.query "
            "passes (principal, groups, attributes, policy version)"
            if cache
            else "not implemented: prepare() caches only statements without rewrite steps; "
            "every governed statement is parsed, rewritten and generated again"
        ),
        "cache": cache,
        "sample_sql": {r.query: rw.front(texts[r.query]).sql for r in ok},
    }


def report_rewrite(result: dict[str, Any], reps: int, repeat: int) -> dict[str, Any]:
    rows: list[RewriteRow] = result["rows"]
    ok = [r for r in rows if not r.error]
    print()
    print(
        f"1. Rewrite cost per statement as ann (no engine): {reps} reps per query and variant, "
        "interleaved, after 1 warm-up"
    )
    print(
        f"{'query':<6} {'tables':>6} {'sec':>3} {'meta':>4} {'ver':>3} {'rep':>3} "
        + " ".join(f"{v + ' p50/p99':>15}" for v in VARIANTS)
        + "  secure-plain"
    )
    for r in rows:
        if r.error:
            print(f"{r.query:<6} FAILED: {r.error}")
            continue
        cells = " ".join(
            f"{statistics.median(r.samples[v]):>7.3f}/{pct(r.samples[v], 99):<7.3f}"
            for v in VARIANTS
        )
        diff = statistics.median(r.samples["secure"]) - statistics.median(r.samples["plain"])
        print(
            f"{r.query:<6} {len(r.tables):>6} {len(r.secured):>3} {r.meta_reads:>4} "
            f"{r.version_reads:>3} {r.session_reads:>3} {cells}  {diff:+.3f}"
        )
    print(
        "ms. plain = prepare() without the secure step (cache bypassed); secure = prepare() "
        "with it,\npolicies looked up beforehand (pure sqlglot, uncached); front = all of "
        "Session.query before the\nengine as of d3acbd5, uncached (catalog resolver, policy "
        "reads, prepare + secure, authorize);\nsession = the real Session.query with the engine "
        "call stubbed (view binding, audit record\nqueued, its writer idle; a repeat, so it hits "
        "whatever cache the core has).\ntables = catalog tables read, sec = of them secured "
        "(filter or mask), meta = metadata-store\nstatements of front, ver = of them reads of "
        "the policy version, rep = metadata-store statements\nof a repeated Session.query."
    )
    pooled: dict[str, dict[str, float]] = {}
    for v in VARIANTS:
        allv = [x for r in ok for x in r.samples[v]]
        pooled[v] = {
            "p50": statistics.median(allv),
            "p99": pct(allv, 99),
            "mean": statistics.fmean(allv),
            "n": len(allv),
        }
    print()
    print(f"pooled over the {len(ok)} statements ({pooled['front']['n']} samples per variant):")
    for v in VARIANTS:
        p = pooled[v]
        print(
            f"  {v:<7} p50 {p['p50']:7.3f} ms   p99 {p['p99']:7.3f} ms   mean {p['mean']:7.3f} ms"
        )
    print()
    print("steps alone, summed medians over the statements (ms per statement on average):")
    step_totals: dict[str, float] = {}
    for name in STEP_NAMES:
        per = [r.steps[name] for r in ok if name in r.steps]
        step_totals[name] = statistics.fmean(per) if per else float("nan")
        print(f"  {name:<18} {step_totals[name]:7.3f} ms")
    sqlglot_part = sum(
        step_totals[k] for k in ("parse", "checks", "qualify", "secure", "generate", "parameters")
    )
    policy_part = sum(
        step_totals[k]
        for k in (
            "catalog.resolve",
            "policy.enforcing",
            "principal_details",
            "table_policy",
            "authorize",
        )
    )
    print(
        f"  sqlglot steps {sqlglot_part:.3f} ms + metadata/policy reads {policy_part:.3f} ms "
        f"= {sqlglot_part + policy_part:.3f} ms"
    )
    mean_reads = statistics.fmean(r.meta_reads for r in ok) if ok else 0.0
    mean_versions = statistics.fmean(r.version_reads for r in ok) if ok else 0.0
    print(
        f"  metadata-store statements per governed statement: {mean_reads:.1f} on average, of "
        f"them {mean_versions:.1f} reads of the policy version (policy_state)"
    )

    repeated = result["repeated"]
    rep_stats = {
        k: {"p50": statistics.median(v), "p99": pct(v, 99)} for k, v in repeated.items() if v
    }
    print()
    print(f"repeated identical statement, {repeat} times back to back per query:")
    print(f"  governed cache: {result['governed_cache']}")
    labels = {
        "session": "Session.query as ann, engine stubbed",
        "front": "pre-engine path without a cache (as d3acbd5)",
        "scoped": "governed prepare() cache hit, static names",
        "scoped_live": "governed prepare() cache hit + catalog lookup",
        "cached_plain": "ungoverned prepare() cache hit, static names",
        "cached_plain_live": "ungoverned prepare() cache hit + catalog lookup",
    }
    for k, st in rep_stats.items():
        print(f"  {labels[k]:<48} p50 {fmt_us(st['p50']):>9}   p99 {fmt_us(st['p99']):>9}")
    mean_session_reads = statistics.fmean(r.session_reads for r in ok) if ok else 0.0
    print(
        f"  metadata-store statements of a repeated Session.query: {mean_session_reads:.1f} on "
        "average"
    )
    after = result["after_change"]
    if after:
        print(
            f"  first statement after a policy change (snapshot rebuilt)   "
            f"p50 {fmt_us(statistics.median(after)):>9}   p99 {fmt_us(pct(after, 99)):>9}"
        )

    print()
    secure_p50 = pooled["secure"]["p50"]
    front_p50 = pooled["front"]["p50"]
    print(
        f"target rewrite p50 <= {TARGET_REWRITE_P50_MS} ms: prepare+secure {secure_p50:.3f} ms "
        f"{'MET' if secure_p50 <= TARGET_REWRITE_P50_MS else 'NOT MET'}; whole pre-engine path "
        f"{front_p50:.3f} ms {'MET' if front_p50 <= TARGET_REWRITE_P50_MS else 'NOT MET'}"
    )
    session_p50 = rep_stats["session"]["p50"]
    if "scoped" in rep_stats:
        hit = rep_stats["scoped"]["p50"]
        hit_live = rep_stats["scoped_live"]["p50"]
        print(
            f"target cached governed statement <= {TARGET_CACHED_MS * 1000:.0f} µs: prepare() "
            f"cache hit {fmt_us(hit)} {'MET' if hit <= TARGET_CACHED_MS else 'NOT MET'}; with "
            f"its catalog lookup {fmt_us(hit_live)} "
            f"{'MET' if hit_live <= TARGET_CACHED_MS else 'NOT MET'}; the whole repeated "
            f"Session.query before the engine {fmt_us(session_p50)} "
            f"{'MET' if session_p50 <= TARGET_CACHED_MS else 'NOT MET'}"
        )
    else:
        print(
            f"target cached governed statement <= {TARGET_CACHED_MS * 1000:.0f} µs: no cache "
            f"(not implemented); a repeated Session.query costs {fmt_us(session_p50)} before "
            "the engine -> NOT MET"
        )
    return {
        "pooled": pooled,
        "steps_mean_ms": step_totals,
        "meta_reads_mean": mean_reads,
        "version_reads_mean": mean_versions,
        "session_reads_mean": mean_session_reads,
        "repeated": rep_stats,
        "after_change": {"p50": statistics.median(after), "p99": pct(after, 99)} if after else None,
        "governed_cache": result["governed_cache"],
        "cache": result["cache"],
        "queries": [
            {
                "query": r.query,
                "tables": r.tables,
                "secured": r.secured,
                "meta_reads": r.meta_reads,
                "version_reads": r.version_reads,
                "session_reads": r.session_reads,
                "error": r.error,
                **{
                    f"{v}_{p}": (
                        statistics.median(r.samples[v]) if p == "p50" else pct(r.samples[v], 99)
                    )
                    for v in VARIANTS
                    for p in ("p50", "p99")
                    if r.samples.get(v)
                },
                "steps": r.steps,
            }
            for r in rows
        ],
    }


# -- 2. governed TPC-H -----------------------------------------------------------------------


@dataclass
class TpchRow:
    query: str
    raw_ms: list[float] = field(default_factory=list)
    gov_ms: list[float] = field(default_factory=list)
    eng_ms: list[float] = field(default_factory=list)  # the rewritten SQL on DAP's engine alone
    rows: int | None = None
    check: str = ""
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if self.raw_ms and self.gov_ms:
            return statistics.median(self.gov_ms) / statistics.median(self.raw_ms)
        return None


def measure_tpch(
    ws: Workspace,
    session: Session,
    raw: duckdb.DuckDBPyConnection,
    queries: list[tuple[str, str]],
    reps: int,
) -> list[TpchRow]:
    """raw, governed ``Session.sql`` and ``eng`` (the rewritten statement straight on DAP's
    DuckDB connection: cursor, DuckDB, Arrow; no DAP step) in rotating order."""
    from dap_kernel.errors import DapError

    rw = Rewriter(ws, session.principal)
    rows: list[TpchRow] = []
    for name, text in queries:
        row = TpchRow(name)
        rows.append(row)

        def run_raw(q: str = text) -> pa.Table:
            return raw.sql(q).to_arrow_table()

        def run_gov(q: str = text) -> pl.DataFrame:
            frame: pl.DataFrame = session.sql(q)
            return frame

        try:
            raw_result = run_raw()
        except duckdb.Error as e:
            row.error = f"raw DuckDB failed: {str(e).splitlines()[0]}"
            print(f"{name}: {row.error}", flush=True)
            continue
        try:
            gov_result = run_gov()
        except DapError as e:
            row.error = f"DAP {type(e).__name__} ({e.code}): {e.message}"
            print(f"{name}: {row.error}", flush=True)
            continue
        row.rows = gov_result.height
        row.check = compare(raw_result, gov_result)
        del raw_result, gov_result
        run_eng = partial(ws.engine.execute, rw.front(text).sql)
        run_eng()  # warm-up
        sides: list[tuple[list[float], Callable[[], object]]] = [
            (row.raw_ms, run_raw),
            (row.gov_ms, run_gov),
            (row.eng_ms, run_eng),
        ]
        for rep in range(reps):
            for out, fn in sides[rep % 3 :] + sides[: rep % 3]:
                out.append(timed(fn)[0])
        print(
            f"{name}: raw {statistics.median(row.raw_ms):8.1f} ms  governed "
            f"{statistics.median(row.gov_ms):8.1f} ms  x{row.ratio:.3f}  engine alone "
            f"{statistics.median(row.eng_ms):8.1f} ms  rows {row.rows}  {row.check}",
            flush=True,
        )
    return rows


def report_tpch(rows: list[TpchRow], reps: int) -> dict[str, Any]:
    print()
    print(
        f"2. Governed TPC-H SF1 as ann (filter on lineitem, mask on customer.c_phone) vs raw "
        f"DuckDB with the same filter and mask in its views: median of {reps} after 1 warm-up"
    )
    print(
        f"{'query':<6} {'raw ms':>9} {'gov ms':>9} {'ratio':>7} {'gov-raw':>8} {'eng ms':>9} "
        f"{'eng/raw':>7} {'gov-eng':>8} {'rows':>6}  check"
    )
    for r in rows:
        if r.ratio is None:
            print(f"{r.query:<6} FAILED: {r.error}")
            continue
        raw_m, gov_m = statistics.median(r.raw_ms), statistics.median(r.gov_ms)
        eng_m = statistics.median(r.eng_ms)
        print(
            f"{r.query:<6} {raw_m:>9.1f} {gov_m:>9.1f} {r.ratio:>7.3f} {gov_m - raw_m:>+8.1f} "
            f"{eng_m:>9.1f} {eng_m / raw_m:>7.3f} {gov_m - eng_m:>+8.1f} {r.rows:>6}  {r.check}"
        )
    ok = [r for r in rows if r.ratio is not None]
    total_raw = sum(statistics.median(r.raw_ms) for r in ok)
    total_gov = sum(statistics.median(r.gov_ms) for r in ok)
    total_eng = sum(statistics.median(r.eng_ms) for r in ok)
    ratio = total_gov / total_raw if total_raw else float("nan")
    eng_ratio = total_eng / total_raw if total_raw else float("nan")
    print("-" * 96)
    print(
        f"{'total':<6} {total_raw:>9.1f} {total_gov:>9.1f} {ratio:>7.3f} "
        f"{total_gov - total_raw:>+8.1f} {total_eng:>9.1f} {eng_ratio:>7.3f} "
        f"{total_gov - total_eng:>+8.1f}"
    )
    print(
        f"target governed total <= {TARGET_RATIO}x raw: {ratio:.3f} "
        f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'}"
    )
    min_raw = sum(min(r.raw_ms) for r in ok)
    min_gov = sum(min(r.gov_ms) for r in ok)
    min_eng = sum(min(r.eng_ms) for r in ok)
    min_ratio = min_gov / min_raw if min_raw else float("nan")
    print(
        f"sums of the per-query minima (less sensitive to one slow run): raw {min_raw:.1f}, "
        f"governed {min_gov:.1f} (x{min_ratio:.3f}), engine alone {min_eng:.1f} "
        f"(x{min_eng / min_raw if min_raw else float('nan'):.3f}) ms"
    )
    print(
        "eng = the rewritten statement run straight on DAP's DuckDB connection (no DAP step): "
        "eng/raw is\nthe engine-side effect of the rewrite, gov-eng DAP's own per-query cost "
        "(prepare+secure, policy and\ncatalog reads, view binding, audit, Arrow->polars)."
    )
    failed = [r for r in rows if r.error]
    differ = [r for r in rows if r.check and r.check != "equal"]
    print(f"failed: {len(failed)}" + "".join(f"\n  {r.query}: {r.error}" for r in failed))
    print(f"results differ: {len(differ)}" + "".join(f"\n  {r.query}: {r.check}" for r in differ))
    return {
        "total_raw_ms": total_raw,
        "total_gov_ms": total_gov,
        "total_eng_ms": total_eng,
        "total_ratio": ratio,
        "engine_ratio": eng_ratio,
        "min_totals_ms": {"raw": min_raw, "gov": min_gov, "eng": min_eng},
        "min_ratio": min_ratio,
        "queries": [
            {
                "query": r.query,
                "raw_median": statistics.median(r.raw_ms) if r.raw_ms else None,
                "gov_median": statistics.median(r.gov_ms) if r.gov_ms else None,
                "eng_median": statistics.median(r.eng_ms) if r.eng_ms else None,
                "ratio": r.ratio,
                "rows": r.rows,
                "check": r.check,
                "error": r.error,
            }
            for r in rows
        ],
    }


# -- 3. pushdown -----------------------------------------------------------------------------

SCAN_NAMES = ("READ_PARQUET", "PARQUET_SCAN", "TABLE_SCAN", "SEQ_SCAN")


def arrow_of(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def plan_json(rows: list[tuple[Any, ...]] | pa.Table) -> list[dict[str, Any]]:
    text = str(rows.column(1)[0].as_py()) if isinstance(rows, pa.Table) else str(rows[0][1])
    plan: list[dict[str, Any]] = json.loads(text)
    return plan


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node.get("children", []))


def plan_summary(plan: list[dict[str, Any]]) -> dict[str, Any]:
    """The scans with their pushed filters, the operator tree, the FILTER operators."""
    scans = []
    filters = 0
    ops = []
    for node in walk(plan):
        name = str(node.get("name", ""))
        ops.append(name)
        info = node.get("extra_info", {}) or {}
        if name == "FILTER":
            filters += 1
        if name in SCAN_NAMES:
            pushed = info.get("Filters", [])
            if isinstance(pushed, str):
                pushed = [pushed] if pushed else []
            scans.append(sorted(str(p) for p in pushed))
    return {"scans": sorted(scans), "filter_ops": filters, "ops": ops}


_DIGITS = re.compile(r"\d+")
_BINDER_REF = re.compile(r"#\[?\d+(?:\.\d+)?\]?")


def _strip(plan: list[dict[str, Any]], loose: bool = False) -> str:
    """The plan without estimated cardinalities. ``loose``: also with the filters and columns of
    a scan sorted, and DuckDB's internal binder numbers (CTE/table indexes, ``#i``/``#[i.j]``
    column references, ``__duckdb_delim_N``) blanked out: they change with the query text."""

    def clean(node: dict[str, Any]) -> dict[str, Any]:
        info = {
            k: v
            for k, v in (node.get("extra_info", {}) or {}).items()
            if k != "Estimated Cardinality"
        }
        if loose:
            for k, v in info.items():
                if "Index" in k or k == "CTE Name":
                    info[k] = _DIGITS.sub("N", str(v))
                elif k == "Projections":
                    items = v if isinstance(v, list) else [v]
                    info[k] = sorted(_BINDER_REF.sub("#N", str(x)) for x in items)
                elif k == "Filters" and isinstance(v, list):
                    info[k] = sorted(str(x) for x in v)
        return {
            "name": node.get("name"),
            "extra_info": info,
            "children": [clean(c) for c in node.get("children", [])],
        }

    return json.dumps([clean(n) for n in plan], sort_keys=True)


def check_pushdown(
    ws: Workspace,
    session: Session,
    raw: duckdb.DuckDBPyConnection,
    queries: list[tuple[str, str]],
    reps: int,
) -> dict[str, Any]:
    from dap_kernel.errors import DapError
    from dap_kernel.governance.identity import Principal

    rw = Rewriter(ws, session.principal)
    ws.engine.bind(ws.catalog.bindings([f"main.{t}" for t in TABLES]))
    admin = ws.session(Principal("admin"))
    print()
    print(
        "3. Filter pushdown: EXPLAIN (FORMAT json) of each rewritten statement in DAP's engine "
        "vs the raw statement"
    )
    plans: list[dict[str, Any]] = []
    for name, text in [*queries, *SELECTIVE.items()]:
        try:
            governed_sql = rw.front(text).sql  # views are bound by the runs before
            gov_plan = plan_json(
                ws.engine.execute_internal("EXPLAIN (FORMAT json) " + governed_sql)
            )
        except DapError as e:
            plans.append({"query": name, "error": f"{type(e).__name__}: {e.message}"})
            continue
        raw_plan = plan_json(raw.execute("EXPLAIN (FORMAT json) " + text).fetchall())
        g, r = plan_summary(gov_plan), plan_summary(raw_plan)
        if _strip(gov_plan) == _strip(raw_plan):
            verdict = "identical plan"
        elif _strip(gov_plan, loose=True) == _strip(raw_plan, loose=True):
            verdict = (
                "same plan up to the order of filters/columns within a scan and DuckDB's "
                "internal numbering"
            )
        elif g["scans"] == r["scans"] and g["filter_ops"] == r["filter_ops"]:
            verdict = "same scans, same pushed filters, same FILTER operators (plan shape differs)"
        elif g["scans"] == r["scans"]:
            verdict = (
                f"same pushed filters; FILTER operators gov {g['filter_ops']} raw {r['filter_ops']}"
            )
        else:
            verdict = "PUSHED FILTERS DIFFER"
        lineitem_filters = [s for s in g["scans"] if any("l_shipmode" in f for f in s)]
        plans.append(
            {
                "query": name,
                "verdict": verdict,
                "gov": g["scans"],
                "raw": r["scans"],
                "shipmode_in_scan": bool(lineitem_filters),
            }
        )
    for p in plans:
        if "error" in p:
            print(f"  {p['query']:<15} FAILED: {p['error']}")
        else:
            print(f"  {p['query']:<15} {p['verdict']}")
    differ = [p for p in plans if p.get("verdict", "").startswith("PUSHED")]
    identical = sum(p.get("verdict") == "identical plan" for p in plans)
    same = sum(str(p.get("verdict", "")).startswith("same plan") for p in plans)
    print(
        f"  {len(plans)} statements: {identical} identical plans, {same} the same up to "
        f"order/numbering, {len(plans) - identical - same} other; pushed filters differ in: "
        f"{', '.join(p['query'] for p in differ) or 'none'}"
    )
    for p in differ:
        print(f"    {p['query']} governed scans: {p['gov']}")
        print(f"    {p['query']} raw scans:      {p['raw']}")
    q06 = next((p for p in plans if p["query"] == "q06" and "gov" in p), None)
    if q06:
        print(f"  q06 Parquet scan filters, governed: {q06['gov']}")
        print(f"  q06 Parquet scan filters, raw:      {q06['raw']}")

    # Timed selective look-ups, interleaved.
    timings: dict[str, dict[str, float]] = {}
    rng = random.Random(7)
    for name, text in SELECTIVE.items():
        samples: dict[str, list[float]] = {"raw": [], "gov": [], "admin": []}
        sides: dict[str, Callable[[], object]] = {
            "raw": partial(arrow_of, raw, text),
            "gov": partial(session.sql, text),
            "admin": partial(admin.sql, text),
        }
        for fn in sides.values():
            fn()
        for _ in range(reps):
            order = list(sides)
            rng.shuffle(order)
            for side in order:
                samples[side].append(timed(sides[side])[0])
        timings[name] = {k: statistics.median(v) for k, v in samples.items()}
    print(
        f"  selective look-ups, median of {reps}, sides shuffled (ms; admin = DAP without "
        "filter or mask):"
    )
    for name, t in timings.items():
        print(
            f"    {name:<15} raw {t['raw']:7.2f}   governed {t['gov']:7.2f}   "
            f"admin {t['admin']:7.2f}   {SELECTIVE[name]}"
        )
    return {"plans": plans, "selective_ms": timings}


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from dap_kernel.governance.identity import Principal

    data = Path(args.data).resolve()
    ensure_data(data, 1)
    only = (
        {f"q{int(q.lower().lstrip('q')):02d}" for q in args.only.split(",")} if args.only else None
    )
    queries = load_queries(Path(args.queries), only)
    threads = args.threads or os.cpu_count() or 1
    result: dict[str, Any] = {"header": print_header(threads)}

    tmp = tempfile.TemporaryDirectory(prefix="dap-bench-gov-")
    try:
        ws = open_workspace(Path(tmp.name), data, threads)
        session = ws.session(Principal("ann"))
        try:
            if not args.skip_rewrite:
                started = time.perf_counter()
                rewrite = measure_rewrite(ws, queries, args.rewrite_reps, args.repeat)
                result["rewrite"] = report_rewrite(rewrite, args.rewrite_reps, args.repeat)
                result["rewrite"]["sample_sql"] = rewrite["sample_sql"]
                print(f"(section 1 took {time.perf_counter() - started:.0f} s)")
            if not args.skip_tpch:
                raw = open_raw_governed(data, threads)
                try:
                    print()
                    tpch_rows = measure_tpch(ws, session, raw, queries, args.reps)
                    result["tpch"] = report_tpch(tpch_rows, args.reps)
                    result["pushdown"] = check_pushdown(
                        ws, session, raw, queries, max(5, args.reps)
                    )
                finally:
                    raw.close()
        finally:
            ws.close()
    finally:
        tmp.cleanup()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", default=str(HERE / "data" / "tpch-sf1"), help="SF1 Parquet")
    parser.add_argument("--queries", default=str(DEFAULT_QUERIES), help="folder with q01..q22.sql")
    parser.add_argument("--rewrite-reps", type=int, default=50, help="reps per query (rewrite)")
    parser.add_argument("--repeat", type=int, default=50, help="back-to-back repeats per query")
    parser.add_argument("--reps", type=int, default=3, help="timed TPC-H runs per query and side")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: nproc)")
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. q01,q18")
    parser.add_argument("--skip-rewrite", action="store_true", help="skip section 1")
    parser.add_argument("--skip-tpch", action="store_true", help="skip sections 2 and 3")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if a query fails or results differ"
    )
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        print(f"results written to {args.json}")
    bad = any(
        q.get("error") or (q.get("check") not in (None, "equal"))
        for section in ("rewrite", "tpch")
        for q in result.get(section, {}).get("queries", [])
    )
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
