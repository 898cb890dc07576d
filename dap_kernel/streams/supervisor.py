"""Streams run by a long-lived process on others' behalf: one child process per stream, watched
and restarted.

The DAP service (REST ``POST streams``) and a notebook (``dap.streams.start``) hand a
:class:`~.request.StreamRequest` and the principal it runs as to :class:`Supervisor`, which
starts ``python -m dap_kernel.streams.child`` with both on its standard input. A child is a
process of its own — a busy stream never takes the service's CPU from its REST callers, and a
crash takes one stream down, not the service — in a session of its own, so it outlives the
process that started it: a restarted service finds its streams still running through their
state files and watches them again (:meth:`Supervisor.adopt`).

A child that dies (``kill -9``, out of memory) or fails for a reason a retry may cure (the
broker away, a full disk) is started again after a growing pause; one refused by a rule (a
revoked grant) is not. Restarting is safe because a stream's offsets live in its table: the new
child continues after the last commit, losing and duplicating nothing. The request holds no
secret (see :mod:`.request`), so the state file keeps it for the restart.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DapError, StreamRunning
from ..governance.identity import Principal
from ..settings import Settings
from .request import StreamRequest
from .spec import stream_name
from .state import StreamState, pid_alive, read_state, read_states, state_dir, stop_stream

log = logging.getLogger(__name__)
ACTIVE = ("starting", "running", "stopping")
WATCH_EVERY_S = 1.0
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Watched:
    owner: Principal
    request: StreamRequest
    process: subprocess.Popen[bytes] | None  # None: adopted from an earlier supervisor
    restarts: int = 0
    retry_at: float = 0.0
    stopped: bool = False  # asked to stop: not restarted
    log_file: Path | None = field(default=None, repr=False)


class Supervisor:
    """The streams this process started (or adopted) for ``home``, kept running."""

    def __init__(self, settings: Settings, *, python: str = sys.executable) -> None:
        self.settings = settings
        self.home = settings.home
        self.python = python
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # -- starting and stopping -------------------------------------------------------------

    def start(self, owner: Principal, request: StreamRequest, *, wait_s: float = 20) -> StreamState:
        """Start a child for ``request`` as ``owner`` and wait until it runs (or has failed).
        The caller has checked the request (:class:`~.access.GovernedStreams`)."""
        name = stream_name(request.table)
        with self._lock:
            self._refuse_running(name)
            watched = _Watched(owner=owner, request=request, process=None)
            self._watched[name] = watched
            self._spawn(name, watched)
        self._ensure_thread()
        return self._wait_started(name, watched, wait_s)

    def stop(self, name: str, *, wait_s: float = 30) -> StreamState:
        """Stop a stream (it commits the batch it holds) and stop watching it."""
        name = stream_name(name)
        with self._lock:
            watched = self._watched.get(name)
            if watched is not None:
                watched.stopped = True
        state = stop_stream(self.home, name, wait_s=wait_s)
        if watched is not None and watched.process is not None:
            watched.process.wait(timeout=5)  # reap it
        return state

    def adopt(self) -> list[str]:
        """Watch the supervised streams of the home that still run (after a restart of this
        service), and restart the ones that died while nobody watched."""
        adopted = []
        for state in read_states(self.home):
            if not state.supervised or not state.request or state.status == "stopped":
                continue
            if state.status == "failed" and not state.retryable:
                continue
            try:
                request = StreamRequest.from_dict(state.request)
            except DapError:
                continue
            owner = Principal(name=state.owner, source="service")
            watched = _Watched(owner=owner, request=request, process=None, restarts=state.restarts)
            with self._lock:
                if state.name in self._watched:
                    continue
                self._watched[state.name] = watched
            adopted.append(state.name)
        if adopted:
            self._ensure_thread()
        return adopted

    def close(self, *, stop_streams: bool = False) -> None:
        """Stop watching; with ``stop_streams`` also stop every stream (otherwise they keep
        running, for the next supervisor to adopt)."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if stop_streams:
            for name, watched in list(self._watched.items()):
                try:
                    self.stop(name)
                except (DapError, subprocess.TimeoutExpired) as e:
                    log.warning("stream %s: %s", name, e)
                process = watched.process
                if process is not None and process.poll() is None:
                    process.kill()  # did not stop when asked: it must not outlive us
                    process.wait(timeout=5)

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(n for n, w in self._watched.items() if not w.stopped)

    # -- children ----------------------------------------------------------------------------

    def _refuse_running(self, name: str) -> None:
        try:
            state = read_state(self.home, name)
        except DapError:
            return
        if state.status in ACTIVE:
            raise StreamRunning(f"stream {name} is already running (pid {state.pid})")

    def _spawn(self, name: str, watched: _Watched) -> None:
        folder = state_dir(self.home)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / f"{name}.log"
        job = {  # on stdin: the metadata URL and the secret key are no one else's business
            "home": str(self.home),
            "meta_url": self.settings.meta_url,
            "secret_key": self.settings.secret_key,
            "owner": watched.owner.name,
            "request": watched.request.to_dict(),
            "restarts": watched.restarts,
        }
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = subprocess.Popen(
                [self.python, "-m", "dap_kernel.streams.child"],
                stdin=subprocess.PIPE,
                stdout=fd,
                stderr=fd,
                env={**os.environ, "DAP_HOME": str(self.home)},
                start_new_session=True,  # outlives this process; a Ctrl-C here is not its
            )
        finally:
            os.close(fd)
        assert process.stdin is not None
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()
        watched.process, watched.log_file = process, log_path

    def _wait_started(self, name: str, watched: _Watched, wait_s: float) -> StreamState:
        deadline = time.monotonic() + wait_s
        process = watched.process
        while True:
            state = self._state(name)
            mine = state is not None and process is not None and state.pid == process.pid
            if state is not None and mine and state.status != "starting":
                return state
            if process is not None and process.poll() is not None:
                if state is not None and mine:
                    return state
                if state is not None and state.status in ACTIVE and pid_alive(state.pid):
                    # Another process won the race to run it (its lock: see state.stream_lock).
                    with self._lock:
                        watched.stopped = True
                    raise StreamRunning(f"stream {name} is already running (pid {state.pid})")
                raise DapError(f"stream {name} could not start (see {watched.log_file})")
            if time.monotonic() > deadline:
                if state is not None and mine:
                    return state
                raise DapError(f"stream {name} did not start within {wait_s:.0f} s")
            time.sleep(0.05)

    def _state(self, name: str) -> StreamState | None:
        try:
            return read_state(self.home, name)
        except DapError:
            return None

    # -- watching ----------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._closed.clear()
                self._thread = threading.Thread(
                    target=self._watch, name="dap-stream-supervisor", daemon=True
                )
                self._thread.start()

    def _watch(self) -> None:
        while not self._closed.wait(WATCH_EVERY_S):
            with self._lock:
                items = list(self._watched.items())
            for name, watched in items:
                try:
                    self._check(name, watched)
                except Exception:  # one stream's trouble never stops the watch of the others
                    log.exception("stream %s: supervision failed", name)

    def _check(self, name: str, watched: _Watched) -> None:
        if watched.stopped:
            return
        if watched.process is not None:
            watched.process.poll()  # reap a child that exited, so it does not look alive
        state = self._state(name)
        if state is None:
            return
        if state.status in ACTIVE and pid_alive(state.pid):
            return
        if state.status == "stopped" or (state.status == "failed" and not state.retryable):
            watched.stopped = True  # stopped from elsewhere (dap stream stop) or by a rule
            return
        now = time.monotonic()
        if not watched.retry_at:
            pause = BACKOFF_S[min(watched.restarts, len(BACKOFF_S) - 1)]
            watched.retry_at = now + pause
            log.warning("stream %s is %s; restarting in %.0f s", name, state.status, pause)
            return
        if now < watched.retry_at:
            return
        watched.restarts += 1
        watched.retry_at = 0.0
        with self._lock:
            self._spawn(name, watched)


_SHARED: dict[Path, Supervisor] = {}
_SHARED_LOCK = threading.Lock()


def shared(settings: Settings) -> Supervisor:
    """This process's supervisor of a home's streams (the service's, or a kernel's)."""
    key = settings.home.resolve()
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Supervisor(settings)
        return _SHARED[key]
