"""Server CPU per cached REST query: closed loop, a fixed number of requests in flight.

    .venv/bin/python bench/rest_cpu.py [--requests 5000] [--concurrency 16] [--users 50]
                                       [--scale 0.1] [--workers 1] [--spy FILE] [--pin]

A fresh home from ``load_rest.build_home`` (users, row filter, mask, keys), ``dap serve``
(rate limits off: this measures the query path, not the limiter), the cache warmed with 300
requests, then ``--requests`` ``POST query`` (``cache: true``, the five report queries and the
users in turn) with ``--concurrency`` in flight. Reports requests/s and the server's CPU
(``/proc``, all workers) divided by the requests. ``--spy FILE`` records the server with
``py-spy record --gil -f raw`` meanwhile (needs py-spy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_rest as L


def pin_apart(server: L.Server) -> None:
    """The server's processes (every thread) on the first core, this client on the last: the
    server's CPU is then measured without the client's threads and cross-core wake-ups."""
    cpus = sorted(os.sched_getaffinity(0))
    for proc in [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children()]:
        for thread in proc.threads():
            os.sched_setaffinity(thread.id, {cpus[0]})
    os.sched_setaffinity(0, {cpus[-1]})


async def measure(args: argparse.Namespace) -> None:
    with L.temp_home(False) as home:
        users, _ = L.build_home(home, args.scale, args.users)
        server = L.Server(
            home, L.free_port(), ["--DapExtension.rate_limit_per_min=0"], workers=args.workers
        )
        try:
            server.wait_ready()
            if args.pin:
                pin_apart(server)
            callers = [u for u in users if u.name.startswith("u")]
            names = list(L.REPORT)
            since = L.since_values(1)[0]
            connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
            async with aiohttp.ClientSession(server.url, connector=connector) as session:

                async def one(i: int) -> None:
                    user, name = callers[i % len(callers)], names[i % len(names)]
                    body = {"sql": L.REPORT[name], "params": {"since": since}, "cache": True}
                    headers = {"Authorization": f"Bearer {user.token}"}
                    async with session.post(
                        f"{L.API}/query", data=json.dumps(body), headers=headers
                    ) as reply:
                        text = await reply.read()
                        if reply.status != 200:
                            raise RuntimeError(f"HTTP {reply.status}: {text[:200]!r}")

                for i in range(300):
                    await one(i)
                spy = None
                if args.spy:
                    spy_args = ["-d", "600", "-r", "200", "-f", "raw", "-o", args.spy, "--gil"]
                    spy = subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "-p",
                            str(server.proc.pid),
                            "--subprocesses",
                            *spy_args,
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                cpu0, t0 = server.cpu_seconds(), time.perf_counter()
                todo = iter(range(args.requests))

                async def worker() -> None:
                    for i in todo:
                        await one(i)

                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
                wall, cpu = time.perf_counter() - t0, server.cpu_seconds() - cpu0
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(30)
            print(
                f"{args.requests} cached queries, {args.concurrency} in flight, "
                f"{args.workers} worker(s): {args.requests / wall:.0f} queries/s; server CPU "
                f"{cpu:.2f} s = {cpu / args.requests * 1000:.2f} ms per query"
            )
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--spy", default="", help="py-spy raw profile of the server to FILE")
    parser.add_argument(
        "--pin", action="store_true", help="one worker: the server on core 0, the client on 1"
    )
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
