"""Load test of the REST API: many users open the same governed dashboard report over `dap serve`.

    .venv/bin/python bench/load_rest.py [--users 500] [--duration 60] [--warmup 10] [--scale 1]
                                        [--think 1-2] [--variants 1] [--no-cache]
                                        [--client auto|aiohttp|httpx] [--query-workers 4]
                                        [--api-workers 8] [--per-user-queries 8]
                                        [--server-arg=--Flag=value ...] [--repeats 200]
                                        [--overhead-reps 50] [--profile FILE] [--out FILE]

1. **Setup** (one process, timed): a fresh DAP home in a temporary folder, the demo data at
   ``--scale``, multi-user mode on; ``--users`` users ``u0001 …`` with the attribute ``region``
   (EMEA, APAC, AMER in turn) in group ``analysts``, which holds the built-in ``analyst`` role;
   the row filter ``region = current_user_attr('region')`` on ``main.customers`` and the mask
   ``redact`` on ``tag:pii``; one API key per user, plus one for ``probe`` (an EMEA analyst used
   for the sequential measurements) and one for the admin (reads ``/dap/metrics``).
2. **Server**: ``dap serve --port P -- --DapExtension.query_workers=… …`` as a subprocess on a
   free loopback port (its own session, so Ctrl-C reaches only this script), until
   ``/dap/api/v1/health`` answers 200. Stopped with SIGTERM (SIGKILL after 10 s) at the end,
   also on errors and Ctrl-C. Its stderr (with the JSON access log: one line per request with
   the server-side ms) goes to a file in the temporary folder.
3. **Load**: one asyncio loop, one HTTP client (aiohttp when installed, else httpx) with a
   connection pool of ``users × 5`` connections (each user's dashboard may have all of its
   queries in flight, like a browser's per-host limit of 6). Each user, started at a random
   moment within the first half of the warm-up, repeatedly opens the *standard report*: the five
   queries of ``REPORT`` sent at once (``POST /dap/api/v1/query`` with ``cache: true`` and the
   user's own key, so the user's row filter applies), then thinks ``--think`` seconds
   (uniform random in the range; 0 = none). A failed request is recorded by type (HTTP status
   and DAP error code, or the exception class) and the user goes on. Each answer is checked:
   status ``finished``, at least one row, and the countries of ``customers_by_country`` must all
   lie in the user's region (the row filter works over REST). Samples from reports *started*
   during the warm-up are dropped; throughput counts what *finished* within the measured
   ``--duration``. No new report starts after it; the ones in flight are waited for.
4. **Cached repeat**, on the idle server before the load and again right after it:
   ``--repeats`` sequential runs of one report query as ``probe`` (answered from the result
   cache): client round trip, the ``elapsed_ms`` the server reports (``Session.query`` alone),
   the server's request time from the access log, and the ``query`` route's histogram from
   ``/dap/metrics`` (difference of two scrapes; its buckets are coarse: 5, 10, 25 ms).
5. **REST vs in-process**, on the idle server before the load: ``--overhead-reps`` runs of the
   same small query, interleaved in a random order per rep: ``Session.query(…).to_polars()`` in
   this process (what ``dap.sql`` does; a second ``Workspace`` on the same home, principal
   ``probe``; cache off and on) and the REST round trip (cache off and on). Medians, their
   difference and ratio; the rows are compared once.

Prints markdown tables; writes nothing outside the temporary folder except ``--out`` (JSON).
The load generator runs on the same machine as the server and takes CPU from it: the report
gives both processes' CPU time during the measured window and the client's event-loop lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
API = "/dap/api/v1"
REGIONS = ("EMEA", "APAC", "AMER")
COUNTRIES = {
    "EMEA": {"Germany", "France", "UK"},
    "AMER": {"USA", "Brazil"},
    "APAC": {"Japan", "Australia"},
}
ADMIN = "admin"
PROBE = "probe"  # an EMEA analyst for the sequential measurements (own access-log lines)

# The standard report: what a sales dashboard shows. Every query joins orders to customers, so
# the caller's row filter on customers decides which orders count.
REVENUE = "l.quantity * l.unit_price * (1 - l.discount)"
SINCE = "o.order_ts >= CAST(:since AS TIMESTAMP)"
REPORT: dict[str, str] = {
    "kpis": f"""
        SELECT count(DISTINCT o.order_id) AS orders, count(DISTINCT o.customer_id) AS customers,
               round(sum({REVENUE}), 2) AS revenue
        FROM main.orders o
        JOIN main.customers c ON c.customer_id = o.customer_id
        JOIN main.order_lines l ON l.order_id = o.order_id
        WHERE {SINCE} AND o.status <> 'cancelled'""",
    "revenue_by_month": f"""
        SELECT date_trunc('month', o.order_ts) AS month, round(sum({REVENUE}), 2) AS revenue
        FROM main.orders o
        JOIN main.customers c ON c.customer_id = o.customer_id
        JOIN main.order_lines l ON l.order_id = o.order_id
        WHERE {SINCE} AND o.status <> 'cancelled'
        GROUP BY 1 ORDER BY 1""",
    "orders_by_channel": f"""
        SELECT o.channel, count(*) AS orders
        FROM main.orders o
        JOIN main.customers c ON c.customer_id = o.customer_id
        WHERE {SINCE}
        GROUP BY 1 ORDER BY 2 DESC""",
    "top_products": f"""
        SELECT p.name, p.category, round(sum({REVENUE}), 2) AS revenue
        FROM main.order_lines l
        JOIN main.orders o ON o.order_id = l.order_id
        JOIN main.customers c ON c.customer_id = o.customer_id
        JOIN main.products p ON p.product_id = l.product_id
        WHERE {SINCE} AND o.status <> 'cancelled'
        GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10""",
    "customers_by_country": f"""
        SELECT c.country, count(DISTINCT c.customer_id) AS customers, count(*) AS orders
        FROM main.orders o
        JOIN main.customers c ON c.customer_id = o.customer_id
        WHERE {SINCE}
        GROUP BY 1 ORDER BY 2 DESC""",
}
REPEAT_QUERY = "orders_by_channel"  # measured alone after the load (cached) and in-process


def since_values(variants: int) -> list[str]:
    """``variants`` report start dates, one month apart from 2024-01-01."""
    return [f"{2024 + m // 12}-{m % 12 + 1:02d}-01" for m in range(max(1, variants))]


# -- small helpers ---------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_think(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    low = float(lo)
    high = float(hi) if hi else low
    if low < 0 or high < low:
        raise argparse.ArgumentTypeError("--think takes S or LO-HI seconds, e.g. 1-2 or 0")
    return low, high


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
                break
    versions = {"python": platform.python_version()}
    for name in ("duckdb", "polars", "pyarrow", "sqlglot", "tornado", "jupyter_server", "httpx"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    with suppress(PackageNotFoundError):
        versions["aiohttp"] = version("aiohttp")
    return {
        "date": date.today().isoformat(),
        "commit": git_commit(),
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "loadavg": os.getloadavg(),
    }


# -- 1. the workspace ------------------------------------------------------------------------


@dataclass
class User:
    name: str
    region: str
    token: str


def build_home(home: Path, scale: float, n_users: int) -> tuple[list[User], dict[str, Any]]:
    """Demo data, users, filter, mask and keys; returns the users (with keys) and timings."""
    from dap_kernel import demo
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    timings: dict[str, Any] = {}
    ws = Workspace(Settings(home=home, user=ADMIN))
    try:
        t = time.perf_counter()
        tables = demo.build(ws.catalog, scale=scale, owner=ADMIN)
        timings["demo_s"] = time.perf_counter() - t
        timings["rows"] = {t.qualified_name: t.row_count for t in tables}
        t = time.perf_counter()
        admin = ws.admin(ADMIN)
        admin.set_multi_user(True)
        names = [f"u{i:04d}" for i in range(1, n_users + 1)]
        regions = {name: REGIONS[i % len(REGIONS)] for i, name in enumerate(names)}
        regions[PROBE] = "EMEA"
        for name, region in regions.items():
            admin.add_user(name, {"region": region})
            admin.add_member("group", "analysts", "user", name)
        admin.add_member("role", "analyst", "group", "analysts")
        admin.add_row_filter("main.customers", "region = current_user_attr('region')")
        admin.set_mask("tag:pii", "redact")
        timings["users_s"] = time.perf_counter() - t
        t = time.perf_counter()
        # The probe's sequential repeats would exceed a user's rate: its key has no limit.
        users = [
            User(
                name,
                regions[name],
                ws.apikeys.create(name, "load", rate_limit_per_min=0 if name == PROBE else None)[1],
            )
            for name in regions
        ]
        users.append(
            User(ADMIN, "", ws.apikeys.create(ADMIN, "load-metrics", rate_limit_per_min=0)[1])
        )
        timings["keys_s"] = time.perf_counter() - t
    finally:
        ws.close()
    return users, timings


# -- 2. the server ---------------------------------------------------------------------------


class Server:
    """``dap serve`` in a subprocess of its own session; stderr (access log) to a file."""

    def __init__(
        self, home: Path, port: int, server_args: list[str], profile: str = "", workers: int = 1
    ) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = home.parent / "server.log"
        env = {**os.environ, "DAP_HOME": str(home), "DAP_USER": ADMIN}
        dap = Path(sys.executable).parent / "dap"
        if profile:  # the service module directly, under cProfile (written on SIGTERM's exit)
            cmd = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "dap_server.service"]
            cmd += [f"--port={port}", *server_args]
        elif dap.exists():
            cmd = [str(dap), "serve", f"--port={port}", f"--workers={workers}", "--", *server_args]
        else:
            module = ["dap_server.workers", f"--workers={workers}"] if workers > 1 else []
            cmd = [sys.executable, "-m", *(module or ["dap_server.service"]), f"--port={port}"]
            cmd += server_args
        self.cmd = cmd
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=home.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to this script, which stops the server
        )

    def wait_ready(self, timeout: float = 120.0) -> float:
        started = time.perf_counter()
        deadline = started + timeout
        with httpx.Client(timeout=5) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"dap serve exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                with suppress(httpx.HTTPError):
                    if client.get(f"{self.url}{API}/health").status_code == 200:
                        return time.perf_counter() - started
                time.sleep(0.1)
        raise RuntimeError(f"dap serve not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def log_size(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def access_log(self, start: int, end: int | None = None) -> list[dict[str, Any]]:
        """The JSON access-log records written between two byte offsets of the log."""
        with self.log_path.open("rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(end - start)
        records = []
        for line in data.splitlines():
            if line.startswith(b'{"event": "request"'):
                with suppress(json.JSONDecodeError):
                    records.append(json.loads(line))
        return records

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process and its workers (from /proc)."""
        pids = [self.proc.pid]
        with suppress(OSError):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                return math.nan
        return total

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


# -- 3. the HTTP client ----------------------------------------------------------------------


class Client:
    """One connection pool for all simulated users; aiohttp or httpx behind one method."""

    def __init__(self, kind: str, base: str, connections: int, timeout: float) -> None:
        self.kind = kind
        self.base = base
        self._aio: Any = None
        self._httpx: httpx.AsyncClient | None = None
        if kind == "aiohttp":
            import aiohttp

            self._aio = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=connections, limit_per_host=connections, keepalive_timeout=120
                ),
                timeout=aiohttp.ClientTimeout(total=timeout),
            )
        else:
            self._httpx = httpx.AsyncClient(
                base_url=base,
                limits=httpx.Limits(
                    max_connections=connections,
                    max_keepalive_connections=connections,
                    keepalive_expiry=120,
                ),
                timeout=httpx.Timeout(timeout),
            )

    async def request(
        self, method: str, path: str, token: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._aio is not None:
            async with self._aio.request(
                method, self.base + path, data=body, headers=headers
            ) as resp:
                return int(resp.status), bytes(await resp.read())
        assert self._httpx is not None
        r = await self._httpx.request(method, path, content=body, headers=headers)
        return r.status_code, r.content

    async def close(self) -> None:
        if self._aio is not None:
            await self._aio.close()
        if self._httpx is not None:
            await self._httpx.aclose()


def choose_client(kind: str) -> str:
    if kind != "auto":
        return kind
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return "httpx"
    return "aiohttp"


@dataclass
class QuerySample:
    name: str
    start: float
    end: float
    error: str | None = None
    cached: bool = False
    server_ms: float = math.nan

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class Load:
    client: Client
    users: list[User]
    t_warm: float
    t_end: float
    think: tuple[float, float]
    cache: bool
    since: list[str]
    batch: bool = False
    queries: list[QuerySample] = field(default_factory=list)
    reports: list[tuple[float, float, bool]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)


def check_rows(name: str, region: str, page: dict[str, Any]) -> str | None:
    if page.get("status") != "finished":
        return f"status {page.get('status')}"
    rows = page.get("rows") or []
    if not rows:
        return "no rows"
    if name == "customers_by_country" and region:
        outside = {r[0] for r in rows} - COUNTRIES[region]
        if outside:
            return "row filter not applied"
    return None


async def run_query(client: Client, user: User, name: str, since: str, cache: bool) -> QuerySample:
    body = json.dumps({"sql": REPORT[name], "params": {"since": since}, "cache": cache}).encode()
    start = time.perf_counter()
    try:
        status, content = await client.request("POST", f"{API}/query", user.token, body)
    except Exception as e:  # every failure is a sample, and the user goes on
        return QuerySample(name, start, time.perf_counter(), error=type(e).__name__)
    end = time.perf_counter()
    try:
        page = json.loads(content)
    except ValueError:
        return QuerySample(name, start, end, error=f"HTTP {status} (not JSON)")
    if status != 200:
        code = page.get("error", "?") if isinstance(page, dict) else "?"
        return QuerySample(name, start, end, error=f"HTTP {status} {code}")
    problem = check_rows(name, user.region, page)
    return QuerySample(
        name,
        start,
        end,
        error=problem,
        cached=bool(page.get("cached")),
        server_ms=float(page.get("elapsed_ms") or math.nan),
    )


async def run_batch(client: Client, user: User, since: str, cache: bool) -> list[QuerySample]:
    """The whole report in one `query/batch` request: one sample per query, sharing its time."""
    queries = [{"sql": REPORT[name], "params": {"since": since}, "cache": cache} for name in REPORT]
    body = json.dumps({"queries": queries}).encode()
    start = time.perf_counter()
    try:
        status, content = await client.request("POST", f"{API}/query/batch", user.token, body)
    except Exception as e:  # every failure is a sample, and the user goes on
        end = time.perf_counter()
        return [QuerySample(name, start, end, error=type(e).__name__) for name in REPORT]
    end = time.perf_counter()
    try:
        pages = json.loads(content)["results"] if status == 200 else None
    except (ValueError, KeyError):
        pages = None
    if pages is None:
        return [QuerySample(name, start, end, error=f"HTTP {status}") for name in REPORT]
    return [
        QuerySample(
            name,
            start,
            end,
            error=check_rows(name, user.region, page),
            cached=bool(page.get("cached")),
            server_ms=float(page.get("elapsed_ms") or math.nan),
        )
        for name, page in zip(REPORT, pages, strict=True)
    ]


async def user_loop(load: Load, user: User, first_at: float, seed: int) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(max(0.0, first_at - time.perf_counter()))
    while time.perf_counter() < load.t_end:
        since = rng.choice(load.since)
        start = time.perf_counter()
        if load.batch:
            samples = await run_batch(load.client, user, since, load.cache)
        else:
            samples = list(
                await asyncio.gather(
                    *(run_query(load.client, user, name, since, load.cache) for name in REPORT)
                )
            )
        end = time.perf_counter()
        load.queries.extend(samples)
        load.reports.append((start, end, all(s.error is None for s in samples)))
        pause = rng.uniform(*load.think)
        if pause > 0:
            await asyncio.sleep(pause)


async def lag_monitor(load: Load, interval: float = 0.05) -> None:
    """How late the client's event loop wakes up: > a few ms means the client is saturated."""
    while time.perf_counter() < load.t_end:
        t = time.perf_counter()
        await asyncio.sleep(interval)
        if t >= load.t_warm:
            load.lags.append((time.perf_counter() - t - interval) * 1000)


# -- /dap/metrics ------------------------------------------------------------------------------


def histogram(text: str, name: str, labels: dict[str, str]) -> dict[float, float]:
    """Cumulative bucket counts {le: count} of one labelled histogram in a Prometheus scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for s in family.samples:
            if s.name.endswith("_bucket") and all(s.labels.get(k) == v for k, v in labels.items()):
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
    return buckets


def counter(text: str, name: str, labels: dict[str, str]) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for s in family.samples:
            if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """histogram_quantile() of the difference of two scrapes, in ms (linear within a bucket)."""
    diff = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    if not diff or diff[-1][1] <= 0:
        return math.nan
    total = diff[-1][1]
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in diff:
        if count >= rank:
            if math.isinf(le):
                return lower_le * 1000
            span = count - lower_count
            frac = (rank - lower_count) / span if span else 1.0
            return (lower_le + (le - lower_le) * frac) * 1000
        lower_le, lower_count = le, count
    return math.nan


def share_at_most(before: dict[float, float], after: dict[float, float], le: float) -> float:
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    below = after.get(le, 0.0) - before.get(le, 0.0)
    return below / total if total else math.nan


async def scrape(client: Client, admin_token: str) -> str:
    status, content = await client.request("GET", "/dap/metrics", admin_token)
    if status != 200:
        raise RuntimeError(f"/dap/metrics answered {status}: {content[:200]!r}")
    return content.decode()


QUERY_LATENCY = ("dap_http_request_duration_seconds", {"route": "query", "method": "POST"})


# -- the run ---------------------------------------------------------------------------------


@contextmanager
def temp_home(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="dap-load-"))
    try:
        yield root / "home"
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C: the server is stopped in `finally`


async def load_phase(
    args: argparse.Namespace, server: Server, users: list[User], probe: User, admin: User, kind: str
) -> dict[str, Any]:
    connections = args.connections or len(users) * len(REPORT)
    client = Client(kind, server.url, connections, args.timeout)
    try:
        idle = await repeat_phase(args, client, server, probe, admin)
        overhead = await overhead_phase(args, client, server, probe)
        metrics_0 = await scrape(client, admin.token)
        now = time.perf_counter()
        load = Load(
            client=client,
            users=users,
            t_warm=now + args.warmup,
            t_end=now + args.warmup + args.duration,
            think=args.think,
            cache=not args.no_cache,
            since=since_values(args.variants),
            batch=args.batch,
        )
        ramp = args.warmup / 2
        tasks = [
            asyncio.create_task(user_loop(load, u, now + random.uniform(0, ramp), i))
            for i, u in enumerate(users)
        ]
        lag_task = asyncio.create_task(lag_monitor(load))
        await asyncio.sleep(max(0.0, load.t_warm - time.perf_counter()))
        metrics_1 = await scrape(client, admin.token)
        log_1 = server.log_size()
        cpu_client_1, cpu_server_1 = time.process_time(), server.cpu_seconds()
        await asyncio.sleep(max(0.0, load.t_end - time.perf_counter()))
        log_2 = server.log_size()
        cpu_client_2, cpu_server_2 = time.process_time(), server.cpu_seconds()
        metrics_2 = await scrape(client, admin.token)
        print(f"  measured window over; waiting for the reports in flight ({len(tasks)} users)")
        t_drain = time.perf_counter()
        await asyncio.wait(tasks, timeout=args.timeout + 10)
        drain_s = time.perf_counter() - t_drain
        for task in tasks:
            task.cancel()
        await lag_task
        loadavg = os.getloadavg()
        results = summarize_load(
            load, server.access_log(log_1, log_2), (metrics_0, metrics_1, metrics_2)
        )
        results.update(
            connections=connections,
            drain_s=drain_s,
            loadavg_end=loadavg,
            cpu={
                "client_s": cpu_client_2 - cpu_client_1,
                "server_s": cpu_server_2 - cpu_server_1,
                "window_s": args.duration,
            },
        )
        results["repeat_idle"] = idle
        results["repeat"] = await repeat_phase(args, client, server, probe, admin)
        results["overhead"] = overhead
        return results
    finally:
        await client.close()


def summarize_load(
    load: Load, access: list[dict[str, Any]], scrapes: tuple[str, str, str]
) -> dict[str, Any]:
    window = load.t_end - load.t_warm
    # Throughput: what finished within the window. Latency: what started within it.
    done_q = sum(1 for s in load.queries if load.t_warm <= s.end <= load.t_end)
    done_r = sum(1 for r in load.reports if load.t_warm <= r[1] <= load.t_end)
    queries = [s for s in load.queries if s.start >= load.t_warm]
    reports = [r for r in load.reports if r[0] >= load.t_warm]
    per_query: dict[str, Any] = {}
    for name in [*REPORT, "all"]:
        samples = [s for s in queries if name in ("all", s.name)]
        ok = [s.ms for s in samples if s.error is None]
        per_query[name] = {
            "n": len(samples),
            "errors": sum(1 for s in samples if s.error),
            "cached": sum(1 for s in samples if s.cached),
            "p50": pct(ok, 50),
            "p95": pct(ok, 95),
            "p99": pct(ok, 99),
            "max": max(ok, default=math.nan),
            "server_elapsed_p95": pct([s.server_ms for s in samples if s.error is None], 95),
        }
    report_ms = [(end - start) * 1000 for start, end, _ in reports]
    errors = Counter(s.error for s in queries if s.error)
    server_ms = [r["ms"] for r in access if r.get("route") == "query"]
    server_other = Counter(r.get("route") for r in access if r.get("route") != "query")
    _, warm, end = scrapes
    hist_warm, hist_end = (histogram(t, *QUERY_LATENCY) for t in (warm, end))
    hits = counter(end, "dap_result_cache_lookups", {"result": "hit"}) - counter(
        warm, "dap_result_cache_lookups", {"result": "hit"}
    )
    misses = counter(end, "dap_result_cache_lookups", {"result": "miss"}) - counter(
        warm, "dap_result_cache_lookups", {"result": "miss"}
    )
    return {
        "users": len(load.users),
        "window_s": window,
        "reports": len(reports),
        "reports_failed": sum(1 for r in reports if not r[2]),
        "warmup_errors": dict(Counter(s.error for s in load.queries if s.error) - errors),
        "reports_per_s": done_r / window,
        "queries_per_s": done_q / window,
        "report_ms": {
            "p50": pct(report_ms, 50),
            "p95": pct(report_ms, 95),
            "p99": pct(report_ms, 99),
            "max": max(report_ms, default=math.nan),
        },
        "per_query": per_query,
        "errors": dict(errors),
        "cache_hit_ratio": (
            per_query["all"]["cached"] / per_query["all"]["n"] if per_query["all"]["n"] else 0
        ),
        "server_cache": {"hits": hits, "misses": misses},
        "server_access_log": {
            "n": len(server_ms),
            "p50": pct(server_ms, 50),
            "p95": pct(server_ms, 95),
            "p99": pct(server_ms, 99),
            "other_routes": dict(server_other),
        },
        "server_histogram_p95": bucket_quantile(hist_warm, hist_end, 0.95),
        "server_histogram_count": hist_end.get(math.inf, 0.0) - hist_warm.get(math.inf, 0.0),
        "client_loop_lag_ms": {
            "p50": pct(load.lags, 50),
            "p95": pct(load.lags, 95),
            "max": max(load.lags, default=math.nan),
        },
    }


async def repeat_phase(
    args: argparse.Namespace, client: Client, server: Server, probe: User, admin: User
) -> dict[str, Any]:
    """Sequential runs of one cached query as ``probe``."""
    since = since_values(args.variants)[0]
    first = await run_query(client, probe, REPEAT_QUERY, since, True)  # fills the cache if needed
    if first.error:
        raise RuntimeError(f"cached-repeat probe failed: {first.error}")
    metrics_0 = await scrape(client, admin.token)
    await asyncio.sleep(0.2)  # access-log lines are written just after their response
    offset = server.log_size()
    samples = [
        await run_query(client, probe, REPEAT_QUERY, since, True) for _ in range(args.repeats)
    ]
    await asyncio.sleep(0.2)  # the access-log line is written after the response
    access = [
        r["ms"]
        for r in server.access_log(offset)
        if r.get("route") == "query" and r.get("user") == PROBE
    ]
    metrics_1 = await scrape(client, admin.token)
    h0, h1 = histogram(metrics_0, *QUERY_LATENCY), histogram(metrics_1, *QUERY_LATENCY)
    ok = [s for s in samples if s.error is None]
    return {
        "n": len(samples),
        "errors": len(samples) - len(ok),
        "cached": sum(1 for s in ok if s.cached),
        "client_ms": {"p50": pct([s.ms for s in ok], 50), "p95": pct([s.ms for s in ok], 95)},
        "elapsed_ms": {
            "p50": pct([s.server_ms for s in ok], 50),
            "p95": pct([s.server_ms for s in ok], 95),
        },
        "access_log_ms": {"n": len(access), "p50": pct(access, 50), "p95": pct(access, 95)},
        "histogram_p95_ms": bucket_quantile(h0, h1, 0.95),
        "histogram_share_le_10ms": share_at_most(h0, h1, 0.01),
    }


async def overhead_phase(
    args: argparse.Namespace, client: Client, server: Server, probe: User
) -> dict[str, Any]:
    """The same query in this process and over REST, cache off and on, interleaved."""
    from dap_kernel.governance.identity import Principal
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings

    since = since_values(args.variants)[0]
    sql, params = REPORT[REPEAT_QUERY], {"since": since}
    ws = Workspace(Settings(home=server.home, user=ADMIN))
    try:
        session = ws.session(Principal(name=PROBE))

        def inproc(cache: bool) -> Callable[[], Awaitable[float]]:
            async def run() -> float:
                t = time.perf_counter()
                session.query(sql, params, cache=cache).to_polars()
                return (time.perf_counter() - t) * 1000

            return run

        def rest(cache: bool) -> Callable[[], Awaitable[float]]:
            async def run() -> float:
                sample = await run_query(client, probe, REPEAT_QUERY, since, cache)
                if sample.error:
                    raise RuntimeError(f"REST {REPEAT_QUERY} failed: {sample.error}")
                rest_order.append(cache)
                return sample.ms

            return run

        rest_order: list[bool] = []
        variants = {
            "in-process, cache off": inproc(False),
            "in-process, cache on": inproc(True),
            "REST, cache off": rest(False),
            "REST, cache on": rest(True),
        }
        # Same answer both ways (the row filter applies in-process as over REST).
        local = session.query(sql, params).to_polars().rows()
        status, content = await client.request(
            "POST",
            f"{API}/query",
            probe.token,
            json.dumps({"sql": sql, "params": params, "cache": False}).encode(),
        )
        remote = [tuple(r) for r in json.loads(content)["rows"]] if status == 200 else None
        for run in variants.values():  # warm-up (and fills both caches)
            await run()
        rest_order.clear()
        await asyncio.sleep(0.2)  # access-log lines are written just after their response
        offset = server.log_size()
        times: dict[str, list[float]] = {name: [] for name in variants}
        rng = random.Random(7)
        for _ in range(args.overhead_reps):
            names = list(variants)
            rng.shuffle(names)
            for name in names:
                times[name].append(await variants[name]())
        await asyncio.sleep(0.2)
        access = [
            r["ms"]
            for r in server.access_log(offset)
            if r.get("route") == "query" and r.get("user") == PROBE
        ]
        server_ms: dict[str, float] = {}
        if len(access) == len(rest_order):  # sequential requests: the log is in send order
            pairs = list(zip(access, rest_order, strict=True))
            server_ms = {
                "REST, cache off": median([ms for ms, cache in pairs if not cache]),
                "REST, cache on": median([ms for ms, cache in pairs if cache]),
            }
        return {
            "reps": args.overhead_reps,
            "same_rows": remote == local,
            "median_ms": {name: median(v) for name, v in times.items()},
            "p95_ms": {name: pct(v, 95) for name, v in times.items()},
            "server_ms": server_ms,
        }
    finally:
        ws.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    kind = choose_client(args.client)
    print(f"DAP REST load bench, {info['date']}, commit {info['commit']}")
    print(f"machine: {info['cpu']}, {info['memory']}, {info['os']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    load1, load5, load15 = info["loadavg"]
    print(f"load average at start: {load1:.2f} {load5:.2f} {load15:.2f}")
    print(
        "note: the load generator runs on the same machine as the server and shares its "
        f"{os.cpu_count()} cores"
    )
    server_args = [
        f"--DapExtension.query_workers={args.query_workers}",
        f"--DapExtension.api_workers={args.api_workers}",
        f"--DapExtension.per_user_queries={args.per_user_queries}",
        *args.server_arg,
    ]
    result: dict[str, Any] = {"machine": info, "args": vars(args) | {"client": kind}}
    with temp_home(args.keep) as home:
        t = time.perf_counter()
        all_users, timings = build_home(home, args.scale, args.users)
        timings["total_s"] = time.perf_counter() - t
        result["setup"] = timings
        rows = sum(v or 0 for v in timings["rows"].values())
        print(
            f"setup: demo scale {args.scale} ({rows:,} rows) {timings['demo_s']:.1f} s, "
            f"{len(all_users) - 1} users + filter + mask {timings['users_s']:.1f} s, "
            f"{len(all_users)} API keys {timings['keys_s']:.2f} s"
        )
        profile = str(Path(args.profile).resolve()) if args.profile else ""
        result["runs"] = {}
        for workers in args.workers:
            print(f"\n## {workers} worker{'s' if workers > 1 else ''}")
            result["runs"][workers] = run_once(
                args, home, server_args, profile, workers, all_users, kind
            )
        result["load"] = result["runs"][args.workers[-1]]
    return result


def run_once(
    args: argparse.Namespace,
    home: Path,
    server_args: list[str],
    profile: str,
    workers: int,
    all_users: list[User],
    kind: str,
) -> dict[str, Any]:
    """One server (``workers`` processes) under the load; the load phase's results."""
    users = [u for u in all_users if u.name not in (ADMIN, PROBE)]
    admin = next(u for u in all_users if u.name == ADMIN)
    server = Server(home, free_port(), server_args, profile, workers)
    result: dict[str, Any] = {}
    try:
        ready_s = server.wait_ready()
        print(f"server: {' '.join(server.cmd[1:])} (healthy after {ready_s:.1f} s)")
        think = "none" if args.think == (0, 0) else f"{args.think[0]:g}–{args.think[1]:g} s"
        print(
            f"load: {len(users)} users × report of {len(REPORT)} queries, client {kind}, "
            f"warm-up {args.warmup:g} s + measured {args.duration:g} s, think {think}, "
            f"cache {'off' if args.no_cache else 'on'}, {args.variants} date variant(s), "
            f"{'one query/batch request' if args.batch else '5 parallel query requests'}"
            " per report"
        )
        probe = next(u for u in all_users if u.name == PROBE)
        result = asyncio.run(load_phase(args, server, users, probe, admin, kind))
    finally:
        result["server_exit"] = server.stop()
        result["workers"] = workers
        if args.profile:
            print(f"server profile written to {profile}")
    print_load({"load": result}, args)
    return result


# -- the report ------------------------------------------------------------------------------


def print_report(result: dict[str, Any], args: argparse.Namespace) -> None:
    """The workers side by side (each run's own tables were printed after it)."""
    runs: dict[int, dict[str, Any]] = result["runs"]
    print()
    print(f"### Workers side by side ({'query/batch' if args.batch else '5 separate requests'})")
    print()
    print(
        "| workers | queries/s | + per added worker | query p50 ms | p95 | p99 | report p95 | "
        "errors | server CPU s | CPU ms/query |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    first = min(runs)
    for workers, load in sorted(runs.items()):
        q = load["per_query"]["all"]
        qps = load["queries_per_s"]
        added = (
            (qps - runs[first]["queries_per_s"]) / (workers - first)
            if workers > first
            else math.nan
        )
        cpu = load["cpu"]["server_s"]
        done = qps * load["window_s"]
        print(
            f"| {workers} | {qps:.0f} | {fmt(added, 0) if workers > first else '—'} | "
            f"{fmt(q['p50'])} | {fmt(q['p95'])} | {fmt(q['p99'])} | "
            f"{fmt(load['report_ms']['p95'])} | {q['errors']} | {cpu:.1f} | "
            f"{fmt(cpu / done * 1000 if done else math.nan, 2)} |"
        )
    print()
    print(
        "Server metrics (/dap/metrics) and the cached-repeat histogram sum every worker "
        "(one PROMETHEUS_MULTIPROC_DIR per service); client-side figures cover them all."
    )


def print_load(result: dict[str, Any], args: argparse.Namespace) -> None:
    load = result["load"]
    cpu = load["cpu"]
    print()
    print(
        f"### Load: {load['users']} users, {load['window_s']:.0f} s measured "
        f"(after {args.warmup:g} s warm-up)"
    )
    print()
    print(
        f"throughput: **{load['reports_per_s']:.1f} reports/s, {load['queries_per_s']:.1f} "
        f"queries/s**; {load['reports']} reports ({load['reports_failed']} with an error), "
        f"cache hit ratio {load['cache_hit_ratio']:.1%} (server counted "
        f"{load['server_cache']['hits']:.0f} hits, {load['server_cache']['misses']:.0f} misses)"
    )
    print()
    print("| client-side latency, ms | n | errors | cached | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    r = load["report_ms"]
    print(
        f"| **report** (5 queries at once) | {load['reports']} | {load['reports_failed']} | | "
        f"{fmt(r['p50'])} | {fmt(r['p95'])} | {fmt(r['p99'])} | {fmt(r['max'])} |"
    )
    for name, q in load["per_query"].items():
        label = "**all queries**" if name == "all" else f"`{name}`"
        print(
            f"| {label} | {q['n']} | {q['errors']} | {q['cached']} | {fmt(q['p50'])} | "
            f"{fmt(q['p95'])} | {fmt(q['p99'])} | {fmt(q['max'])} |"
        )
    s = load["server_access_log"]
    print(
        f"| server: `POST query` request time (access log) | {s['n']} | | | {fmt(s['p50'])} | "
        f"{fmt(s['p95'])} | {fmt(s['p99'])} | |"
    )
    print()
    errors = ", ".join(f"{k}: {v}" for k, v in load["errors"].items()) or "none"
    print(f"errors by type: {errors} (during the warm-up: {load['warmup_errors'] or 'none'})")
    print(
        f"server histogram p95 (query route, measured window): "
        f"{fmt(load['server_histogram_p95'])} ms"
    )
    lag = load["client_loop_lag_ms"]
    print(
        f"CPU during the window ({cpu['window_s']:g} s, {os.cpu_count()} cores): server "
        f"{cpu['server_s']:.1f} s ({cpu['server_s'] / cpu['window_s']:.0%} of a core), load "
        f"generator {cpu['client_s']:.1f} s ({cpu['client_s'] / cpu['window_s']:.0%}); client "
        f"event-loop lag p50 {fmt(lag['p50'])} / p95 {fmt(lag['p95'])} / max {fmt(lag['max'])} ms"
    )
    la = load["loadavg_end"]
    print(
        f"load average at the end: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; "
        f"in-flight reports drained in {load['drain_s']:.1f} s"
    )

    phases = {"idle server (before the load)": load["repeat_idle"]}
    phases["after the load"] = load["repeat"]
    rep = load["repeat"]
    print()
    print(f"### Cached repeat: `{REPEAT_QUERY}` as one user, {rep['n']} sequential requests")
    print()
    print("| measure, ms | " + " | ".join(f"{p} p50 | p95" for p in phases) + " |")
    print("|---|" + "---:|---:|" * len(phases))
    rows = {
        "client round trip": "client_ms",
        "server request time (access log)": "access_log_ms",
        "server `elapsed_ms` (`Session.query`: cache lookup)": "elapsed_ms",
    }
    for label, key in rows.items():
        cells = [f"{fmt(x[key]['p50'], 2)} | {fmt(x[key]['p95'], 2)}" for x in phases.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"| {fmt(x['histogram_p95_ms'], 2)}" for x in phases.values()]
    print("| server histogram (bucketed) | " + " | ".join(cells) + " |")
    print()
    for label, x in phases.items():
        print(
            f"{label}: {x['cached']}/{x['n']} answered from the cache, {x['errors']} errors; "
            f"{x['histogram_share_le_10ms']:.1%} of the requests ≤ 10 ms by the histogram"
        )

    ov = load["overhead"]
    m = ov["median_ms"]
    print()
    print(
        f"### REST vs in-process, `{REPEAT_QUERY}` as one user, {ov['reps']} reps interleaved, "
        f"idle server before the load (same rows both ways: {ov['same_rows']})"
    )
    print()
    print("| variant | median ms | p95 ms | server request ms (median) |")
    print("|---|---:|---:|---:|")
    for name, value in m.items():
        server_ms = ov["server_ms"].get(name, math.nan)
        print(f"| {name} | {fmt(value, 2)} | {fmt(ov['p95_ms'][name], 2)} | {fmt(server_ms, 2)} |")
    for cache in ("off", "on"):
        local, remote = m[f"in-process, cache {cache}"], m[f"REST, cache {cache}"]
        print(
            f"\ncache {cache}: REST − in-process {remote - local:+.2f} ms, "
            f"ratio ×{remote / local:.2f}",
            end="",
        )
    print("\n")

    targets = [
        ("report p95 ≤ 2 s", load["report_ms"]["p95"] <= 2000, f"{fmt(r['p95'])} ms"),
        (
            "query p95 ≤ 2 s",
            load["per_query"]["all"]["p95"] <= 2000,
            f"{fmt(load['per_query']['all']['p95'])} ms",
        ),
        ("zero errors", not load["errors"], errors),
        (
            "cached repeat p95 ≤ 10 ms at the server",
            max(x["access_log_ms"]["p95"] for x in phases.values()) <= 10,
            ", ".join(
                f"{label}: {fmt(x['access_log_ms']['p95'], 2)} ms" for label, x in phases.items()
            )
            + " (access log)",
        ),
    ]
    print("| target | result |")
    print("|---|---|")
    for name, met, value in targets:
        print(f"| {name} | **{'met' if met else 'NOT MET'}**: {value} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=500, help="simulated users (default 500)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds (60)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before measuring (10)")
    parser.add_argument("--scale", type=float, default=1, help="demo data scale (1 ≈ 1M rows)")
    parser.add_argument(
        "--think", type=parse_think, default=(1.0, 2.0), help="pause between reports: S or LO-HI"
    )
    parser.add_argument(
        "--variants", type=int, default=1, help="report start dates to pick from (default 1)"
    )
    parser.add_argument("--no-cache", action="store_true", help="send cache: false")
    parser.add_argument(
        "--batch",
        action="store_true",
        help="open each report with one POST query/batch instead of 5 parallel POST query",
    )
    parser.add_argument("--client", choices=("auto", "aiohttp", "httpx"), default="auto")
    parser.add_argument("--connections", type=int, default=0, help="pool size (users × 5)")
    parser.add_argument("--timeout", type=float, default=60, help="per-request timeout (s)")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="service processes (dap serve --workers), one run each: e.g. 1,2,4 (default 1)",
    )
    parser.add_argument("--query-workers", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=8)
    parser.add_argument("--per-user-queries", type=int, default=8)
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra server flag (repeatable)"
    )
    parser.add_argument("--repeats", type=int, default=200, help="sequential cached repeats")
    parser.add_argument("--overhead-reps", type=int, default=50, help="REST vs in-process reps")
    parser.add_argument("--profile", default="", help="run the server under cProfile, to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.users < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--users ≥ 1, --duration > 0 and --warmup ≥ 0")
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    try:
        result = run(args)
    except KeyboardInterrupt:
        print("interrupted: the server was stopped and the temporary folder removed")
        return 130
    print_report(result, args)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
        print(f"results written to {args.out}")
    return 0 if not any(r["errors"] for r in result["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
