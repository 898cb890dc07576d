"""Where ``dap stream status`` finds running streams: one JSON file per stream under
``DAP_HOME/streams/``, rewritten (atomically) by the stream's process after every batch.

The file is a report, not the truth: a stream's offsets are the ones its table holds, and a
stream killed with SIGKILL leaves a file saying ``running`` whose process is gone —
:func:`read_states` says ``dead`` for those.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import DapError, StreamRunning, UnknownStream
from .spec import stream_name


@dataclass
class StreamState:
    name: str
    spec: dict[str, Any]
    pid: int
    status: str = "starting"  # starting, running, stopping, stopped, failed (dead: see below)
    started_at: str = field(default_factory=lambda: _now())
    updated_at: str = field(default_factory=lambda: _now())
    error: str = ""
    retryable: bool = False  # failed for a reason a restart may cure (broker, disk), not a rule
    owner: str = ""  # whom the stream runs as
    supervised: bool = False  # started by a supervisor (the DAP service), which restarts it
    request: dict[str, Any] = field(default_factory=dict)  # what to restart it from (no secret)
    restarts: int = 0
    batches: int = 0
    rows: int = 0
    quarantined: int = 0
    version: int | None = None  # the table's version after the last commit
    offsets: dict[str, int] = field(default_factory=dict)  # partition → last offset in table
    lag: dict[str, int] = field(default_factory=dict)  # partition → events not yet in table
    last_batch_ms: float | None = None  # time to decode and commit the last batch
    last_latency_ms: float | None = None  # oldest event of the last batch → its commit
    # The last minute (streams.metrics): events/s, batch and event-to-queryable percentiles.
    events_per_s: float | None = None
    batch_p50_ms: float | None = None
    batch_p99_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None

    @property
    def total_lag(self) -> int | None:
        return sum(self.lag.values()) if self.lag else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_lag"] = self.total_lag
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def state_dir(home: Path) -> Path:
    return home / "streams"


def _path(home: Path, name: str) -> Path:
    return state_dir(home) / f"{stream_name(name)}.json"


_HELD: dict[Path, tuple[int, int]] = {}  # this process's stream locks: path -> (fd, depth)
_HELD_LOCK = threading.Lock()


@contextmanager
def stream_lock(home: Path, name: str) -> Iterator[None]:
    """Held by the process that runs stream ``name`` for as long as it runs.

    The state file says who runs a stream, but two processes can read "dead" at once: two
    service workers that both restart a stream that died while neither watched, two starts
    racing. The second process is refused here (:class:`StreamRunning`) before it reads an
    event or writes the state file, so one stream never has two consumers writing its table.
    An exclusive ``flock`` that the kernel drops when the process dies, however it dies;
    re-entrant within the process (the supervised child holds it around the runner, which
    takes it too)."""
    path = state_dir(home) / f"{name}.lock"
    with _HELD_LOCK:
        held = _HELD.get(path)
        if held is not None:
            _HELD[path] = (held[0], held[1] + 1)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StreamRunning(
                    f"stream {name} is already running in another process"
                ) from None
            _HELD[path] = (fd, 1)
    try:
        yield
    finally:
        with _HELD_LOCK:
            fd, depth = _HELD[path]
            if depth > 1:
                _HELD[path] = (fd, depth - 1)
            else:
                del _HELD[path]
                os.close(fd)  # releases the lock


def write_state(home: Path, state: StreamState) -> None:
    """Replace the stream's file in one rename: a reader never sees half of it."""
    folder = state_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    state.updated_at = _now()
    tmp = folder / f".{state.name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.replace(_path(home, state.name))


def read_state(home: Path, name: str) -> StreamState:
    path = _path(home, name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UnknownStream(
            f"no stream named {stream_name(name)} (see dap stream status)"
        ) from None
    except (json.JSONDecodeError, OSError) as e:
        raise DapError(f"cannot read the state of stream {name}: {e}") from e
    state = StreamState(**data)
    if state.status in ("starting", "running", "stopping") and not pid_alive(state.pid):
        state.status = "dead"  # killed without a chance to say so
    return state


def read_states(home: Path) -> list[StreamState]:
    folder = state_dir(home)
    if not folder.is_dir():
        return []
    states = []
    for path in sorted(folder.glob("*.json")):
        try:
            states.append(read_state(home, path.stem))
        except (DapError, TypeError):
            continue  # a file of another DAP version: not ours to judge
    return states


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True


def stop_stream(home: Path, name: str, *, wait_s: float = 30) -> StreamState:
    """Ask a running stream to stop (SIGTERM: it commits the batch it holds, then exits) and
    wait until it has. Refuses a process that is not a ``dap stream`` of this home."""
    state = read_state(home, name)
    if state.status not in ("starting", "running", "stopping"):
        return state
    if state.pid == os.getpid():
        raise DapError(f"stream {state.name} runs in this process: call its runner's stop()")
    if not _is_stream_process(state.pid):
        raise DapError(f"process {state.pid} is not the stream {state.name}: not signalled")
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        state = read_state(home, name)
        if state.status not in ("starting", "running", "stopping"):
            return state
        time.sleep(0.1)
    raise DapError(f"stream {state.name} (pid {state.pid}) did not stop within {wait_s:.0f} s")


def _is_stream_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"stream" in cmdline or b"dap_kernel.streams.child" in cmdline  # CLI or supervised
