"""Fault injection: real processes killed with SIGKILL, a real PostgreSQL cut off, a real full
disk. Every helper here cleans up in ``finally`` so a failing test leaves no process behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

DAP = str(Path(sys.executable).parent / "dap")
# One seed per run, printed on failure (pytest shows it in the test's captured output), so a
# kill point that found a bug can be replayed: FAULT_SEED=1234 pytest tests/faults.
SEED = int(os.environ.get("FAULT_SEED", str(random.SystemRandom().randrange(1 << 30))))


@pytest.fixture
def rng() -> random.Random:
    print(f"fault seed: FAULT_SEED={SEED}")
    return random.Random(SEED)


def dap_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``dap`` subprocess on ``home`` (no developer DAP_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester", **extra})
    return env


@dataclass(frozen=True)
class Outcome:
    """How a process ended: killed by us, or finished (before the kill came)."""

    killed: bool
    returncode: int
    stdout: str
    stderr: str


def run_and_kill(
    argv: Sequence[str], env: dict[str, str], delay_s: float, *, timeout_s: float = 60
) -> Outcome:
    """Start ``argv``, SIGKILL it after ``delay_s`` unless it finished first."""
    process = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        try:
            out, err = process.communicate(timeout=delay_s)
            return Outcome(False, process.returncode, out, err)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            out, err = process.communicate(timeout=timeout_s)
            # A process that ended just before the signal landed was not killed: it finished.
            return Outcome(process.returncode == -signal.SIGKILL, process.returncode, out, err)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def run(argv: Sequence[str], env: dict[str, str], timeout_s: float = 60) -> Outcome:
    """Run ``argv`` to its end (a rerun after a fault)."""
    done = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout_s)
    return Outcome(False, done.returncode, done.stdout, done.stderr)


def wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 60) -> None:
    """Wait until ``path`` exists (a test hook in the child says it reached a point)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"the process never reached {path.name}"
        time.sleep(0.02)
