"""Descriptive statistics of the largest demo table: pushed down to the engine vs pulled.

    .venv/bin/python bench/stats.py [--scale 1] [--reps 5] [--no-service] [--json PATH]

1. **Setup**: a fresh DAP home in a temporary folder, the demo data at ``--scale`` (scale 1:
   ~1M rows of ``order_lines``), removed at the end.
2. **Pushed down**: ``dap.stats.describe(table, numeric columns, exact_distinct=True)`` on the
   governed session: one aggregate statement (count, nulls, distinct, mean, sd, min,
   quartiles, max per column); one row comes back.
3. **Pulled**: the same governed session reads the columns (``SELECT cols FROM table``), and
   numpy computes the same figures (``np.unique`` for distinct, ``np.quantile``).
4. Sides interleaved, median of ``--reps`` after one warm-up of each; the figures of both sides
   are compared (relative 1e-9). Also the histogram (30 bins) both ways.
5. The same again through the DAP service (``dap serve`` on a loopback port, an API key):
   the same functions on an ``HttpSession``, so pulling means the rows travel as Arrow over
   HTTP. The server gets SIGTERM at the end (SIGKILL after 10 s).

Prints one markdown table with the machine's load average; writes nothing outside the
temporary folder except ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dap_kernel import demo, stats
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings
from dap_kernel.stats import Queries
from dap_kernel.transport import HttpSession

TABLE = "order_lines"
COLUMNS = ["quantity", "unit_price", "discount"]


def pushed(session: Queries) -> dict[str, tuple[float, ...]]:
    summary = stats.describe(TABLE, COLUMNS, session=session, exact_distinct=True)
    assert summary.fetched_rows == 1
    out = {}
    for c in summary.columns:
        quartiles = tuple(v or 0.0 for _, v in c.quantiles)
        out[c.name] = (
            c.count,
            c.nulls,
            c.distinct or 0,
            c.mean or 0.0,
            c.sd or 0.0,
            float(c.min),
            *quartiles,
            float(c.max),
        )
    return out


def pulled(session: Queries) -> dict[str, tuple[float, ...]]:
    table = session.query(f"SELECT {', '.join(COLUMNS)} FROM {TABLE}").table
    out = {}
    for name in COLUMNS:
        column = table.column(name)
        nulls = column.null_count
        x = column.drop_null().to_numpy().astype(float)
        q = np.quantile(x, [0.25, 0.5, 0.75])
        out[name] = (
            x.size,
            nulls,
            len(np.unique(x)),
            x.mean(),
            x.std(ddof=1),
            x.min(),
            *q,
            x.max(),
        )
    return out


def hist_pushed(session: Queries) -> tuple[int, ...]:
    return stats.histogram(TABLE, "unit_price", 30, session=session).counts


def hist_pulled(session: Queries) -> tuple[int, ...]:
    x = session.query(f"SELECT unit_price FROM {TABLE}").table.column(0).to_numpy()
    return tuple(int(c) for c in np.histogram(x, 30)[0])


def timed(func: Callable[[Queries], Any], session: Queries) -> tuple[float, Any]:
    started = time.perf_counter()
    value = func(session)
    return (time.perf_counter() - started) * 1000, value


def close(a: dict[str, tuple[float, ...]], b: dict[str, tuple[float, ...]]) -> bool:
    return all(np.allclose(a[k], b[k], rtol=1e-9) for k in a)


def compare(session: Queries, reps: int, where: str) -> dict[str, Any]:
    pairs = {"describe": (pushed, pulled), "histogram": (hist_pushed, hist_pulled)}
    results: dict[str, Any] = {}
    for name, (down, up) in pairs.items():
        timed(down, session), timed(up, session)  # warm-up
        downs, ups = [], []
        equal = True
        for _ in range(reps):
            ms, a = timed(down, session)
            downs.append(ms)
            ms, b = timed(up, session)
            ups.append(ms)
            equal = equal and (close(a, b) if isinstance(a, dict) else a == b)
        results[f"{name} ({where})"] = {
            "pushed_ms": statistics.median(downs),
            "pulled_ms": statistics.median(ups),
            "equal": equal,
        }
    return results


def serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update({"DAP_HOME": str(home), "DAP_USER": "bench", "JUPYTER_RUNTIME_DIR": str(home)})
    dap = str(Path(sys.executable).parent / "dap")
    log = (home.parent / "service.log").open("w")
    process = subprocess.Popen(
        [dap, "serve", f"--port={port}"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/dap/api/v1/health", timeout=2).close()
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the DAP service did not start") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-service", dest="service", action="store_false")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dap-bench-stats-"))
    home = folder / "home"
    process = None
    try:
        ws = Workspace(Settings(home=home, user="bench"))
        demo.build(ws.catalog, scale=args.scale, owner="bench")
        key = ws.apikeys.create("bench", "bench", scopes=["query", "read-catalog"])[1]
        session: Session = ws.session()
        rows = int(session.sql(f"SELECT count(*) AS n FROM {TABLE}")["n"][0])
        results = compare(session, args.reps, "in process")
        ws.close()
        if args.service:
            process, url = serve(home)
            with HttpSession(url, api_key=key) as remote:
                results.update(compare(remote, args.reps, "DAP service"))
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"{TABLE}: {rows:,} rows, columns {', '.join(COLUMNS)}; median of {args.reps}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("| statistic | pushed down ms | pulled + numpy ms | pulled / pushed | same figures |")
    print("|---|---:|---:|---:|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['pushed_ms']:.1f} | {r['pulled_ms']:.1f} | "
            f"{r['pulled_ms'] / r['pushed_ms']:.2f} | {'yes' if r['equal'] else 'NO'} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "results": results}, indent=2))


if __name__ == "__main__":
    main()
