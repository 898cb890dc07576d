"""A source that stalls (accepts the connection, never answers) and one that is dead (the port
refuses): ``dap pipeline run`` fails with one clear line within the configured timeout and its
retries, shows no password, writes nothing, and records the run as failed."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.pipelines import PipelineStore
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from ..conftest import _free_port
from .conftest import DAP, dap_env

PASSWORD = "hunter2-pw"
TIMEOUT_S = 2  # configured per source below; two attempts each
ATTEMPTS = 2


@pytest.fixture
def stalling_port() -> Iterator[int]:
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for s in held:
            s.close()
        server.close()


def _extract(kind: str, port: int) -> dict[str, Any]:
    if kind == "api":
        return {
            "api": {
                "url": f"http://127.0.0.1:{port}/items",
                "timeout_s": TIMEOUT_S,
                "max_retries": ATTEMPTS - 1,
                "backoff_s": 0.1,
                "backoff_max_s": 0.2,
            }
        }
    return {
        "sql_url": f"postgresql://dap:{PASSWORD}@127.0.0.1:{port}/shop?connect_timeout={TIMEOUT_S}",
        "table": "orders",
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["api", "sql"])
@pytest.mark.parametrize("fault", ["stalls", "refuses"])
def test_a_stalled_or_dead_source_fails_clearly_in_time_and_writes_nothing(
    tmp_path: Path, stalling_port: int, kind: str, fault: str
) -> None:
    port = stalling_port if fault == "stalls" else _free_port()  # nothing listens on a free one
    home = tmp_path / "home"
    spec = {
        "name": "fetch",
        "extract": _extract(kind, port),
        "load": {"table": "main.fetched"},
        "retries": {"attempts": ATTEMPTS if kind == "sql" else 1, "backoff_s": 0.1},
    }
    yaml_file = tmp_path / "fetch.yaml"
    yaml_file.write_text(json.dumps(spec), encoding="utf-8")

    started = time.monotonic()
    done = subprocess.run(
        [DAP, "pipeline", "run", str(yaml_file)],
        env=dap_env(home),
        capture_output=True,
        text=True,
        timeout=90,  # a hang fails here rather than stalling the suite
    )
    took = time.monotonic() - started

    assert done.returncode == 1, done.stdout + done.stderr
    shown = done.stdout + done.stderr
    assert "Traceback" not in shown and PASSWORD not in shown
    [line] = [x for x in done.stderr.strip().splitlines() if x.startswith("error: ")]
    expected = (
        "timed out|timeout expired"
        if fault == "stalls"
        else "refused|cannot connect|could not connect"
    )
    assert re.search(expected, line, re.I), line
    # Bounded by the configuration (attempts x timeout + backoff), plus the CLI's start-up:
    # far from the 30 s / 10 s defaults a forgotten timeout would take per attempt.
    assert took < ATTEMPTS * TIMEOUT_S + 12, f"took {took:.1f} s"
    print(f"{kind} {fault}: failed in {took:.1f} s: {line}")

    ws = Workspace(Settings(home=home, user="tester"))
    try:
        assert "main.fetched" not in ws.catalog.known_names()  # nothing written
        assert not ws.lake.path("main", "fetched").exists()
        [run] = PipelineStore(ws.meta).runs("fetch")
        assert run.status == "failed" and PASSWORD not in run.error
    finally:
        ws.close()
