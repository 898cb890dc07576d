"""``dap serve --workers N``: N service processes on one port, kept running by a supervisor.

Each worker is the whole service (``python -m dap_server.service --reuse-port …``) listening
with SO_REUSEPORT on the same address, so the kernel spreads connections over them and every
core serves requests. What a caller may ask of any worker — its REST queries, cached results,
rate limits — lives in the metadata database (:mod:`dap_kernel.sharedstate`), so it does not
matter which worker answers. Scheduled reports share the work through their leases as
separate servers always did.

The cores the supervisor may use are split between the workers (worker i gets the i-th group
of near-equal size; one core each, round the list, when there are more workers than cores),
unless ``--no-pin``, and a worker's DuckDB gets as many threads as it has cores (``DAP_THREADS``
unless set). Measured here (``bench/rest_cpu.py``, 2 cores): a worker whose threads — the event
loop, the query pool, the group commit — hand CPython's GIL to each other on one core spends
about half the CPU per cached request of one whose threads wake each other across cores (1.8
against 4–5 ms). So ``--workers`` as many as cores suits many small REST queries; fewer workers
give each heavy query more cores.

The supervisor only starts, restarts and stops workers: a worker that exits while the service
is not stopping is started again (after a pause when workers keep dying). SIGTERM or SIGINT
is passed to every worker, which drains as a single server does (readiness fails, running
queries get ``DAP_SHUTDOWN_GRACE_S``); a second signal cuts their grace short. Workers die
with the supervisor (``PR_SET_PDEATHSIG``), so none is left holding the port.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from .metrics import MULTIPROCESS_DIR

RESTART_WINDOW_S = 30.0
RESTARTS_IN_WINDOW = 5  # more than this within the window: wait before each restart
RESTART_PAUSE_S = 2.0


def _die_with_parent() -> None:
    """In the worker, before exec: SIGTERM when the supervisor goes (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _log(message: str) -> None:
    print(f"[dap serve] {message}", file=sys.stderr, flush=True)


def prepare_home() -> None:
    """Migrate the metadata database and make the secret key once, before any worker starts:
    workers racing to create the key would each encrypt with a different one."""
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    ws = Workspace(Settings.from_env())
    try:
        ws.secrets.cipher()
    finally:
        ws.close()


def worker_cpus(workers: int, pin: bool) -> list[set[int] | None]:
    """The cores each worker is pinned to (None: not pinned): the supervisor's own set split
    into ``workers`` groups of near-equal size, or one core each, round the list, when there
    are more workers than cores."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return [None] * workers
    cpus = sorted(os.sched_getaffinity(0))
    if workers > len(cpus):
        return [{cpus[slot % len(cpus)]} for slot in range(workers)]
    size, extra = divmod(len(cpus), workers)
    groups: list[set[int] | None] = []
    start = 0
    for slot in range(workers):
        end = start + size + (1 if slot < extra else 0)
        groups.append(set(cpus[start:end]))
        start = end
    return groups


class Supervisor:
    def __init__(self, workers: int, argv: list[str], *, pin: bool = True) -> None:
        self.workers = max(1, workers)
        self.argv = argv
        self.cpus = worker_cpus(self.workers, pin)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self._restarts: deque[float] = deque()
        self.metrics_dir = ""

    def _metrics_dir(self) -> str:
        """The workers' shared metrics folder: the operator's (emptied: values of an earlier
        run would be added to this one's), else one of the supervisor's own."""
        given = os.environ.get(MULTIPROCESS_DIR, "")
        if not given:
            return tempfile.mkdtemp(prefix="dap-metrics-")
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return given

    def _spawn(self, slot: int) -> None:
        env = {**os.environ, "DAP_WORKER": str(slot), MULTIPROCESS_DIR: self.metrics_dir}
        cores = self.cpus[slot]
        if cores is not None:
            env.setdefault("DAP_THREADS", str(len(cores)))

        def before_exec() -> None:
            _die_with_parent()
            if cores is not None:
                os.sched_setaffinity(0, cores)

        proc = subprocess.Popen(self.argv, env=env, preexec_fn=before_exec)
        self.procs[slot] = proc
        where = f" on cores {','.join(map(str, sorted(cores)))}" if cores is not None else ""
        _log(f"worker {slot} started (pid {proc.pid}){where}")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        first = not self.stopping
        self.stopping = True
        if first:
            _log(f"stopping {len(self.procs)} workers (signal {signum})")
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # a second one cuts the drain short

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.metrics_dir = self._metrics_dir()
        try:
            return self._supervise()
        finally:
            if not os.environ.get(MULTIPROCESS_DIR):
                shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _supervise(self) -> int:
        for slot in range(self.workers):
            self._spawn(slot)
        while True:
            if self.stopping:
                if all(p.poll() is not None for p in self.procs.values()):
                    break
            else:
                for slot, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is not None and not self.stopping:
                        _log(f"worker {slot} (pid {proc.pid}) exited with {code}: restarting it")
                        # Its live gauges leave the sums (its counts stay in them).
                        mark_process_dead(proc.pid, self.metrics_dir)  # type: ignore[no-untyped-call]
                        self._pause_if_crashing()
                        if not self.stopping:
                            self._spawn(slot)
            time.sleep(0.1)
        codes = [p.returncode for p in self.procs.values()]
        _log(f"workers stopped (exit codes {codes})")
        return 0 if all(c in (0, -signal.SIGTERM) for c in codes) else 1

    def _pause_if_crashing(self) -> None:
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
            self._restarts.popleft()
        if len(self._restarts) > RESTARTS_IN_WINDOW:
            time.sleep(RESTART_PAUSE_S)


def main(argv: list[str] | None = None) -> None:
    """``python -m dap_server.workers --workers N --port P [--ip A] [service options…]``."""
    parser = argparse.ArgumentParser(prog="dap serve --workers", description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-pin", action="store_true", help="let workers run on any core")
    known, rest = parser.parse_known_args(argv)
    prepare_home()
    child = [sys.executable, "-m", "dap_server.service", "--reuse-port", *rest]
    sys.exit(Supervisor(known.workers, child, pin=not known.no_pin).run())


if __name__ == "__main__":
    main()
