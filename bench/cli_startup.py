"""How fast the ``dap`` command starts, beside a bare ``python -c pass``.

    .venv/bin/python bench/cli_startup.py [--reps 15] [--scale 0.01] [--json PATH]

1. **Setup**: a fresh DAP home in a temporary folder, filled once with ``dap demo --scale``.
2. **Runs**: ``--reps`` rounds; each round runs every command once, in a new process, in turn
   (interleaved, so a busy moment of the machine hits all of them alike): ``python -c pass``,
   ``dap --help``, ``dap schedule --help`` and ``dap catalog list`` (which opens the home and
   reads the catalog as the user). Wall time from spawn to exit, output discarded; a command
   that fails stops the benchmark.
3. **Report**: median, min and max per command, and the median minus ``python -c pass`` (what
   DAP itself adds), as a markdown table.

``dap`` is run as ``python -c 'from dap_kernel.cli import main; main()'`` from the temporary
folder with this checkout first on ``PYTHONPATH``, so the figures are those of this tree, not
of an installed copy.
Removes the temporary folder at the end.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAP = [sys.executable, "-c", "from dap_kernel.cli import main; main()"]
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "dap --help": [*DAP, "--help"],
    "dap schedule --help": [*DAP, "schedule", "--help"],
    "dap catalog list": [*DAP, "catalog", "list"],
}


def environment(home: Path) -> dict[str, str]:
    """This checkout's code, the benchmark's home, and no DAP_* setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server_extension")])
    env.update(DAP_HOME=str(home), DAP_USER="bench")
    return env


def timed(name: str, env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawn to exit of one run."""
    start = time.perf_counter()
    done = subprocess.run(
        COMMANDS[name],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed: {done.stderr.strip()}")
    return elapsed


def measure(reps: int, env: dict[str, str], cwd: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for name in COMMANDS:  # one warm-up each: the OS file cache, .pyc files
        timed(name, env, cwd)
    for _ in range(reps):
        for name in COMMANDS:
            times[name].append(timed(name, env, cwd))
    return times


def table(times: dict[str, list[float]], reps: int) -> str:
    base = statistics.median(times["python -c pass"])
    lines = [
        f"| command (median of {reps}) | median ms | min ms | max ms | minus `python -c pass` ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(
            f"| `{name}` | {median * 1000:.0f} | {min(values) * 1000:.0f} | "
            f"{max(values) * 1000:.0f} | {(median - base) * 1000:+.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="Rounds (default 15).")
    parser.add_argument("--scale", type=float, default=0.01, help="Demo data scale.")
    parser.add_argument("--json", type=Path, help="Also write the raw times here.")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dap-bench-cli-"))
    try:
        env = environment(folder / "home")
        # Run from the temporary folder: `python -c` puts the current folder first on sys.path,
        # and a checkout there would shadow ROOT.
        demo = [*DAP, "demo", "--scale", str(args.scale)]
        subprocess.run(demo, env=env, cwd=folder, check=True, capture_output=True)
        times = measure(args.reps, env, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"## CLI start-up (demo scale {args.scale}, {sys.version.split()[0]})\n")
    print(table(times, args.reps))
    if args.json:
        args.json.write_text(json.dumps(times, indent=2))


if __name__ == "__main__":
    main()
