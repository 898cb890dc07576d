"""The markdown report of ``bench/hub_load.py`` (kept apart so the runner stays readable)."""

from __future__ import annotations

from typing import Any

from load_rest import fmt

LOGIN_LABELS = {
    "hub redirect": "hub: `/hub/oauth_login` → 302 to the provider",
    "provider form": "provider: the login form",
    "provider authorize": "provider: form POST → 302 with the code",
    "hub callback": "hub: `/hub/oauth_callback` (code → tokens, userinfo, login to DAP, cookie)",
    "hub home": "hub: `/hub/home`",
    "total": "**login round trip**",
}


def _cells(s: dict[str, float], keys: tuple[str, ...] = ("p50", "p95", "p99")) -> str:
    return " | ".join(fmt(s[k]) for k in keys)


def print_logins(logins: dict[str, Any]) -> None:
    first, again = logins["first"], logins["again"]
    print()
    print(
        f"### Logins: OpenID flow over HTTP, {first['n']} first logins "
        f"({logins['concurrency']} at a time, {first['wall_s']:.1f} s), then {again['n']} "
        f"again one by one with {logins['registered']} users registered"
    )
    print()
    print("| hop, ms | first: p50 | p95 | p99 | again: p50 | p95 | p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in LOGIN_LABELS.items():
        print(f"| {label} | {_cells(first['ms'][key])} | {_cells(again['ms'][key])} |")
    print()
    rate = first["n"] / first["wall_s"] if first["wall_s"] else 0
    print(f"first logins: {rate:.1f} per s; load average after: {_load(logins['loadavg_end'])}")
    for name, part in (("first", first), ("again", again)):
        errors = part["errors"] or "none"
        print(f"errors ({name}): {errors} {part['error_examples'] if part['errors'] else ''}")


def print_api(result: dict[str, Any]) -> None:
    api, tokens, conc = result["api"], result["tokens"], result["api_concurrent"]
    print()
    print(f"### Hub API, {result['logins']['registered']} users registered, no server running")
    print()
    print("| request, ms (sequential) | n | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, s in api.items():
        if label != "errors":
            print(f"| `{label}` | {s['n']} | {_cells(s, ('p50', 'p95', 'p99', 'max'))} |")
    t = tokens["ms"]
    print(
        f"| `POST /hub/api/users/{{name}}/tokens` (admin; one per user) | {t['n']} | "
        f"{_cells(t, ('p50', 'p95', 'p99', 'max'))} |"
    )
    print()
    print(f"errors: {api['errors'] or 'none'}; token errors: {tokens['errors'] or 'none'}")
    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in conc["cpu_s"].items())
    print(
        f"\n{conc['clients']} concurrent clients on `GET /hub/api/user` (through the proxy) for "
        f"{conc['seconds']:g} s: **{conc['per_s']:.0f} requests/s**, p50 {fmt(conc['ms']['p50'])} "
        f"/ p95 {fmt(conc['ms']['p95'])} / p99 {fmt(conc['ms']['p99'])} ms, errors "
        f"{conc['errors'] or 'none'}; CPU {cpu}"
    )


def print_rest(rest: dict[str, Any], args: dict[str, Any]) -> None:
    first = next(iter(rest.values()))
    think = args["think"]
    print()
    print(
        f"### REST: {first['users']} users, `load_rest` report of 5 queries, think "
        f"{think[0]:g}–{think[1]:g} s, {args['warmup']:g} s warm-up + {first['window_s']:.0f} s "
        f"measured per variant, variants back to back"
    )
    print()
    print(
        "| variant | reports/s | queries/s | report p50 | p95 | p99 | query p50 | p95 | p99 | "
        "errors | server p50 | p95 | CPU service / hub / proxy / client |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, r in rest.items():
        q, s, c = r["per_query"]["all"], r["server_access_log"], r["cpu_s"]
        errors = sum(r["errors"].values())
        window = r["window_s"]
        cpu = " / ".join(
            f"{c.get(k, 0) / window:.0%}" for k in ("dap service", "hub", "proxy", "load generator")
        )
        print(
            f"| {label} | {r['reports_per_s']:.1f} | {r['queries_per_s']:.1f} | "
            f"{_cells(r['report_ms'])} | {_cells(q)} | {errors} | {fmt(s['p50'])} | "
            f"{fmt(s['p95'])} | {cpu} |"
        )
    print()
    for label, r in rest.items():
        other = r["server_access_log"]["other_routes"]
        lag = r["client_loop_lag_ms"]
        print(
            f"{label}: errors {r['errors'] or 'none'} (warm-up {r['warmup_errors'] or 'none'}); "
            f"cache hit {r['cache_hit_ratio']:.1%}; other service routes in the window "
            f"{other or 'none'}; client loop lag p95 {fmt(lag['p95'])} ms; load average at "
            f"the end {_load(r['loadavg_end'])}"
        )


def print_servers(servers: dict[str, Any]) -> None:
    s = servers
    mem = s["memory_mib"]
    print()
    print(
        f"### User servers: **{s['spawned']} started** one after another in "
        f"{s['spawn_wall_s']:.0f} s (stopped because: {s['stop_reason']}); "
        f"{s['running_after_settle']} running after 5 s"
    )
    print()
    print("| measure | n | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {
        "spawn: POST → hub says ready, s": s["ready_s"],
        "spawn: POST → first answer through the proxy, s": s["answer_s"],
        "stop: DELETE → gone, s": s["stop_s"],
        "RSS per server (with children), MiB": mem["rss"],
        "PSS per server, MiB": mem["pss"],
        "USS per server, MiB": mem["uss"],
    }
    for label, v in rows.items():
        print(f"| {label} | {v['n']} | {_cells(v, ('p50', 'p95', 'p99', 'max'))} |")
    free = s["mem_available_gib"]
    print()
    print(
        f"MemAvailable {free['before']:.1f} GiB before → {free['with_servers']:.1f} GiB with the "
        f"servers: **{s['mem_per_server_mib']:.0f} MiB per server**; first spawns "
        f"{_seconds(s['first_ready_s'])}, last {_seconds(s['last_ready_s'])}"
    )
    hub_idle = ", ".join(f"{k} {v:.2f} s" for k, v in s["hub_idle_cpu_s_10s"].items())
    print(f"idle for 10 s: the servers used {s['idle_cpu_s_10s']:.2f} CPU-s together; {hub_idle}")
    print(f"RSS with the servers running, MiB: {_rss(s['processes_rss_mib'])}")
    print(
        f"stopped {s['stops_at_once']} at a time in {s['stop_wall_s']:.0f} s; stop errors: "
        f"{s['stop_errors'] or 'none'}; servers left after the stops: {s['left_after_stop']}"
    )
    print(f"packages with shared libraries in a server: {', '.join(s['server_mapped_packages'])}")
    api = s["api_with_servers"]
    print()
    print(f"Hub API with {s['spawned']} servers running (sequential):")
    print()
    print("| request, ms | n | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, v in api.items():
        if label != "errors":
            print(f"| `{label}` | {v['n']} | {_cells(v, ('p50', 'p95', 'p99', 'max'))} |")


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values) + " s"


def _load(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _rss(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in values.items())


def print_report(result: dict[str, Any]) -> None:
    print_logins(result["logins"])
    print(f"\nRSS after the logins, MiB: {_rss(result['rss_after_logins_mib'])}")
    print_api(result)
    if "rest" in result:
        print_rest(result["rest"], result["args"])
    if "servers" in result:
        print_servers(result["servers"])
    print(f"\nRSS at the end, MiB: {_rss(result['rss_end_mib'])}")
    print(f"hub log warnings/errors (most common): {result['hub_log_warnings'] or 'none'}")
