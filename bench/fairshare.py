"""Fair share on `dap serve`: one user's runaway queries against another user's `SELECT 42`.

    .venv/bin/python bench/fairshare.py [--scale 0.02] [--hogs 4] [--hog-timeout 20]
                                        [--duration 10] [--idle 50] [--code DIR] [--threads N]
                                        [--server-arg=--DapExtension.query_workers=4 ...]
                                        [--json PATH]

1. **Setup**: a fresh DAP home in a temporary folder, the demo data at ``--scale``, multi-user
   mode; two analysts, ``hog`` and ``probe``, each with an API key.
2. **Server**: ``python -m dap_server.service --port P`` (what ``dap serve`` runs) on a free
   loopback port, in a session of its own; ``--code DIR`` puts DIR (and DIR/server_extension)
   first on its ``PYTHONPATH``, so the same script measures an older checkout ("before").
3. **Idle**: ``--idle`` sequential ``SELECT 42`` as ``probe`` (cache off): latency p50/p99.
4. **Under load**: ``hog`` keeps ``--hogs`` runaway queries in flight (a three-way cross join
   of ``order_lines``, asking for ``--hog-timeout`` seconds each; a finished one is sent again,
   a refused one after 0.2 s) while ``probe`` runs ``SELECT 42`` one after the other for
   ``--duration`` seconds. Each probe's latency is the client round trip.
5. **Stop**: hog's queries are cancelled (``DELETE query/{id}``), the server gets SIGTERM
   (SIGKILL after 10 s) and the temporary folder is removed, also on errors and Ctrl-C. A probe
   that waits longer than ``--hog-timeout`` + 30 s gives up, so the run always ends.

Prints one markdown table; writes nothing outside the temporary folder except ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

API = "/dap/api/v1"
RUNAWAY = "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c"


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def setup(home: Path, scale: float) -> dict[str, str]:
    from dap_kernel import demo
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    ws = Workspace(Settings(home=home, user="admin"))
    try:
        demo.build(ws.catalog, scale=scale, owner="admin")
        admin = ws.admin("admin")
        admin.set_multi_user(True)
        for name in ("hog", "probe"):
            admin.add_user(name, {"region": "EMEA"})
            admin.add_member("group", "analysts", "user", name)
        admin.add_member("role", "analyst", "group", "analysts")
        return {name: ws.apikeys.create(name, "bench")[1] for name in ("hog", "probe")}
    finally:
        ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self, home: Path, port: int, code: str, server_args: list[str], threads: int
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = home.parent / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
        env.update({"DAP_HOME": str(home), "DAP_USER": "admin"})
        if threads:
            env["DAP_THREADS"] = str(threads)
        if code:
            root = Path(code).resolve()
            env["PYTHONPATH"] = os.pathsep.join(
                [str(root), str(root / "server_extension"), env.get("PYTHONPATH", "")]
            )
        cmd = [sys.executable, "-m", "dap_server.service", f"--port={port}", *server_args]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=home.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the server exited:\n{tail}")
                with suppress(httpx.HTTPError):
                    if client.get(f"{self.url}{API}/health").status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError("the server did not become healthy")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


SERVER_MS: list[float] = []  # what the server reports for the probe (Session.query alone)


async def probe_once(client: httpx.AsyncClient, key: str) -> tuple[float, int]:
    started = time.perf_counter()
    reply = await client.post(
        f"{API}/query",
        json={"sql": "SELECT 42 AS x", "cache": False},
        headers={"Authorization": f"Bearer {key}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    with suppress(ValueError, KeyError, TypeError):
        SERVER_MS.append(float(reply.json()["elapsed_ms"]))
    return elapsed, reply.status_code


async def measure(url: str, keys: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    timeout = httpx.Timeout(args.hog_timeout + 30)
    limits = httpx.Limits(max_connections=args.hogs + 8)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        for _ in range(3):  # warm up: the first query of a server opens the workspace
            await probe_once(client, keys["probe"])
        SERVER_MS.clear()
        idle = [await probe_once(client, keys["probe"]) for _ in range(args.idle)]
        idle_server = list(SERVER_MS)
        SERVER_MS.clear()
        stop = asyncio.Event()
        hog_outcomes: Counter[str] = Counter()
        running_ids: set[str] = set()
        hog_headers = {"Authorization": f"Bearer {keys['hog']}"}

        async def hog_lane() -> None:
            while not stop.is_set():
                query_id = f"hog-{uuid.uuid4().hex[:16]}"
                running_ids.add(query_id)
                body = {
                    "sql": RUNAWAY,
                    "cache": False,
                    "timeout": args.hog_timeout,
                    "query_id": query_id,
                }
                try:
                    reply = await client.post(f"{API}/query", json=body, headers=hog_headers)
                    code = reply.json().get("error", "ok") if reply.content else "empty"
                    hog_outcomes[f"{reply.status_code} {code}"] += 1
                    if reply.status_code == 429:
                        await asyncio.sleep(0.2)
                except httpx.HTTPError as e:
                    hog_outcomes[type(e).__name__] += 1
                finally:
                    running_ids.discard(query_id)

        lanes = [asyncio.ensure_future(hog_lane()) for _ in range(args.hogs)]
        await asyncio.sleep(1.0)  # the runaway queries are on the engine
        loaded: list[tuple[float, int]] = []
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            try:
                loaded.append(await probe_once(client, keys["probe"]))
            except httpx.HTTPError:
                loaded.append((math.inf, 0))
            await asyncio.sleep(0.05)
        stop.set()
        for query_id in list(running_ids):
            with suppress(httpx.HTTPError):
                await client.delete(f"{API}/query/{query_id}", headers=hog_headers)
        await asyncio.wait(lanes, timeout=args.hog_timeout + 30)
        for lane in lanes:
            lane.cancel()

    def summary(samples: list[tuple[float, int]], server_ms: list[float]) -> dict[str, Any]:
        ms = [m for m, status in samples if status == 200]
        return {
            "server_p50_ms": pct(server_ms, 50),
            "server_p99_ms": pct(server_ms, 99),
            "n": len(samples),
            "ok": len(ms),
            "statuses": dict(Counter(str(s) for _, s in samples)),
            "p50_ms": pct(ms, 50),
            "p99_ms": pct(ms, 99),
            "max_ms": max(ms) if ms else math.nan,
        }

    return {
        "idle": summary(idle, idle_server),
        "loaded": summary(loaded, list(SERVER_MS)),
        "hog": dict(hog_outcomes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--hogs", type=int, default=4)
    parser.add_argument("--hog-timeout", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--code", default="", help="Run the server from this checkout.")
    parser.add_argument("--threads", type=int, default=0, help="DAP_THREADS of the server.")
    parser.add_argument("--server-arg", action="append", default=[])
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="dap-fairshare-"))
    server: Server | None = None
    try:
        home = tmp / "home"
        keys = setup(home, args.scale)
        server = Server(home, free_port(), args.code, args.server_arg, args.threads)
        server.wait_ready()
        result = asyncio.run(measure(server.url, keys, args))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result["args"] = vars(args)
    result["cpus"] = os.cpu_count()
    print(
        f"code: {args.code or 'this checkout'}; server args: {args.server_arg or 'defaults'}; "
        f"DuckDB threads: {args.threads or 'default (all cores)'}"
    )
    print(f"{args.hogs} runaway queries of `hog` (timeout {args.hog_timeout:g} s each asked)\n")
    print("| probe `SELECT 42` | n | ok | p50 ms | p99 ms | max ms | server p50 | server p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("idle", "loaded"):
        s = result[name]
        print(
            f"| {name} | {s['n']} | {s['ok']} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} "
            f"| {s['max_ms']:.1f} | {s['server_p50_ms']:.1f} | {s['server_p99_ms']:.1f} |"
        )
    statuses = result["loaded"]["statuses"]
    print(f"\nhog outcomes: {result['hog']}; probe statuses under load: {statuses}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
