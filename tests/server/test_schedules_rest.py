"""Scheduled reports over REST: the owner's door, everyone else's 404, scopes, one-line errors,
and a report's HTML that must not run script on the DAP origin.

In a Jupyter Server in process (no scheduler: runs are executed here with a stand-in for
papermill); the real runs, through `dap serve` and a Jupyter Server of its own, are in
``test_schedules_service.py``.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from dap_server.endpoints.schedules import HTML_CSP
from dap_server.scheduling import own_url

from dap_kernel.session import Workspace
from dap_kernel.transport import HttpSession
from tests.server.conftest import Api
from tests.server.schedule_fixtures import SCRIPT, finished_run, report_body


async def _add(api: Api, user: str, name: str, **fields: object) -> dict[str, object]:
    reply = await api("POST", "schedules", as_=user, body=report_body(name, **fields))
    assert reply.status == 201, reply.body
    body: dict[str, object] = reply.body
    return body


async def test_the_owner_adds_reads_and_downloads(api: Api, governed: Workspace) -> None:
    added = await _add(api, "ann", "weekly", cron="0 6 * * 1", timezone="Europe/Berlin")
    assert added["owner"] == "ann" and added["cron"] == "0 6 * * 1" and added["next_due"]
    by_name = await api("GET", "schedules/weekly", as_="ann")
    assert by_name.status == 200 and by_name.body["id"] == added["id"]
    mine = await api("GET", "schedules", as_="ann")
    assert [s["id"] for s in mine.body["schedules"]] == [added["id"]]
    notebook = await api("GET", f"schedules/{added['id']}/notebook", as_="ann")
    assert notebook.status == 200 and notebook.body["cells"][0]["metadata"]["tags"] == [
        "parameters"
    ]

    _, run = finished_run(governed, "ann", "finished")
    got = (await api("GET", f"schedule-runs/{run.id}", as_="ann")).body
    assert got["status"] == "succeeded" and got["owner"] == "ann"
    # Where the files lie on the server is not the caller's business: the API paths are.
    assert got["outputs"] == {
        "html": f"schedule-runs/{run.id}/outputs/html",
        "ipynb": f"schedule-runs/{run.id}/outputs/ipynb",
    }
    ipynb = await api("GET", got["outputs"]["ipynb"], as_="ann")
    assert ipynb.status == 200
    assert ipynb.headers["Content-Type"] == "application/x-ipynb+json"
    assert ipynb.headers["Content-Disposition"].startswith("attachment;")
    assert "".join(json.loads(ipynb.raw)["cells"][0]["source"]).startswith("region")
    log = await api("GET", f"schedule-runs/{run.id}/log", as_="ann")
    assert log.status == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert log.raw == b"Executing cell 1\n"
    history = await api("GET", f"schedules/{run.schedule_id}/runs", as_="ann", params={"limit": 5})
    assert [r["id"] for r in history.body["runs"]] == [run.id]
    audit = (await api("GET", "audit", as_="ann", params={"limit": 50})).body["records"]
    assert [r["statement"] for r in audit if r["action"] == "report.read"] == [
        f"run {run.id} ipynb (owner ann)"
    ]
    assert [r["action"] for r in audit if r["action"] == "report.log"] == ["report.log"]


async def test_a_reports_html_never_runs_script_on_the_dap_origin(
    api: Api, governed: Workspace
) -> None:
    """The notebook's author controls the HTML (here a script that would mint a key with the
    reader's cookie): it is answered sandboxed, in an opaque origin, without script."""
    _, run = finished_run(governed, "ann", "hostile")
    html = await api("GET", f"schedule-runs/{run.id}/outputs/html", as_="ann")
    assert html.status == 200 and SCRIPT.encode() in html.raw
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    assert html.headers["Content-Security-Policy"] == HTML_CSP
    assert "sandbox" in HTML_CSP and "script-src" not in HTML_CSP
    assert "default-src 'none'" in HTML_CSP
    assert html.headers["X-Content-Type-Options"] == "nosniff"
    # The administrator reading it gets the same headers (their cookie is worth more).
    admin = await api("GET", f"schedule-runs/{run.id}/outputs/html")
    assert admin.status == 200 and admin.headers["Content-Security-Policy"] == HTML_CSP


async def test_another_user_finds_nothing_and_changes_nothing(
    api: Api, governed: Workspace
) -> None:
    schedule, run = finished_run(governed, "ann", "quarterly")
    sid, rid = schedule.id, run.id
    unknown_run = await api("GET", "schedule-runs/r0000000000", as_="bob")
    attempts = [
        ("GET", f"schedules/{sid}", None),
        ("GET", "schedules/quarterly", None),  # by ann's name for it: bob has none
        ("PATCH", f"schedules/{sid}", {"cron": "* * * * *"}),
        ("DELETE", f"schedules/{sid}", None),
        ("GET", f"schedules/{sid}/notebook", None),
        ("POST", f"schedules/{sid}/pause", None),
        ("POST", f"schedules/{sid}/resume", None),
        ("POST", f"schedules/{sid}/run", {"parameters": {"region": "APAC"}}),
        ("GET", f"schedules/{sid}/runs", None),
        ("GET", f"schedule-runs/{rid}", None),
        ("POST", f"schedule-runs/{rid}/rerun", {"as_recorded": True}),
        ("GET", f"schedule-runs/{rid}/log", None),
        ("GET", f"schedule-runs/{rid}/outputs/html", None),
        ("GET", f"schedule-runs/{rid}/outputs/ipynb", None),
    ]
    for method, path, body in attempts:
        reply = await api(method, path, as_="bob", body=body)
        assert reply.status == 404, (method, path, reply.body)
        assert reply.body["error"] in ("unknown_schedule", "unknown_run"), path
        assert "ann" not in reply.body["message"], path
    # A run id that exists reads exactly like one that does not.
    someone_elses = await api("GET", f"schedule-runs/{rid}", as_="bob")
    assert someone_elses.body["message"] == unknown_run.body["message"].replace("r0000000000", rid)
    # bob cannot chain a report of his onto ann's either (it would tell when hers succeed).
    chained = await api("POST", "schedules", as_="bob", body=report_body("b", after=[sid]))
    assert chained.status == 404 and chained.body["error"] == "unknown_schedule"
    assert (await api("GET", "schedules", as_="bob")).body["schedules"] == []
    after = (await api("GET", f"schedules/{sid}", as_="ann")).body
    assert after["cron"] == "" and after["paused"] is False
    runs = (await api("GET", f"schedules/{sid}/runs", as_="ann")).body["runs"]
    assert [r["id"] for r in runs] == [rid]  # bob queued nothing


async def test_administrators_see_everyones_with_all(api: Api, governed: Workspace) -> None:
    ann = await _add(api, "ann", "ann-weekly")
    raj = await _add(api, "raj", "raj-weekly")
    everyone = await api("GET", "schedules", params={"all": "1"})  # tester: MANAGE_GRANTS
    assert {ann["id"], raj["id"]} <= {s["id"] for s in everyone.body["schedules"]}
    assert (await api("GET", "schedules")).body["schedules"] == []  # without all: their own
    ann_all = await api("GET", "schedules", as_="ann", params={"all": "1"})
    assert [s["id"] for s in ann_all.body["schedules"]] == [ann["id"]]  # all means hers
    seen = await api("GET", f"schedules/{ann['id']}")
    assert seen.status == 200 and seen.body["owner"] == "ann"
    # An administrator manages it, but it runs as its owner: only she starts it.
    started = await api("POST", f"schedules/{ann['id']}/run")
    assert started.status == 403 and started.body["error"] == "query_refused"
    paused = await api("POST", f"schedules/{ann['id']}/pause")
    assert paused.status == 200 and paused.body["paused"] is True


async def test_each_key_does_what_its_scope_says(api: Api, governed: Workspace) -> None:
    sid = (await _add(api, "ann", "scoped"))["id"]
    query_only = await api("GET", "schedules", as_="ann-query-only")
    assert query_only.status == 403 and query_only.body["error"] == "insufficient_scope"
    # A run's own key (query, read-catalog) may start and read runs, not plant a new report.
    run_key = governed.apikeys.create("ann", "like a run key", scopes=["query", "read-catalog"])
    headers = {"Authorization": f"Bearer {run_key[1]}"}
    planted = await api("POST", "schedules", body=report_body("planted"), headers=headers)
    assert planted.status == 403 and planted.body["error"] == "insufficient_scope"
    changed = await api("PATCH", f"schedules/{sid}", body={"cron": "* * * * *"}, headers=headers)
    assert changed.status == 403 and changed.body["error"] == "insufficient_scope"
    started = await api("POST", f"schedules/{sid}/run", headers=headers)
    assert started.status == 202 and started.body["status"] == "queued"
    assert started.body["trigger"] == "manual"
    read_only = governed.apikeys.create("ann", "reader", scopes=["read-catalog"])[1]
    reader = {"Authorization": f"Bearer {read_only}"}
    assert (await api("GET", f"schedules/{sid}", headers=reader)).status == 200
    refused = await api("POST", f"schedules/{sid}/run", headers=reader)
    assert refused.status == 403 and refused.body["error"] == "insufficient_scope"
    removed = await api("DELETE", f"schedules/{sid}", headers=reader)
    assert removed.status == 403


async def test_bad_input_is_one_line_400(api: Api) -> None:
    cases = [
        report_body("x", cron="every monday"),
        report_body("x", cron="0 6 * * 1", timezone="Mars/Olympus"),
        report_body("x", formats=["docx"]),
        report_body("x", parameters={"nope": 1}),
        report_body("x", parameters={"limit": "many"}),
        report_body("a/b"),
        {"name": "x", "notebook": {"cells": "not a notebook"}},
        {"name": "x", "notebook": {}, "surprise": True},
    ]
    for body in cases:
        reply = await api("POST", "schedules", as_="ann", body=body)
        assert reply.status == 400, (body, reply.body)
        assert "\n" not in reply.body["message"] and len(reply.body["message"]) < 400
    bad_cron = await api("POST", "schedules", as_="ann", body=report_body("x", cron="61 * * * *"))
    assert bad_cron.body["error"] == "schedule_error"
    sid = (await _add(api, "ann", "fine"))["id"]
    for changes, says in [
        ({"name": "renamed"}, "name cannot be changed"),
        ({"ref": "x"}, "ref cannot be changed"),  # not an argument of the core's method
        ({"self": 1}, "self cannot be changed"),
        ({"cron": "* * *"}, ""),
    ]:
        reply = await api("PATCH", f"schedules/{sid}", as_="ann", body=changes)
        assert reply.status == 400 and says in reply.body["message"], reply.body
    nulls = await api("PATCH", f"schedules/{sid}", as_="ann", body={"cron": None})
    assert nulls.status == 200 and nulls.body["cron"] == ""  # null: unchanged
    not_json = await api("POST", f"schedules/{sid}/run", as_="ann", raw_body=b"{")
    assert not_json.status == 400
    wrong_param = await api(
        "POST", f"schedules/{sid}/run", as_="ann", body={"parameters": {"limit": "x"}}
    )
    assert wrong_param.status == 400 and "limit" in wrong_param.body["message"]
    not_done = (await api("POST", f"schedules/{sid}/run", as_="ann")).body["id"]
    as_recorded = await api(
        "POST", f"schedule-runs/{not_done}/rerun", as_="ann", body={"as_recorded": True}
    )
    assert as_recorded.status == 400 and "did not succeed" in as_recorded.body["message"]


async def test_outputs_are_only_the_runs_files(api: Api, governed: Workspace) -> None:
    _, run = finished_run(governed, "ann", "files")
    for fmt in ("pdf", "exe", "..%2F..%2Fmeta.db", quote("../run.log", safe="")):
        reply = await api("GET", f"schedule-runs/{run.id}/outputs/{fmt}", as_="ann")
        assert reply.status == 404 and reply.body["error"] == "unknown_run", fmt


async def test_remove_answers_204_and_the_schedule_is_gone(api: Api) -> None:
    sid = (await _add(api, "ann", "short-lived"))["id"]
    removed = await api("DELETE", f"schedules/{sid}", as_="ann")
    assert removed.status == 204 and removed.raw == b""
    assert (await api("GET", f"schedules/{sid}", as_="ann")).status == 404
    again = await api("DELETE", f"schedules/{sid}", as_="ann")
    assert again.status == 404


def _requests_of(url: str, headers: dict[str, str], control_html: str) -> tuple[list[str], ...]:
    """The requests chromium makes for ``url`` (served by DAP), and for the same HTML served
    without DAP's headers (the control: there the author's script does run)."""
    from playwright.sync_api import Route, sync_playwright

    def fulfil(route: Route) -> None:
        route.fulfill(body=control_html, content_type="text/html", status=200)

    found: list[list[str]] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            for target, extra in ((url, headers), ("http://control.test/report", {})):
                context = chromium.new_context(extra_http_headers=extra)
                page = context.new_page()
                page.route("http://control.test/**", fulfil)
                seen: list[str] = []
                page.on("request", lambda request, seen=seen: seen.append(request.url))
                page.goto(target)
                page.wait_for_load_state("networkidle")
                found.append(seen)
                context.close()
        finally:
            chromium.close()
    return tuple(found)


@pytest.mark.slow
async def test_a_browser_runs_no_script_of_a_report(
    api: Api, governed: Workspace, keys: dict[str, str], jp_http_port: int, jp_base_url: str
) -> None:
    _, run = finished_run(governed, "ann", "in-a-browser")
    path = f"dap/api/v1/schedule-runs/{run.id}/outputs/html"
    html = await api("GET", path.removeprefix("dap/api/v1/"), as_="ann")
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}{path}"
    headers = {"Authorization": f"Bearer {keys['ann']}"}
    served, control = await asyncio.to_thread(_requests_of, url, headers, html.raw.decode())
    assert served == [url]  # the page itself, and no fetch of its script
    assert control == ["http://control.test/report", "http://control.test/dap/api/v1/apikeys"]


def test_a_report_reaches_its_server_at_the_servers_own_url() -> None:
    """What DAP_SERVICE_URL a report's kernel gets: the server's root with its base URL
    (HttpSession adds /dap/api/v1), on loopback when the server listens everywhere; none on
    a Unix socket, where no scheduler runs (the kernel must never open the home itself)."""

    def server(**fields: object) -> SimpleNamespace:
        values: dict[str, object] = {
            "ip": "127.0.0.1",
            "port": 8890,
            "base_url": "/",
            "sock": "",
            "certfile": "",
        }
        return SimpleNamespace(**(values | fields))

    assert own_url(server()) == "http://127.0.0.1:8890/"
    assert own_url(server(ip="0.0.0.0", base_url="/services/dap/")) == (
        "http://127.0.0.1:8890/services/dap/"
    )
    assert own_url(server(ip="", certfile="/etc/cert.pem")) == "https://127.0.0.1:8890/"
    assert own_url(server(ip="::")) == "http://[::1]:8890/"
    assert own_url(server(ip="fd00::5")) == "http://[fd00::5]:8890/"
    assert own_url(server(ip="10.0.0.7", port=9000)) == "http://10.0.0.7:9000/"
    assert own_url(server(sock="/run/dap.sock")) == ""
    session = HttpSession(own_url(server(base_url="/user/ann/")))
    try:
        assert str(session._client.base_url) == "http://127.0.0.1:8890/user/ann/dap/api/v1/"
    finally:
        session.close()
