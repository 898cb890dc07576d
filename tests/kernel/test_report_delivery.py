"""Delivering reports: mail through a real SMTP server (aiosmtpd on 127.0.0.1) and webhooks to
real HTTP servers, and the ways an owner of a schedule could point them where they must not
go (other domains, internal hosts, redirects, credentials in URLs, header injection)."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import hmac
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pypdf import PdfWriter

from dap_kernel.scheduler.delivery import (
    DeliveryFailed,
    DeliveryRefused,
    ReportInfo,
    check_recipients,
    check_webhook,
    failure_message,
    post_webhook,
    send_mail,
    success_message,
    webhook_payload,
)
from dap_kernel.scheduler.outputs import FailedCell
from dap_kernel.settings import Settings

PASSWORD = "s3cr3t-PW-never-shown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a real SMTP server --------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps what it received; refuses RCPT to addresses in ``refuse``."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: set[str] = set()
        self.rcpt_calls = 0
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.rcpt_calls += 1
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("reporter", PASSWORD), handled=False)

    def message(self, index: int = -1) -> EmailMessage:
        raw = self.envelopes[index].content
        assert isinstance(raw, bytes)
        parsed = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp: tuple[Mailbox, int]) -> Mailbox:
    box = smtp[0]
    box.envelopes.clear()
    box.refuse.clear()
    box.logins.clear()
    box.rcpt_calls = 0
    return box


def _settings(tmp_path: Path, port: int, **extra: Any) -> Settings:
    options: dict[str, Any] = {
        "home": tmp_path,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_from": "reports@dap.example.com",
        "mail_domains": ("example.com",),
        "public_url": "https://dap.example.com/",
    }
    options.update(extra)
    return Settings(**options)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    pdf = tmp_path / "sales.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with pdf.open("wb") as f:
        writer.write(f)
    html = tmp_path / "sales.html"
    html.write_text("<html><body><p>Sales</p></body></html>", encoding="utf-8")
    nb = tmp_path / "sales.ipynb"
    nb.write_text(json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5}), "utf-8")
    return {"pdf": pdf, "html": html, "ipynb": nb}


def test_a_report_mail_arrives_with_its_attachments(
    mailbox: Mailbox, smtp: tuple[Mailbox, int], tmp_path: Path, files: dict[str, Path]
) -> None:
    settings = _settings(tmp_path, smtp[1], smtp_user="reporter", smtp_password=PASSWORD)
    send_mail(
        settings,
        ["Ann@Example.com", "bob@example.com"],
        "Sales weekly",
        "The report ran.",
        html="<p>The report ran.</p>",
        attachments=[files["pdf"], files["html"], files["ipynb"]],
    )
    assert mailbox.logins == [("reporter", PASSWORD)]
    assert len(mailbox.envelopes) == 1
    assert mailbox.envelopes[0].rcpt_tos == ["Ann@example.com", "bob@example.com"]
    assert mailbox.envelopes[0].mail_from == "reports@dap.example.com"
    message = mailbox.message()
    assert message["Subject"] == "Sales weekly"
    assert message["To"] == "Ann@example.com, bob@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "The report ran." in body.get_content()
    html_body = message.get_body(preferencelist=("html",))
    assert html_body is not None and "<p>The report ran.</p>" in html_body.get_content()
    parts = {p.get_filename(): p for p in message.iter_attachments()}
    assert set(parts) == {"sales.pdf", "sales.html", "sales.ipynb"}
    assert parts["sales.pdf"].get_content_type() == "application/pdf"
    assert parts["sales.html"].get_content_type() == "text/html"
    assert parts["sales.ipynb"].get_content_type() == "application/x-ipynb+json"
    pdf = parts["sales.pdf"].get_payload(decode=True)
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")
    assert pdf == files["pdf"].read_bytes()


def test_an_attachment_over_the_cap_becomes_a_link(
    mailbox: Mailbox, smtp: tuple[Mailbox, int], tmp_path: Path, files: dict[str, Path]
) -> None:
    settings = _settings(tmp_path, smtp[1])
    size_mb = files["pdf"].stat().st_size / (1024 * 1024)
    send_mail(
        settings,
        "ann@example.com",
        "Sales weekly",
        "The report ran.",
        attachments=[files["html"], files["pdf"]],
        links={files["pdf"]: "/dap/reports/runs/7/sales.pdf"},
        max_mb=size_mb / 2,
    )
    message = mailbox.message()
    assert [p.get_filename() for p in message.iter_attachments()] == ["sales.html"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "sales.pdf" in text and "too large to attach" in text
    assert "https://dap.example.com/dap/reports/runs/7/sales.pdf" in text


def test_a_recipient_outside_the_allowed_domains_is_refused(
    mailbox: Mailbox, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    settings = _settings(tmp_path, smtp[1])
    with pytest.raises(DeliveryRefused) as caught:
        send_mail(settings, ["ann@example.com", "leak@evil.io"], "Sales", "data")
    assert "leak@evil.io" in str(caught.value)
    assert mailbox.envelopes == [] and mailbox.rcpt_calls == 0  # nothing left the service


@pytest.mark.parametrize(
    "bad",
    [
        "ann",
        "ann@",
        "@example.com",
        "a@b@example.com",
        "Ann <ann@example.com>",
        "ann@example.com, leak@evil.io",
        "ann@example.com\r\nBcc: leak@evil.io",
        "ann@example.com\nleak@evil.io",
        '"ann"@example.com',
        "ann@sub.example.com",  # a subdomain is another domain
        "ann@example.com.evil.io",
        "ann@example.com.",
        "ann@exa_mple.com",
    ],
)
def test_what_is_not_one_allowed_address_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(DeliveryRefused):
        check_recipients(_settings(tmp_path, 25), [bad])


def test_recipients_are_normalised_and_any_domain_when_none_listed(tmp_path: Path) -> None:
    settings = _settings(tmp_path, 25, mail_domains=())
    assert check_recipients(settings, [" Ann@Example.COM ", "ann@example.com", "x@other.org"]) == [
        "Ann@example.com",
        "ann@example.com",
        "x@other.org",
    ]
    assert check_recipients(settings, "Bob@Corp.example.net") == ["Bob@corp.example.net"]
    with pytest.raises(DeliveryRefused):
        check_recipients(settings, [f"u{i}@example.com" for i in range(51)])


def test_a_subject_cannot_add_headers(
    mailbox: Mailbox, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    settings = _settings(tmp_path, smtp[1])
    send_mail(settings, "ann@example.com", "Sales\r\nBcc: leak@example.com", "text")
    assert mailbox.envelopes[0].rcpt_tos == ["ann@example.com"]
    message = mailbox.message()
    assert message["Bcc"] is None
    assert message["Subject"] == "Sales Bcc: leak@example.com"


def test_a_recipient_the_server_refuses_is_not_retried(
    mailbox: Mailbox, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox.refuse.add("gone@example.com")
    settings = _settings(tmp_path, smtp[1])
    with pytest.raises(DeliveryFailed) as caught:
        send_mail(settings, "gone@example.com", "Sales", "text", attempts=3, backoff_s=0)
    assert "gone@example.com" in str(caught.value)
    assert mailbox.rcpt_calls == 1  # one try: a refusal is an answer, not an outage
    assert mailbox.envelopes == []


def test_a_wrong_password_fails_without_showing_it(
    mailbox: Mailbox, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    settings = _settings(tmp_path, smtp[1], smtp_user="reporter", smtp_password=PASSWORD + "x")
    with pytest.raises(DeliveryFailed) as caught:
        send_mail(settings, "ann@example.com", "Sales", "text", attempts=3, backoff_s=0)
    assert "login" in str(caught.value)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    # one session, not retried: smtplib tries PLAIN then LOGIN in it, 3 tries would make 6
    assert len(mailbox.logins) == 2 and mailbox.envelopes == []


class _Hangup(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.accepted += 1  # type: ignore[attr-defined]


@pytest.fixture
def hangup_server() -> Iterator[tuple[socketserver.ThreadingTCPServer, int]]:
    """Takes connections and closes them at once: a mail server that is going down."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Hangup)
    server.accepted = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_drops_the_line_is_retried_then_fails(
    hangup_server: tuple[socketserver.ThreadingTCPServer, int], tmp_path: Path
) -> None:
    server, port = hangup_server
    settings = _settings(tmp_path, port, smtp_user="reporter", smtp_password=PASSWORD)
    with pytest.raises(DeliveryFailed) as caught:
        send_mail(settings, "ann@example.com", "Sales", "text", attempts=3, backoff_s=0)
    assert server.accepted == 3  # type: ignore[attr-defined]
    text = str(caught.value)
    assert "after 3 tries" in text and "\n" not in text
    assert PASSWORD not in text and PASSWORD not in repr(caught.value)


def test_a_server_that_is_down_fails_after_the_tries(tmp_path: Path) -> None:
    settings = _settings(tmp_path, _free_port(), smtp_user="reporter", smtp_password=PASSWORD)
    with pytest.raises(DeliveryFailed) as caught:
        send_mail(settings, "ann@example.com", "Sales", "text", attempts=2, backoff_s=0)
    assert "after 2 tries" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_no_mail_server_configured_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(DeliveryFailed, match="DAP_SMTP_HOST"):
        send_mail(Settings(home=tmp_path), "ann@example.com", "Sales", "text")


# -- real HTTP servers for webhooks --------------------------------------------------------


class Hook:
    """A webhook receiver on 127.0.0.1: records requests, answers from a script of replies."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.replies: list[tuple[int, dict[str, str]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.requests.append((self.path, dict(self.headers.items()), body))
                status, headers = hook.replies.pop(0) if hook.replies else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook/T0KEN-secret") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def other_hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def _hook_settings(tmp_path: Path, *hosts: str) -> Settings:
    return Settings(home=tmp_path, webhook_hosts=hosts)


def test_a_signed_webhook_arrives_with_its_payload(hook: Hook, tmp_path: Path) -> None:
    payload = {"event": "run.succeeded", "run_id": 7}
    post_webhook(_hook_settings(tmp_path, "127.0.0.1"), hook.url(), payload, signing_key=b"k3y")
    [(path, headers, body)] = hook.requests
    assert path == "/hook/T0KEN-secret"
    assert json.loads(body) == payload
    assert headers["Content-Type"] == "application/json"
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert headers["X-DAP-Signature"] == f"sha256={expected}"


def test_an_unsigned_webhook_has_no_signature(hook: Hook, tmp_path: Path) -> None:
    post_webhook(_hook_settings(tmp_path, "127.0.0.1"), hook.url(), {"a": 1})
    [(_, headers, _)] = hook.requests
    assert "X-DAP-Signature" not in headers


def test_a_server_error_is_retried(hook: Hook, tmp_path: Path) -> None:
    hook.replies = [(500, {}), (200, {})]
    post_webhook(_hook_settings(tmp_path, "127.0.0.1"), hook.url(), {"a": 1}, backoff_s=0)
    assert len(hook.requests) == 2


def test_a_webhook_failing_every_try_fails_without_its_secret_path(
    hook: Hook, tmp_path: Path
) -> None:
    hook.replies = [(503, {})] * 3
    with pytest.raises(DeliveryFailed) as caught:
        post_webhook(
            _hook_settings(tmp_path, "127.0.0.1"), hook.url(), {"a": 1}, attempts=3, backoff_s=0
        )
    assert len(hook.requests) == 3
    assert "503" in str(caught.value) and f"127.0.0.1:{hook.port}" in str(caught.value)
    assert "T0KEN-secret" not in str(caught.value)


def test_a_refusal_by_the_receiver_is_not_retried(hook: Hook, tmp_path: Path) -> None:
    hook.replies = [(403, {})]
    with pytest.raises(DeliveryFailed, match="403"):
        post_webhook(_hook_settings(tmp_path, "127.0.0.1"), hook.url(), {"a": 1}, backoff_s=0)
    assert len(hook.requests) == 1


def test_a_redirect_is_not_followed(hook: Hook, other_hook: Hook, tmp_path: Path) -> None:
    # even to a host on the list: the list names where the owner may point, not where a
    # receiver may send DAP on to
    hook.replies = [(302, {"Location": other_hook.url("/internal/admin")})]
    with pytest.raises(DeliveryFailed, match="redirect"):
        post_webhook(_hook_settings(tmp_path, "127.0.0.1"), hook.url(), {"a": 1}, backoff_s=0)
    assert len(hook.requests) == 1
    assert other_hook.requests == []


def test_a_host_not_on_the_list_is_refused(hook: Hook, tmp_path: Path) -> None:
    url = f"http://localhost:{hook.port}/hook"  # the same server, under a name not listed
    with pytest.raises(DeliveryRefused, match="localhost"):
        post_webhook(_hook_settings(tmp_path, "127.0.0.1"), url, {"a": 1})
    with pytest.raises(DeliveryRefused, match="not enabled"):
        post_webhook(_hook_settings(tmp_path), hook.url(), {"a": 1})
    assert hook.requests == []


def test_credentials_in_the_url_are_refused(hook: Hook, tmp_path: Path) -> None:
    url = f"http://user:pw-in-url@127.0.0.1:{hook.port}/hook"
    with pytest.raises(DeliveryRefused) as caught:
        post_webhook(_hook_settings(tmp_path, "127.0.0.1"), url, {"a": 1})
    assert "pw-in-url" not in str(caught.value)
    assert hook.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://hooks.example.com/x",
        "javascript:alert(1)",
        "gopher://hooks.example.com:70/",
        "https://hooks.example.com.evil.io/x",
        "https://evil.io/#@hooks.example.com",
        "https://evil.io?@hooks.example.com",
        "https://hooks.example.com\\@evil.io/",
        "https://evil.io\\@hooks.example.com/",
        "https://hooks.example.com@evil.io/",
        "https://evil.io@hooks.example.com/",
        "https://hooks.example.com:8443/x",  # the list names one port only
        "https:///x",
        "https://hooks.example.com /x",
        "https://hooks.example.com:99999/",
        "https://%68ooks.example.com/",
    ],
)
def test_a_webhook_cannot_be_pointed_elsewhere(tmp_path: Path, url: str) -> None:
    with pytest.raises(DeliveryRefused):
        check_webhook(_hook_settings(tmp_path, "hooks.example.com:443"), url)


def test_allowed_webhooks_pass_the_check(tmp_path: Path) -> None:
    settings = _hook_settings(tmp_path, "hooks.example.com", "10.0.0.5:8080")
    assert check_webhook(settings, "https://hooks.example.com/x?y=1") == (
        "https://hooks.example.com/x?y=1"
    )
    assert check_webhook(settings, "HTTP://Hooks.Example.com:8443/x")
    assert check_webhook(settings, "http://10.0.0.5:8080/hook")
    with pytest.raises(DeliveryRefused):
        check_webhook(settings, "http://10.0.0.5:8081/hook")
    with pytest.raises(DeliveryRefused):
        check_webhook(settings, "http://10.0.0.5/hook")  # port 80, not the one listed
    one_port = _hook_settings(tmp_path, "hooks.example.com:443", "[::1]:8080")
    assert check_webhook(one_port, "https://hooks.example.com/x")  # 443 implied
    assert check_webhook(one_port, "https://hooks.example.com:443/x")
    assert check_webhook(one_port, "http://[::1]:8080/x")
    with pytest.raises(DeliveryRefused):
        check_webhook(one_port, "http://hooks.example.com/x")  # port 80


def test_a_webhook_that_cannot_be_reached_fails_after_the_tries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hook/T0KEN-secret"
    with pytest.raises(DeliveryFailed) as caught:
        post_webhook(_hook_settings(tmp_path, "127.0.0.1"), url, {"a": 1}, backoff_s=0)
    assert "after 3 tries" in str(caught.value)
    assert "T0KEN-secret" not in str(caught.value)


# -- what the messages say -----------------------------------------------------------------

DUE = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)


def _report(**extra: Any) -> ReportInfo:
    options: dict[str, Any] = {
        "schedule_name": "Sales <weekly>",
        "run_id": 42,
        "owner": "ann",
        "due_at": DUE,
        "status": "succeeded",
        "duration_s": 12.5,
        "parameters": {"region": "south", "secret_token": "param-value-xyz"},
        "output_links": {
            "pdf": "https://dap.example.com/dap/reports/runs/42/sales.pdf",
            "ipynb": "https://dap.example.com/dap/reports/runs/42/sales.ipynb",
        },
    }
    options.update(extra)
    return ReportInfo(**options)


def test_the_success_mail_tells_when_with_what_and_where() -> None:
    composed = success_message(_report())
    assert composed.subject == "[DAP] Sales <weekly>: report of 2026-03-02 07:00 UTC"
    assert "region=south" in composed.text and "12.5 s" in composed.text
    assert "https://dap.example.com/dap/reports/runs/42/sales.pdf" in composed.text
    assert "Sales &lt;weekly&gt;" in composed.html and "<weekly>" not in composed.html
    assert 'href="https://dap.example.com/dap/reports/runs/42/sales.pdf"' in composed.html


def test_the_failure_mail_shows_the_failing_cell() -> None:
    failed = FailedCell(
        index=3,
        execution_count=4,
        source='check(region)\nraise ValueError("<no data>")',
        ename="ValueError",
        evalue="no data for atlantis",
        traceback="\n".join([f"frame {i}" for i in range(50)] + ["ValueError: no data"]),
    )
    report = _report(status="failed", error="the notebook raised ValueError", attempt=2)
    composed = failure_message(report, failed)
    assert composed.subject.startswith("[DAP] FAILED: Sales <weekly>")
    text = composed.text
    assert "the notebook raised ValueError" in text
    assert "cell 4 (In [4])" in text and "check(region)" in text
    assert "ValueError: no data for atlantis" in text
    assert "frame 49" in text and "frame 10" not in text  # the end of the traceback
    assert "Attempt: 2" in text
    assert "https://dap.example.com/dap/reports/runs/42/sales.ipynb" in text
    assert "&lt;no data&gt;" in composed.html and "<no data>" not in composed.html


def test_a_failure_without_a_cell_or_notebook_still_says_what_happened() -> None:
    report = _report(status="failed", error="timed out after 600 s", output_links={})
    composed = failure_message(report, None)
    assert "timed out after 600 s" in composed.text
    assert "not kept" in composed.text


def test_the_webhook_payload_holds_ids_and_links_not_contents() -> None:
    report = _report(status="failed", error="KeyError: 'customer 123 owes 5000'")
    payload = webhook_payload(report)
    encoded = json.dumps(payload)  # JSON-able as it is
    assert payload["event"] == "run.failed"
    assert payload["run_id"] == 42 and payload["status"] == "failed"
    assert payload["due_at"] == "2026-03-02T07:00:00+00:00"
    assert payload["links"]["pdf"].endswith("/sales.pdf")
    assert "customer 123" not in encoded and "param-value-xyz" not in encoded
    assert webhook_payload(_report())["event"] == "run.succeeded"


# -- STARTTLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mailbox, int, Path]]:
    """A mail server that requires STARTTLS, with a self-signed certificate for 127.0.0.1."""
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    box = Mailbox()
    port = _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=box.authenticate,
    )
    controller.start()
    try:
        yield box, port, cert_file
    finally:
        controller.stop()


def test_starttls_and_login_when_configured(
    tls_smtp: tuple[Mailbox, int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, port, cert = tls_smtp
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test server's certificate
    settings = _settings(
        tmp_path, port, smtp_starttls=True, smtp_user="reporter", smtp_password=PASSWORD
    )
    send_mail(settings, "ann@example.com", "Over TLS", "text")
    assert box.logins[-1] == ("reporter", PASSWORD)
    assert box.message()["Subject"] == "Over TLS"


def test_an_untrusted_certificate_fails_at_once(
    tls_smtp: tuple[Mailbox, int, Path], tmp_path: Path
) -> None:
    box, port, _ = tls_smtp
    before = len(box.logins)
    settings = _settings(
        tmp_path, port, smtp_starttls=True, smtp_user="reporter", smtp_password=PASSWORD
    )
    with pytest.raises(DeliveryFailed) as caught:
        send_mail(settings, "ann@example.com", "Sales", "text", attempts=3, backoff_s=0)
    assert "certificate" in str(caught.value).lower()
    assert "after 1 try" in str(caught.value)  # not retried: it would not get better
    assert PASSWORD not in str(caught.value)
    assert len(box.logins) == before  # the password was never sent


def test_a_server_requiring_tls_refuses_plain_mail(
    tls_smtp: tuple[Mailbox, int, Path], tmp_path: Path
) -> None:
    box, port, _ = tls_smtp
    sent = len(box.envelopes)
    with pytest.raises(DeliveryFailed, match="STARTTLS"):
        send_mail(_settings(tmp_path, port), "ann@example.com", "Sales", "text", backoff_s=0)
    assert len(box.envelopes) == sent
