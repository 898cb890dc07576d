"""Scheduled reports: the scheduler's overhead per run beside a bare papermill run, and 50
schedules due in the same minute on two scheduler processes.

    .venv/bin/python bench/schedules.py [--reps 5] [--burst 50] [--processes 2] [--json PATH]

1. **Setup**: a fresh DAP home in a temporary folder with a small ``sales`` table, multi-user
   mode, the analyst ``ann`` with a grant; the report notebook has a ``parameters`` cell, one
   governed ``dap.sql`` query and a print.
2. **Overhead** (``--reps``, interleaved): *bare* — ``python -m papermill in.ipynb out.ipynb
   -p region APAC`` with the kernel on the same home as ``ann`` (an API key in the
   environment); *scheduled* — ``Schedules.run_now`` then ``Scheduler.run_and_wait``, from the
   due time to the recorded finish (claim, run key, papermill with the same notebook and
   parameters, reads and quality recorded, ipynb output written, key revoked). Both write
   only the executed notebook.
3. **Burst**: ``--burst`` schedules with cron ``* * * * *``, their first due time set to the
   same instant a few seconds ahead; ``--processes`` scheduler processes (default
   concurrency 2 each) on the one metadata database run them. Reported: runs per schedule
   (must be 1), attempts (must be 1), the makespan from the due time to the last finish, and
   p50/max of the start delay.

Prints markdown tables; removes the temporary folder at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "server_extension")]

import polars as pl  # noqa: E402

from dap_kernel.governance.identity import Principal  # noqa: E402
from dap_kernel.scheduler.api import Schedules  # noqa: E402
from dap_kernel.scheduler.loop import Scheduler  # noqa: E402
from dap_kernel.scheduler.model import FINAL, ScheduleSpec  # noqa: E402
from dap_kernel.scheduler.params import check_notebook  # noqa: E402
from dap_kernel.session import Workspace  # noqa: E402
from dap_kernel.settings import Settings  # noqa: E402
from tests.reports import notebook  # noqa: E402

CODE = (
    "import dap_kernel as dap\n"
    "df = dap.sql('SELECT region, sum(amount) AS total FROM sales WHERE region = $r GROUP BY 1',"
    " {'r': region})\n"
    "print(df.rows())"
)
SCHEDULER = """
import time
from dap_kernel.settings import Settings
from dap_kernel.session import Workspace
from dap_kernel.scheduler.loop import Scheduler
Scheduler(Workspace(Settings.from_env()), tick_s=0.5).start()
while True:
    time.sleep(1)
"""


def setup(home: Path) -> Workspace:
    ws = Workspace(Settings(home=home, user="admin"))
    ws.session().create_table(
        "sales", pl.DataFrame({"region": ["EMEA", "APAC"] * 500, "amount": [1.0] * 1000})
    )
    admin = ws.admin("admin")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.grant("SELECT", "main.sales", "user", "ann")
    return ws


def bare(ws: Workspace, home: Path, nb: dict[str, Any], i: int) -> float:
    source, out = home / f"bare-{i}.ipynb", home / f"bare-{i}-out.ipynb"
    source.write_text(json.dumps(nb))
    info, key = ws.apikeys.create("ann", "bench", scopes=["query", "read-catalog"])
    env = {
        **os.environ,
        "DAP_HOME": str(home),
        "DAP_API_KEY": key,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "server_extension")]),
    }
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(source),
            str(out),
            "-p",
            "region",
            "APAC",
            "-k",
            "python3",
            "--no-progress-bar",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    ws.apikeys.revoke(info.key_id)
    return elapsed


def scheduled(ws: Workspace, api: Schedules, schedule_id: str) -> dict[str, float]:
    run = api.run_now(schedule_id)
    done = Scheduler(ws).run_and_wait(run.id)
    assert done.status == "succeeded", done.error
    assert done.started_at is not None and done.finished_at is not None
    return {
        "total": (done.finished_at - run.due_at).total_seconds(),
        "start_delay": (done.started_at - run.due_at).total_seconds(),
    }


def overhead(ws: Workspace, home: Path, reps: int) -> dict[str, Any]:
    nb = check_notebook(notebook(CODE))  # with the kernelspec papermill needs
    api = Schedules(ws.session(Principal(name="ann")))
    s = api.add(
        ScheduleSpec(name="bench", notebook=nb, parameters={"region": "APAC"}, formats=("ipynb",))
    )
    bare(ws, home, nb, -1)  # warm caches on both sides
    scheduled(ws, api, s.id)
    bares, sched = [], []
    for i in range(reps):
        bares.append(bare(ws, home, nb, i))
        sched.append(scheduled(ws, api, s.id))
    b = statistics.median(bares)
    t = statistics.median(x["total"] for x in sched)
    return {
        "bare_s": b,
        "scheduled_s": t,
        "overhead_s": t - b,
        "ratio": t / b,
        "start_delay_s": statistics.median(x["start_delay"] for x in sched),
    }


def burst(ws: Workspace, home: Path, count: int, processes: int) -> dict[str, Any]:
    api = Schedules(ws.session(Principal(name="ann")))
    ids = [
        api.add(
            ScheduleSpec(
                name=f"burst-{i}", notebook=notebook(CODE), cron="* * * * *", formats=("ipynb",)
            )
        ).id
        for i in range(count)
    ]
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    for schedule_id in ids:
        api.store.update(schedule_id, next_due=due)
    env = {
        **os.environ,
        "DAP_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "server_extension")]),
    }
    procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER], env=env) for _ in range(processes)]
    try:
        while True:
            runs = [r for i in ids for r in api.history(i) if r.due_at == due]
            if len(runs) >= count and all(r.status in FINAL for r in runs):
                break
            time.sleep(1)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    per_schedule = Counter(r.schedule_id for r in runs)
    starts = sorted((r.started_at - due).total_seconds() for r in runs if r.started_at)
    last = max(r.finished_at for r in runs if r.finished_at)
    return {
        "schedules": count,
        "processes": processes_label(processes),
        "runs": len(runs),
        "max_runs_per_schedule": max(per_schedule.values()),
        "statuses": dict(Counter(r.status for r in runs)),
        "max_attempt": max(r.attempt for r in runs),
        "makespan_s": (last - due).total_seconds(),
        "start_delay_p50_s": statistics.median(starts),
        "start_delay_max_s": starts[-1],
    }


def processes_label(n: int) -> str:
    return f"{n} × concurrency 2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dap-bench-schedules-"))
    try:
        ws = setup(home)
        result = {
            "overhead": overhead(ws, home, args.reps),
            "burst": burst(ws, home, args.burst, args.processes),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)
    o, b = result["overhead"], result["burst"]
    print("| side | median s |\n|---|---:|")
    print(
        f"| bare papermill | {o['bare_s']:.2f} |\n| scheduled run (due → outputs) | "
        f"{o['scheduled_s']:.2f} |\n| overhead | {o['overhead_s']:+.2f} ({o['ratio']:.2f}×) |"
        f"\n| of which due → started | {o['start_delay_s']:.3f} |"
    )
    print()
    print(
        "| schedules | processes | runs | max runs/schedule | max attempt | statuses | "
        "makespan s | start delay p50 / max s |\n|---:|---|---:|---:|---:|---|---:|---|"
    )
    print(
        f"| {b['schedules']} | {b['processes']} | {b['runs']} | {b['max_runs_per_schedule']} | "
        f"{b['max_attempt']} | {b['statuses']} | {b['makespan_s']:.1f} | "
        f"{b['start_delay_p50_s']:.1f} / {b['start_delay_max_s']:.1f} |"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
