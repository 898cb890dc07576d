"""JupyterHub load: logins, the hub API, user servers, and REST through the hub's proxy.

    .venv/bin/python bench/hub_load.py [--users 500] [--logins 100] [--login-concurrency 4]
                                       [--api-reps 200] [--api-concurrency 20] [--api-seconds 10]
                                       [--rest-users 100] [--duration 30] [--warmup 10]
                                       [--think 1-2] [--rest-order proxy,key,hub] [--batch]
                                       [--scale 1]
                                       [--servers-max 100] [--servers-time 480] [--min-free-gib 4]
                                       [--json PATH]

Needs root (the deployment runs the DAP service as the system user ``dap-svc``). On loopback,
in a temporary folder, with ``bench/hub_stack.py``: ``oidc-provider-mock``, JupyterHub with
configurable-http-proxy and ``hub_config/jupyterhub_config.py`` (``generic-oauth``, the simple
spawner as root), the DAP service over a demo home of ``--users`` analysts (built by
``load_rest.build_home``: region EMEA/APAC/AMER, one DAP API key each).

1. **Logins**, over plain HTTP following the real OpenID flow (no browser): ``/hub/oauth_login``
   → the provider's login form → its POST (``sub`` = the user) → ``/hub/oauth_callback`` (the
   hub trades the code for tokens, reads userinfo, and posts the login with its claims to DAP,
   which records the ``region`` attribute) → ``/hub/home``. Every user logs in once (that is how
   they become hub users; ``--login-concurrency`` at a time), then ``--logins`` users picked at
   random log in again one after the other, with all ``--users`` registered. Each hop is timed.
2. **Hub tokens**: one per user, minted by a hub service (``POST /hub/api/users/{name}/tokens``),
   scopes ``access:services!service=dap`` and ``access:servers!user=…``.
3. **Hub API latency**, ``--api-reps`` sequential requests per endpoint, endpoints shuffled in
   each rep; then ``--api-concurrency`` clients on ``GET /hub/api/user`` for ``--api-seconds``.
4. **REST**: ``load_rest``'s closed loop (``--rest-users`` users opening the five-query report,
   ``--think`` between reports, ``--warmup`` + ``--duration``) three times back to back: through
   the proxy (``{hub}/services/dap/dap/api/v1/…``) with hub tokens, straight to the service's
   port with DAP API keys, and straight to it with hub tokens (which separates the proxy's hop
   from the hub-token check). Server CPU per process and the service's access log per window.
5. **Servers**: one user's server after another (``POST /hub/api/users/{name}/server``) until
   ``--servers-max``, ``--servers-time`` seconds, free memory under ``--min-free-gib``, or a
   failed spawn; spawn time (POST → ready) and first answer through the proxy; memory per
   server (RSS, PSS, USS, and the fall of MemAvailable); idle CPU; the hub API again with the
   servers running; then every server is stopped through the API and the stop timed.

Stops everything it started at the end, also on errors and Ctrl-C; writes nothing outside its
temporary folder except ``--json``. The load generator shares the machine with everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_report import print_report
from hub_stack import Stack, hub_stack
from load_rest import (
    REPORT,
    Client,
    Load,
    User,
    build_home,
    choose_client,
    lag_monitor,
    machine,
    parse_think,
    pct,
    scrape,
    since_values,
    summarize_load,
    user_loop,
)

SERVICE_SCOPES = ["access:services!service=dap"]
DAP_ENV = {"DAP_ATTRIBUTE_CLAIMS": '{"region": "region"}'}  # logins carry the region to DAP
STOPS_AT_ONCE = 8
LOGIN_STEPS = ("hub redirect", "provider form", "provider authorize", "hub callback", "hub home")


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": max(values, default=float("nan")),
    }


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


# -- 1. logins ------------------------------------------------------------------------------


class LoginFailed(Exception):
    pass


def _expect(reply: httpx.Response, status: int, where: str, step: str) -> str:
    location = str(reply.headers.get("location", ""))
    if reply.status_code != status or (where and not location.startswith(where)):
        raise LoginFailed(f"{step}: HTTP {reply.status_code} → {location[:80]}")
    return location


async def login(stack: Stack, name: str) -> tuple[dict[str, float], str | None]:
    """One full OpenID login over HTTP, a fresh cookie jar; ms per hop (LOGIN_STEPS)."""
    marks = [time.perf_counter()]
    hub = stack.url
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            reply = await http.get(f"{hub}/hub/oauth_login", params={"next": "/hub/home"})
            form_url = _expect(reply, 302, stack.provider, LOGIN_STEPS[0])
            marks.append(time.perf_counter())
            reply = await http.get(form_url)
            if reply.status_code != 200 or 'name="sub"' not in reply.text:
                raise LoginFailed(f"{LOGIN_STEPS[1]}: HTTP {reply.status_code}")
            marks.append(time.perf_counter())
            reply = await http.post(str(reply.url), data={"sub": name})
            callback = _expect(reply, 302, f"{hub}/hub/oauth_callback", LOGIN_STEPS[2])
            marks.append(time.perf_counter())
            reply = await http.get(callback)
            home = _expect(reply, 302, "/hub/home", LOGIN_STEPS[3])
            marks.append(time.perf_counter())
            reply = await http.get(f"{hub}{home}")
            if reply.status_code != 200 or name not in reply.text:
                raise LoginFailed(f"{LOGIN_STEPS[4]}: HTTP {reply.status_code}")
            marks.append(time.perf_counter())
    except (httpx.HTTPError, LoginFailed) as e:
        return {}, f"{type(e).__name__}: {e}"
    steps = {s: (b - a) * 1000 for s, a, b in zip(LOGIN_STEPS, marks, marks[1:], strict=False)}
    return steps | {"total": (marks[-1] - marks[0]) * 1000}, None


def summarize_logins(samples: list[tuple[dict[str, float], str | None]]) -> dict[str, Any]:
    ok = [steps for steps, error in samples if error is None]
    return {
        "n": len(samples),
        "errors": dict(Counter(error.split(":")[0] for _, error in samples if error)),
        "error_examples": sorted({e for _, e in samples if e})[:5],
        "ms": {step: stats([s[step] for s in ok]) for step in [*LOGIN_STEPS, "total"]},
    }


async def logins_phase(args: argparse.Namespace, stack: Stack, names: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    gate = asyncio.Semaphore(args.login_concurrency)

    async def first(name: str) -> tuple[dict[str, float], str | None]:
        async with gate:
            return await login(stack, name)

    firsts = await asyncio.gather(*(first(name) for name in names))
    first_s = time.perf_counter() - started
    rng = random.Random(11)
    again = [await login(stack, rng.choice(names)) for _ in range(args.logins)]
    with httpx.Client(timeout=30, headers=stack.driver_headers()) as http:
        reply = http.get(
            f"{stack.url}/hub/api/users",
            params={"limit": 1},
            headers={"Accept": "application/jupyterhub-pagination+json"},
        )
        registered = reply.json()["_pagination"]["total"] if reply.status_code == 200 else -1
    return {
        "first": summarize_logins(firsts) | {"wall_s": first_s},
        "again": summarize_logins(again),
        "registered": registered,
        "concurrency": args.login_concurrency,
        "loadavg_end": os.getloadavg(),
    }


# -- 2./3. hub tokens and the hub API -------------------------------------------------------


def mint_tokens(stack: Stack, names: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    tokens: dict[str, str] = {}
    times: list[float] = []
    errors: Counter[str] = Counter()
    with httpx.Client(timeout=60, headers=stack.driver_headers()) as http:
        for name in names:
            scopes = [*SERVICE_SCOPES, f"access:servers!user={name}"]
            t = time.perf_counter()
            reply = http.post(
                f"{stack.url}/hub/api/users/{name}/tokens", json={"scopes": scopes, "note": "bench"}
            )
            times.append((time.perf_counter() - t) * 1000)
            if reply.status_code == 201:
                tokens[name] = reply.json()["token"]
            else:
                errors[f"HTTP {reply.status_code}"] += 1
    return tokens, {"ms": stats(times), "errors": dict(errors)}


def api_latency(
    stack: Stack, tokens: dict[str, str], names: list[str], reps: int
) -> dict[str, dict[str, Any]]:
    """Sequential requests per hub API endpoint, the endpoints in a fresh order each rep."""
    hub, admin = stack.url, stack.driver_headers()
    page = admin | {"Accept": "application/jupyterhub-pagination+json"}  # as the admin page asks

    def user(name: str) -> dict[str, str]:
        return {"Authorization": f"token {tokens[name]}"}

    endpoints: dict[str, Callable[[str], tuple[str, dict[str, str]]]] = {
        "GET /hub/api/ (no token)": lambda n: (f"{hub}/hub/api/", {}),
        "GET /hub/api/user (user's token)": lambda n: (f"{hub}/hub/api/user", user(n)),
        "GET /hub/api/user, hub port (as DAP asks)": lambda n: (f"{stack.hub_api}/user", user(n)),
        "GET /hub/api/users/{name} (admin)": lambda n: (f"{hub}/hub/api/users/{n}", admin),
        "GET /hub/api/users?limit=200 (admin)": lambda n: (f"{hub}/hub/api/users?limit=200", page),
    }
    times: dict[str, list[float]] = {name: [] for name in endpoints}
    errors: Counter[str] = Counter()
    rng = random.Random(5)
    with httpx.Client(timeout=60) as http:
        for rep in range(reps + 3):  # three warm-up reps
            order = list(endpoints)
            rng.shuffle(order)
            for label in order:
                url, headers = endpoints[label](rng.choice(names))
                t = time.perf_counter()
                reply = http.get(url, headers=headers)
                ms = (time.perf_counter() - t) * 1000
                if reply.status_code != 200:
                    errors[f"{label}: HTTP {reply.status_code}"] += 1
                elif rep >= 3:
                    times[label].append(ms)
    return {label: stats(v) for label, v in times.items()} | {"errors": dict(errors)}


async def api_concurrent(
    args: argparse.Namespace, stack: Stack, tokens: dict[str, str]
) -> dict[str, Any]:
    """``--api-concurrency`` clients asking ``GET /hub/api/user`` with random users' tokens."""
    client = Client(choose_client("auto"), stack.url, args.api_concurrency, 60)
    times: list[float] = []
    errors: Counter[str] = Counter()
    end = time.perf_counter() + args.api_seconds
    cpu_0 = _cpu(stack)

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        values = list(tokens.values())
        while time.perf_counter() < end:
            t = time.perf_counter()
            try:
                status, _ = await client.request("GET", "/hub/api/user", rng.choice(values))
            except Exception as e:  # counted, and the worker goes on
                errors[type(e).__name__] += 1
                continue
            if status == 200:
                times.append((time.perf_counter() - t) * 1000)
            else:
                errors[f"HTTP {status}"] += 1

    try:
        await asyncio.gather(*(worker(i) for i in range(args.api_concurrency)))
    finally:
        await client.close()
    cpu = {k: v - cpu_0.get(k, 0.0) for k, v in _cpu(stack).items()}
    return {
        "clients": args.api_concurrency,
        "seconds": args.api_seconds,
        "per_s": len(times) / args.api_seconds,
        "ms": stats(times),
        "errors": dict(errors),
        "cpu_s": cpu,
    }


def pieces(stack: Stack) -> dict[str, psutil.Process]:
    """The deployment's long-lived processes by role."""
    found = {
        "hub": psutil.Process(stack.hub.pid),
        "proxy": stack.find("configurable-http-proxy"),
        "dap service": stack.find("dap_server.service"),
    }
    return {name: proc for name, proc in found.items() if proc is not None}


def _cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of the hub, the proxy, the DAP service and this process."""
    seconds = {"load generator": time.process_time()}
    for name, proc in pieces(stack).items():
        with suppress(psutil.Error):
            times = proc.cpu_times()
            seconds[name] = times.user + times.system
    return seconds


def rss_mib(stack: Stack) -> dict[str, float]:
    out = {}
    for name, proc in pieces(stack).items():
        with suppress(psutil.Error):
            out[name] = proc.memory_info().rss / 2**20
    return out


# -- 4. REST through the proxy and straight to the service ----------------------------------


async def rest_variant(
    args: argparse.Namespace, stack: Stack, base: str, users: list[User], admin_key: str
) -> dict[str, Any]:
    """load_rest's closed loop against ``base`` (its ``user_loop``, ``summarize_load``)."""
    kind = choose_client("auto")
    client = Client(kind, base, len(users) * len(REPORT), 60)
    metrics = Client(kind, stack.service_direct, 4, 60)
    try:
        m0 = await scrape(metrics, admin_key)
        now = time.perf_counter()
        load = Load(
            client=client,
            users=users,
            t_warm=now + args.warmup,
            t_end=now + args.warmup + args.duration,
            think=args.think,
            cache=True,
            since=since_values(1),
            batch=args.batch,
        )
        tasks = [
            asyncio.create_task(user_loop(load, u, now + random.uniform(0, args.warmup / 2), i))
            for i, u in enumerate(users)
        ]
        lag_task = asyncio.create_task(lag_monitor(load))
        await asyncio.sleep(max(0.0, load.t_warm - time.perf_counter()))
        m1, log_1, cpu_1 = await scrape(metrics, admin_key), stack.log_size(), _cpu(stack)
        await asyncio.sleep(max(0.0, load.t_end - time.perf_counter()))
        log_2, cpu_2 = stack.log_size(), _cpu(stack)
        m2 = await scrape(metrics, admin_key)
        await asyncio.wait(tasks, timeout=70)
        for task in tasks:
            task.cancel()
        await lag_task
    finally:
        await client.close()
        await metrics.close()
    result = summarize_load(load, stack.access_log(log_1, log_2), (m0, m1, m2))
    result["cpu_s"] = {k: v - cpu_1.get(k, 0.0) for k, v in cpu_2.items()}
    result["base"] = base
    result["loadavg_end"] = os.getloadavg()
    return result


async def rest_phase(
    args: argparse.Namespace, stack: Stack, users: list[User], tokens: dict[str, str]
) -> dict[str, Any]:
    keyed = users[: args.rest_users]
    hubbed = [User(u.name, u.region, tokens[u.name]) for u in keyed]
    admin_key = next(u.token for u in users if u.name == "admin")
    every = {
        "proxy": ("proxy, hub token", stack.service_proxied, hubbed),
        "key": ("direct, DAP API key", stack.service_direct, keyed),
        "hub": ("direct, hub token", stack.service_direct, hubbed),
    }
    variants = {every[k][0]: every[k][1:] for k in args.rest_order}
    results = {}
    for label, (base, who) in variants.items():
        print(f"  REST: {label} ({len(who)} users, {args.warmup:g} + {args.duration:g} s)")
        results[label] = await rest_variant(args, stack, base, who, admin_key)
        await asyncio.sleep(2)
    return results


# -- 5. user servers ------------------------------------------------------------------------


def spawn(http: httpx.Client, stack: Stack, name: str, token: str) -> tuple[float, float]:
    """Start ``name``'s server; seconds until the hub says ready, and until it answers."""
    t = time.perf_counter()
    reply = http.post(f"{stack.url}/hub/api/users/{name}/server", timeout=180)
    if reply.status_code not in (201, 202):
        raise RuntimeError(f"spawn: HTTP {reply.status_code} {reply.text[:200]}")
    while True:
        model = http.get(f"{stack.url}/hub/api/users/{name}").json()
        server = model["servers"].get("") or {}
        if server.get("ready"):
            break
        if not server.get("pending") or time.perf_counter() - t > 180:
            raise RuntimeError(f"spawn: not ready ({server.get('pending')})")
        time.sleep(0.1)
    ready = time.perf_counter() - t
    status = f"{stack.url}/user/{name}/api/status"
    while http.get(status, headers={"Authorization": f"token {token}"}).status_code != 200:
        if time.perf_counter() - t > 180:
            raise RuntimeError("spawn: ready, but no answer through the proxy")
        time.sleep(0.1)
    return ready, time.perf_counter() - t


def stop_server(stack: Stack, name: str) -> float:
    """Stop ``name``'s server through the API; seconds until the hub lists it no more."""
    t = time.perf_counter()
    with httpx.Client(timeout=180, headers=stack.driver_headers()) as http:
        reply = http.delete(f"{stack.url}/hub/api/users/{name}/server")
        if reply.status_code not in (202, 204):
            raise RuntimeError(f"stop: HTTP {reply.status_code}")
        while http.get(f"{stack.url}/hub/api/users/{name}").json()["servers"]:
            if time.perf_counter() - t > 120:
                raise RuntimeError("stop: still there after 120 s")
            time.sleep(0.1)
    return time.perf_counter() - t


def stop_all(stack: Stack, names: list[str], at_once: int) -> tuple[list[float], list[str], float]:
    """Stop the servers ``at_once`` at a time (one by one would take minutes: ~3 s each)."""
    times: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        futures = {pool.submit(stop_server, stack, name): name for name in names}
        for future in as_completed(futures):
            try:
                times.append(future.result())
            except (RuntimeError, httpx.HTTPError) as e:
                errors.append(f"{futures[future]}: {e}")
    return times, errors, time.perf_counter() - started


def mapped_packages(proc: psutil.Process) -> list[str]:
    """Installed packages with a shared library mapped into ``proc`` (what its memory holds)."""
    found: set[str] = set()
    with suppress(OSError):
        for line in Path(f"/proc/{proc.pid}/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[-1]
            if "site-packages/" in path and ".so" in path:
                top = path.split("site-packages/", 1)[1].split("/", 1)[0]
                found.add(top.split(".cpython")[0].removesuffix(".libs"))
    return sorted(found)


def memory(stack: Stack) -> dict[str, list[float]]:
    """Per running server (with its children), MiB: rss, pss, uss."""
    out: dict[str, list[float]] = {"rss": [], "pss": [], "uss": []}
    for proc in stack.servers().values():
        with suppress(psutil.Error):
            parts = [proc, *proc.children(recursive=True)]
            infos = [p.memory_full_info() for p in parts]
            for key in out:
                out[key].append(sum(getattr(i, key) for i in infos) / 2**20)
    return out


def servers_phase(
    args: argparse.Namespace, stack: Stack, names: list[str], tokens: dict[str, str]
) -> dict[str, Any]:
    spawned: list[str] = []
    ready_s: list[float] = []
    answer_s: list[float] = []
    free_0, started = mem_available(), time.perf_counter()
    reason = f"--servers-max {args.servers_max} reached"
    with httpx.Client(timeout=60, headers=stack.driver_headers()) as http:
        for name in names[: args.servers_max]:
            if mem_available() < args.min_free_gib * 2**30:
                reason = f"free memory under {args.min_free_gib:g} GiB"
                break
            if time.perf_counter() - started > args.servers_time:
                reason = f"--servers-time {args.servers_time:g} s used"
                break
            try:
                ready, answer = spawn(http, stack, name, tokens[name])
            except (RuntimeError, httpx.HTTPError) as e:
                reason = f"{name}: {e}"
                break
            spawned.append(name)
            ready_s.append(ready)
            answer_s.append(answer)
            if len(spawned) % 10 == 0:
                print(f"  servers: {len(spawned)} running, last spawn {ready:.1f} s")
        spawn_wall = time.perf_counter() - started
        time.sleep(5)  # settle: the last servers finish their start-up work
        running = len(stack.servers())
        mem = memory(stack)
        free_1 = mem_available()
        cpu_0 = {n: sum(p.cpu_times()[:2]) for n, p in stack.servers().items()}
        hub_0 = _cpu(stack)
        time.sleep(10)
        idle_cpu = sum(sum(p.cpu_times()[:2]) for p in stack.servers().values()) - sum(
            cpu_0.values()
        )
        hub_idle = {k: v - hub_0.get(k, 0.0) for k, v in _cpu(stack).items()}
        api = api_latency(stack, tokens, spawned or names, max(20, args.api_reps // 2))
        processes = rss_mib(stack)
        first_server = next(iter(stack.servers().values()), None)
        libraries = mapped_packages(first_server) if first_server else []
        stop_s, stop_errors, stop_wall = stop_all(stack, spawned, STOPS_AT_ONCE)
    return {
        "spawned": len(spawned),
        "running_after_settle": running,
        "stop_reason": reason,
        "spawn_wall_s": spawn_wall,
        "ready_s": stats(ready_s),
        "answer_s": stats(answer_s),
        "first_ready_s": ready_s[:3],
        "last_ready_s": ready_s[-3:],
        "memory_mib": {k: stats(v) for k, v in mem.items()},
        "mem_available_gib": {"before": free_0 / 2**30, "with_servers": free_1 / 2**30},
        "mem_per_server_mib": (free_0 - free_1) / max(1, len(spawned)) / 2**20,
        "idle_cpu_s_10s": idle_cpu,
        "hub_idle_cpu_s_10s": hub_idle,
        "api_with_servers": api,
        "processes_rss_mib": processes,
        "stop_s": stats(stop_s),
        "stop_wall_s": stop_wall,
        "stops_at_once": STOPS_AT_ONCE,
        "server_mapped_packages": libraries,
        "ready_s_all": ready_s,
        "stop_errors": stop_errors,
        "left_after_stop": len(stack.servers()),
    }


# -- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    for name in ("jupyterhub", "oauthenticator", "oidc-provider-mock", "psutil"):
        with suppress(PackageNotFoundError):
            info["versions"][name] = version(name)
    print(f"DAP JupyterHub load bench, {info['date']}, commit {info['commit']}")
    print(f"machine: {info['cpu']}, {info['memory']}; load average {info['loadavg']}")
    result: dict[str, Any] = {"machine": info, "args": vars(args)}
    root = Path(tempfile.mkdtemp(prefix="dap-hubload-", dir="/tmp"))
    try:
        t = time.perf_counter()
        users, timings = build_home(root / "dap-home", args.scale, args.users)
        names = [u.name for u in users if u.name.startswith("u")]
        claims = {
            u.name: {"preferred_username": u.name, "groups": ["analysts"], "region": u.region}
            for u in users
            if u.name in names
        }
        result["setup"] = timings | {"home_s": time.perf_counter() - t}
        print(
            f"setup: DAP home, {len(names)} analysts with API keys, {time.perf_counter() - t:.1f} s"
        )
        t = time.perf_counter()
        with hub_stack(root, root / "dap-home", claims, DAP_ENV) as stack:
            result["setup"]["deployment_s"] = time.perf_counter() - t
            print(f"deployment up in {time.perf_counter() - t:.1f} s: hub {stack.url}")
            print(f"logins: {len(names)} first logins, then {args.logins} again")
            result["logins"] = asyncio.run(logins_phase(args, stack, names))
            result["rss_after_logins_mib"] = rss_mib(stack)
            tokens, result["tokens"] = mint_tokens(stack, names)
            print(
                f"hub API: {args.api_reps} reps per endpoint, then {args.api_concurrency} clients"
            )
            result["api"] = api_latency(stack, tokens, names, args.api_reps)
            result["api_concurrent"] = asyncio.run(api_concurrent(args, stack, tokens))
            if args.rest_users:
                result["rest"] = asyncio.run(rest_phase(args, stack, users, tokens))
            if args.servers_max:
                print(f"servers: up to {args.servers_max}, one after another")
                result["servers"] = servers_phase(args, stack, names, tokens)
            result["rss_end_mib"] = rss_mib(stack)
            hub_log = stack.logs["hub"].read_text(errors="replace")
            result["hub_log_warnings"] = dict(
                Counter(
                    line.split("]", 1)[-1].strip()[:90]
                    for line in hub_log.splitlines()
                    if line.startswith(("[W", "[E"))
                ).most_common(8)
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def failures(result: dict[str, Any]) -> list[str]:
    found = []
    for phase in ("first", "again"):
        if result["logins"][phase]["errors"]:
            found.append(f"logins ({phase}): {result['logins'][phase]['errors']}")
    if result["tokens"]["errors"] or result["api"]["errors"]:
        found.append(f"hub API: {result['tokens']['errors']} {result['api']['errors']}")
    for label, rest in result.get("rest", {}).items():
        if rest["errors"]:
            found.append(f"REST {label}: {rest['errors']}")
    servers = result.get("servers", {"stop_errors": [], "left_after_stop": 0})
    if servers["stop_errors"] or servers["left_after_stop"]:
        found.append(f"servers: {servers['stop_errors']}")
    return found


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--users", type=int, default=500, help="registered users, all log in once (500)")
    add("--logins", type=int, default=100, help="timed logins again, all users registered (100)")
    add("--login-concurrency", type=int, default=4, help="first logins in flight at once (4)")
    add("--api-reps", type=int, default=200, help="sequential requests per hub endpoint (200)")
    add("--api-concurrency", type=int, default=20, help="clients on GET /hub/api/user (20)")
    add("--api-seconds", type=float, default=10, help="seconds of those clients (10)")
    add("--rest-users", type=int, default=100, help="REST users per variant; 0 = skip (100)")
    add("--duration", type=float, default=30, help="measured REST seconds per variant (30)")
    add("--warmup", type=float, default=10, help="REST warm-up seconds per variant (10)")
    add("--think", type=parse_think, default=(1.0, 2.0), help="REST pause: S or LO-HI (1-2)")
    add(
        "--rest-order",
        type=lambda text: text.split(","),
        default=["proxy", "key", "hub"],
        help="REST variants in this order (proxy,key,hub): through the proxy with hub tokens, "
        "straight to the service with DAP API keys, straight to it with hub tokens",
    )
    add("--batch", action="store_true", help="REST reports as one POST query/batch each")
    add("--scale", type=float, default=1, help="demo data scale (1 ≈ 1M rows)")
    add("--servers-max", type=int, default=100, help="most user servers; 0 = skip (100)")
    add("--servers-time", type=float, default=480, help="seconds for starting servers (480)")
    add("--min-free-gib", type=float, default=4, help="stop spawning below this MemAvailable")
    add("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: the deployment runs the DAP service as the user dap-svc")
    if args.rest_users > args.users or args.users < 1:
        parser.error("--users ≥ 1 and --rest-users ≤ --users")
    if not set(args.rest_order) <= {"proxy", "key", "hub"}:
        parser.error("--rest-order takes proxy, key and hub, comma-separated")
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run(args)
    except KeyboardInterrupt:
        print("interrupted: the deployment was stopped and the temporary folder removed")
        return 130
    print_report(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        print(f"results written to {args.json}")
    problems = failures(result)
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
