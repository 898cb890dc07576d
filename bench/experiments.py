"""An A/B test analysis on 10M exposures: in the engine (sufficient statistics) vs pulled.

    .venv/bin/python bench/experiments.py [--rows 10000000] [--reps 3] [--json PATH]

1. **Setup**: a fresh DAP home in a temporary folder; ``main.units`` (``--rows`` customer ids)
   and ``main.activity`` (per unit: ``post``, ``pre`` correlated with it, a 0/1 ``converted``)
   written from numpy; then ``log_exposures`` writes ``main.exposures`` with the variant
   computed by the engine's md5 (the governed ``CREATE TABLE … AS SELECT``). Setup is timed
   once, not compared.
2. **Engine**: ``dap.experiments.analyze`` of three metrics (a mean, a proportion, the mean
   with CUPED) through the governed session: one statement (the exposures deduplicated once,
   the three metric SELECTs and the CUPED pre-period read as one source, one join); a few rows
   come back. The same with ``unique_exposures=True`` and ``one_row_per_unit=True`` on the
   metrics (the caller declares one row per unit, so no per-unit GROUP BY runs).
3. **Pulled**: the same governed session reads the joined rows (``SELECT variant, post, pre,
   converted FROM exposures JOIN activity``) into pandas, then scipy's ``ttest_ind`` (Welch),
   statsmodels' ``proportions_ztest`` and a numpy CUPED (θ, adjusted values, Welch).
4. Sides interleaved, median of ``--reps`` after one warm-up of each; the p-values of all
   sides are compared (relative 1e-6).

Prints one markdown table with the machine's load average; writes nothing outside the
temporary folder except ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dap_kernel.experiments import Experiment, Metric, analyze, log_exposures
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings

EXPERIMENT = Experiment("bench", unit="customer_id", salt="bench-1")
METRICS = [
    Metric("post", sql="SELECT customer_id AS unit, post AS value FROM activity"),
    Metric(
        "converted",
        sql="SELECT customer_id AS unit, converted AS value FROM activity",
        kind="proportion",
    ),
    Metric(
        "post_cuped",
        sql="SELECT customer_id AS unit, post AS value FROM activity",
        pre_sql="SELECT customer_id AS unit, pre AS value FROM activity",
    ),
]


def setup(ws: Workspace, rows: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    ids = np.arange(1, rows + 1, dtype=np.int64)
    ws.catalog.create_table("main.units", pl.DataFrame({"customer_id": ids}), owner="tester")
    pre = rng.gamma(2.0, 5.0, rows)
    post = 0.7 * pre + rng.gamma(2.0, 2.0, rows)
    activity = pl.DataFrame(
        {
            "customer_id": ids,
            "pre": pre,
            "post": post,
            "converted": (post > 12).astype(np.int32),
        }
    )
    ws.catalog.create_table("main.activity", activity, owner="tester")
    data_s = time.perf_counter() - started
    started = time.perf_counter()
    log_exposures(EXPERIMENT, "units", into="main.exposures", session=ws.session())
    return {"tables_s": data_s, "log_exposures_s": time.perf_counter() - started}


def engine(session: Session) -> dict[str, float]:
    result = analyze(EXPERIMENT, METRICS, exposures="exposures", correction="none", session=session)
    return {m.metric: m.pvalue for m in result.metrics}


def engine_unique(session: Session) -> dict[str, float]:
    from dataclasses import replace

    metrics = [replace(m, one_row_per_unit=True) for m in METRICS]
    result = analyze(
        EXPERIMENT,
        metrics,
        exposures="exposures",
        correction="none",
        unique_exposures=True,
        session=session,
    )
    return {m.metric: m.pvalue for m in result.metrics}


def pulled(session: Session) -> dict[str, float]:
    from scipy import stats as sps
    from statsmodels.stats.proportion import proportions_ztest

    frame = session.query(
        "SELECT e.variant, a.post, a.pre, a.converted FROM exposures e "
        "JOIN activity a USING (customer_id)"
    ).table.to_pandas()
    treat = (frame["variant"] == "treatment").to_numpy()
    post, pre = frame["post"].to_numpy(), frame["pre"].to_numpy()
    conv = frame["converted"].to_numpy()
    out = {"post": float(sps.ttest_ind(post[treat], post[~treat], equal_var=False).pvalue)}
    _, p = proportions_ztest([conv[treat].sum(), conv[~treat].sum()], [treat.sum(), (~treat).sum()])
    out["converted"] = float(p)
    theta = np.cov(post, pre, ddof=1)[0, 1] / pre.var(ddof=1)
    adjusted = post - theta * (pre - pre.mean())
    out["post_cuped"] = float(
        sps.ttest_ind(adjusted[treat], adjusted[~treat], equal_var=False).pvalue
    )
    return out


def timed(fn: Callable[[Session], dict[str, float]], session: Session) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = fn(session)
    return (time.perf_counter() - started) * 1000, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dap-bench-experiments-"))
    try:
        ws = Workspace(Settings(home=home, user="tester"))
        prepared = setup(ws, args.rows)
        session = ws.session()
        sides: dict[str, Callable[[Session], dict[str, float]]] = {
            "engine (dap.experiments.analyze)": engine,
            "engine, one row per unit declared": engine_unique,
            "pulled (pandas + scipy/statsmodels)": pulled,
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        answers: dict[str, dict[str, float]] = {}
        for name, fn in sides.items():  # warm-up
            answers[name] = timed(fn, session)[1]
        for _ in range(args.reps):
            for name, fn in sides.items():
                ms, answers[name] = timed(fn, session)
                times[name].append(ms)
        a, *others = answers.values()
        for b in others:
            for metric in a:
                assert abs(a[metric] - b[metric]) <= 1e-6 * max(abs(b[metric]), 1e-300), (a, b)
        ws.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()
    medians = {name: statistics.median(v) for name, v in times.items()}
    base = medians["engine (dap.experiments.analyze)"]
    print(f"{args.rows:,} exposures, 3 metrics (mean, proportion, CUPED), median of {args.reps}")
    print(
        f"setup: tables {prepared['tables_s']:.1f} s,"
        f" log_exposures {prepared['log_exposures_s']:.1f} s"
    )
    print("| side | median ms | runs ms | × engine |\n|---|---:|---|---:|")
    for name, ms in medians.items():
        runs = ", ".join(f"{t:.0f}" for t in times[name])
        print(f"| {name} | {ms:.0f} | {runs} | {ms / base:.2f} |")
    print(f"p-values equal on both sides (rel 1e-6): {a}")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": args.rows, "setup": prepared, "times_ms": times, "load": load})
        )


if __name__ == "__main__":
    main()
