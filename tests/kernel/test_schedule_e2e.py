"""A report end to end with real parts: due in seconds, run by the background scheduler with
parameters, HTML and PDF out (read back with pdftotext), mailed through a real SMTP server
(aiosmtpd) and posted to a real webhook; a failing notebook retries, then alerts its owner
with the failing cell; a dependent report runs only after its parent."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
from aiosmtpd.controller import Controller

from dap_kernel.errors import QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.scheduler.api import Schedules
from dap_kernel.scheduler.loop import Scheduler
from dap_kernel.scheduler.model import FINAL, Run, ScheduleSpec
from dap_kernel.session import Workspace
from tests.reports import notebook

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


class Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, Any], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hooks.received.append((json.loads(body), self.headers.get("X-DAP-Signature", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def parts() -> Iterator[tuple[Mailbox, int, int]]:
    box, smtp_port = Mailbox(), _port()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    Hooks.received = []
    thread = threading.Thread(target=hooks.serve_forever, daemon=True)
    thread.start()
    try:
        yield box, smtp_port, hooks.server_address[1]
    finally:
        controller.stop()
        hooks.shutdown()


@pytest.fixture
def reporting(workspace: Workspace, parts: tuple[Mailbox, int, int]) -> Iterator[Workspace]:
    _, smtp_port, hook_port = parts
    workspace.session().create_table(
        "sales", pl.DataFrame({"region": ["EMEA", "APAC", "EMEA"], "amount": [1.5, 2.0, 3.0]})
    )
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA", "email": "ann@corp.example"})
    admin.grant("SELECT", "main.sales", "user", "ann")
    settings = replace(
        workspace.settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_from="reports@corp.example",
        mail_domains=("corp.example",),
        webhook_hosts=(f"127.0.0.1:{hook_port}",),
        public_url="http://dap.corp.example",
    )
    ws = Workspace(settings)
    yield ws
    ws.close()


REPORT = (
    "import dap_kernel as dap\n"
    "import plotly.graph_objects as go, plotly.io as pio\n"
    "pio.renderers.default = 'plotly_mimetype+png'\n"
    "df = dap.sql('SELECT region, sum(amount) AS total FROM sales WHERE region = $r GROUP BY 1',"
    " {'r': region})\n"
    "print('Total for', region, df['total'][0])\n"
    "go.Figure(go.Bar(x=df['region'].to_list(), y=df['total'].to_list()),"
    " layout={'title': 'Revenue by region'})"
)


def _final(api: Schedules, schedule_id: str, count: int, timeout: float = 240) -> list[Run]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in api.history(schedule_id) if r.status in FINAL]
        if len(runs) >= count:
            return runs
        time.sleep(0.3)
    raise AssertionError(
        f"{schedule_id}: {[(r.status, r.error) for r in api.history(schedule_id)]}"
    )


def _delivered(api: Schedules, run: Run) -> None:
    """Wait for the delivery record (written after the run's outcome, once all is sent)."""
    deadline = time.monotonic() + 60
    while not api.run(run.id).delivered and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_report_due_in_seconds_is_rendered_mailed_and_announced(
    reporting: Workspace, parts: tuple[Mailbox, int, int]
) -> None:
    box, _, hook_port = parts
    api = Schedules(reporting.session(Principal(name="ann")))
    s = api.add(
        ScheduleSpec(
            name="Weekly revenue",
            notebook=notebook(REPORT),
            cron="0 8 * * MON",
            timezone="Europe/Berlin",
            parameters={"region": "EMEA"},
            formats=("ipynb", "html", "pdf"),
            recipients=("boss@corp.example",),
            webhooks=(f"http://127.0.0.1:{hook_port}/hook",),
            retries=0,
        )
    )
    api.store.update(s.id, next_due=datetime.now(UTC) + timedelta(seconds=2))
    scheduler = Scheduler(reporting, tick_s=0.5)
    scheduler.start()
    try:
        [done] = _final(api, s.id, 1)
        _delivered(api, done)
    finally:
        scheduler.stop()
    assert done.status == "succeeded", done.error
    assert done.trigger == "cron"
    assert set(done.outputs) == {"ipynb", "html", "pdf"}
    html = Path(done.outputs["html"]).read_text()
    assert "Total for EMEA 4.5" in html and "data:image/png;base64," in html
    pdf = subprocess.run(
        ["pdftotext", done.outputs["pdf"], "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Total for EMEA 4.5" in pdf
    # Mailed: to the recipient, with the PDF, and links to the outputs through the API.
    [(to, message)] = box.messages
    assert to == ["boss@corp.example"]
    assert "Weekly revenue" in str(message["Subject"])
    attachments = list(message.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    assert attachments[0].get_content().startswith(b"%PDF")
    body = message.get_body(preferencelist=("plain",))
    assert (
        body is not None
        and f"/dap/api/v1/schedule-runs/{done.id}/outputs/pdf" in body.get_content()
    )
    # Announced: the event with links, never the numbers.
    [(payload, signature)] = Hooks.received
    assert payload["event"] == "run.succeeded" and payload["run_id"] == done.id
    assert signature.startswith("sha256=")
    # Only the run's own facts: its timing may contain the digits "4.5", its outputs never.
    assert set(payload) == {
        *("event", "schedule", "schedule_id", "run_id", "owner", "status"),
        *("due_at", "duration_s", "attempt", "links"),
    }
    assert "Total" not in json.dumps(payload)
    assert all(str(v).startswith("http://dap.corp.example/") for v in payload["links"].values())
    assert api.run(done.id).delivered == {"mail": "sent to 1", "webhooks": ["sent"]}


FAILING = "import dap_kernel as dap\nraise ValueError('the numbers do not add up')"


def test_a_failing_report_retries_then_alerts_its_owner_only(
    reporting: Workspace, parts: tuple[Mailbox, int, int]
) -> None:
    box, _, hook_port = parts
    api = Schedules(reporting.session(Principal(name="ann")))
    parent = api.add(
        ScheduleSpec(
            name="Broken",
            notebook=notebook(FAILING),
            formats=("ipynb", "html"),
            recipients=("boss@corp.example",),
            webhooks=(f"http://127.0.0.1:{hook_port}/hook",),
            retries=1,
            retry_backoff_s=1,
        )
    )
    child = api.add(
        ScheduleSpec(name="After", notebook=notebook("print('after')"), after=(parent.id,))
    )
    api.run_now(parent.id)
    scheduler = Scheduler(reporting, tick_s=0.3)
    scheduler.start()
    try:
        [done] = _final(api, parent.id, 1)
        _delivered(api, done)  # dependents are decided before delivery
    finally:
        scheduler.stop()
    assert (done.status, done.attempt) == ("failed", 2)
    assert "ValueError: the numbers do not add up" in done.error
    [(to, alert)] = box.messages  # the owner, not the recipients
    assert to == ["ann@corp.example"]
    text = alert.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert "the numbers do not add up" in content and "raise ValueError" in content
    assert f"/dap/api/v1/schedule-runs/{done.id}/outputs/ipynb" in content
    assert [p["event"] for p, _ in Hooks.received] == ["run.failed"]
    assert api.history(child.id) == []  # a dependent runs only after a success


def test_a_published_dashboard_is_scheduled_as_a_pdf_snapshot(
    reporting: Workspace, tmp_path: Path
) -> None:
    import nbformat

    from dap_kernel.dashboards.store import publish

    page = tmp_path / "revenue.ipynb"
    # The dashboard's queries run as whoever scheduled the snapshot (viewer_session: the run's
    # key), never as the home's owner.
    nb = notebook(
        "from dap_kernel.dashboards.identity import viewer_session\n"
        "print('Revenue dashboard for', region, 'as', viewer_session().whoami()['user'])"
    )
    nb["cells"].insert(0, nbformat.v4.new_markdown_cell("# Revenue at a glance"))
    nbformat.write(nbformat.from_dict(nb), page)
    publish(page, name="revenue", grants=["user:ann"], session=reporting.session())
    ann = Schedules(reporting.session(Principal(name="ann")))
    s = ann.add(
        ScheduleSpec(name="revenue pdf", notebook={}, dashboard="revenue", formats=("pdf",))
    )
    done = Scheduler(reporting).run_and_wait(ann.run_now(s.id).id, timeout_s=240)
    assert done.status == "succeeded", done.error
    text = subprocess.run(
        ["pdftotext", done.outputs["pdf"], "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Revenue at a glance" in text and "Revenue dashboard for EMEA as ann" in text
    assert "viewer_session" not in text  # the page as a viewer sees it: outputs, no code
    reporting.admin("tester").add_user("eve")
    eve = Schedules(reporting.session(Principal(name="eve")))
    with pytest.raises(QueryRefused, match="may not open dashboard revenue"):
        eve.add(ScheduleSpec(name="x", notebook={}, dashboard="revenue", formats=("pdf",)))
