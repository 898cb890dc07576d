"""Delivering a run's report: mail (SMTP) and webhooks, and what the messages say.

Both are doors out of the service that the owner of a schedule chooses where to point, so the
administrator's lists decide where they may lead: ``mail_domains`` (recipient domains; empty =
any) and ``webhook_hosts`` (empty = no webhook at all). :func:`check_recipients` and
:func:`check_webhook` are called when a schedule is saved and again by :func:`send_mail` and
:func:`post_webhook` before each delivery, as the lists may have changed since.

A webhook carries what happened and where to read it (ids, status, links), never the report's
contents: the links lead back to DAP, which checks who opens them. Error messages name a
webhook by its scheme and host only, as its path often holds the receiver's secret token, and
never carry the SMTP password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import DapError

if TYPE_CHECKING:
    from ..settings import Settings
    from .outputs import FailedCell

log = logging.getLogger(__name__)
T = TypeVar("T")

DAP_MAIL_MAX_MB = 15.0  # attachments of one mail together at most this; larger ones are linked
MAX_RECIPIENTS = 50
WEBHOOK_TIMEOUT_S = 10.0
SUCCEEDED = frozenset({"succeeded", "success", "ok", "completed"})
MIME_TYPES = {
    ".pdf": ("application", "pdf"),
    ".html": ("text", "html"),
    ".htm": ("text", "html"),
    ".ipynb": ("application", "x-ipynb+json"),
    ".csv": ("text", "csv"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
_URL_BAD = re.compile(r"[\s\\\x00-\x1f\x7f]")


class DeliveryRefused(DapError):
    """A recipient or webhook the administrator's lists do not allow, or not an address."""

    code = "delivery_refused"
    http_status = 403


class DeliveryFailed(DapError):
    """The mail server or webhook could not be reached, or refused the delivery."""

    code = "delivery_failed"
    http_status = 502


# -- where deliveries may go ---------------------------------------------------------------


def check_recipients(settings: Settings, recipients: Iterable[str] | str) -> list[str]:
    """Recipients as plain, lower-case-domain addresses (deduplicated, in order); refused if
    one is not a single email address or its domain is not in ``settings.mail_domains``."""
    if isinstance(recipients, str):
        recipients = [recipients]
    allowed = {d.lower() for d in settings.mail_domains}
    found: list[str] = []
    for raw in recipients:
        address = _address(str(raw))
        domain = address.rpartition("@")[2]
        if allowed and domain not in allowed:
            raise DeliveryRefused(
                f"{address}: reports may only be mailed to {', '.join(settings.mail_domains)}"
            )
        if address not in found:
            found.append(address)
    if len(found) > MAX_RECIPIENTS:
        raise DeliveryRefused(f"at most {MAX_RECIPIENTS} recipients per report")
    return found


def _address(raw: str) -> str:
    text = raw.strip()
    shown = repr(text[:80])
    local, at, domain = text.rpartition("@")
    domain = domain.lower()
    if not at or not _LOCAL.match(local) or len(local) > 64 or not _DOMAIN.match(domain):
        raise DeliveryRefused(f"{shown} is not an email address")
    try:
        Address(addr_spec=f"{local}@{domain}")
    except (ValueError, IndexError):
        raise DeliveryRefused(f"{shown} is not an email address") from None
    return f"{local}@{domain}"


def check_webhook(settings: Settings, url: str) -> str:
    """The webhook URL, if it may be called: http(s), no credentials in it, and its host in
    ``settings.webhook_hosts`` exactly (an entry ``host`` allows any port, ``host:port`` one)."""
    text = str(url).strip()
    if _URL_BAD.search(text) or len(text) > 2000:
        raise DeliveryRefused("the webhook URL holds spaces, backslashes or control characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise DeliveryRefused("a webhook URL must start with https:// or http://")
    if "@" in parts.netloc:
        raise DeliveryRefused("a webhook URL may not hold a user name or password")
    try:
        host, port = (parts.hostname or ""), parts.port
    except ValueError:
        raise DeliveryRefused("the webhook URL has an invalid port") from None
    if not host:
        raise DeliveryRefused("the webhook URL has no host")
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    named = f"[{host}]" if ":" in host else host
    allowed = {h.lower() for h in settings.webhook_hosts}
    if host not in allowed and f"{named}:{port}" not in allowed:
        if not allowed:
            raise DeliveryRefused("webhooks are not enabled here (DAP_WEBHOOK_HOSTS is empty)")
        raise DeliveryRefused(f"webhooks may not call {named}:{port} (allowed: DAP_WEBHOOK_HOSTS)")
    return text


def _site(url: str) -> str:
    """scheme://host[:port] of a URL: what errors may show of it (its path may be a secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


# -- mail ----------------------------------------------------------------------------------


def send_mail(
    settings: Settings,
    to: Iterable[str] | str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Path] = (),
    *,
    links: Mapping[Path, str] | None = None,
    max_mb: float = DAP_MAIL_MAX_MB,
    attempts: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 30.0,
) -> None:
    """Send one mail to ``to`` through ``settings``' SMTP server.

    Attachments beyond ``max_mb`` (together) are left out and linked instead: ``links`` maps
    an attachment to its path under ``settings.public_url``. Connection failures are retried
    (``attempts`` tries, exponential backoff from ``backoff_s``); a refusal by the server is
    not. Raises :class:`DeliveryRefused` (recipients) or :class:`DeliveryFailed`.
    """
    if not settings.smtp_host:
        raise DeliveryFailed("no mail server is configured (DAP_SMTP_HOST)")
    recipients = check_recipients(settings, to)
    if not recipients:
        raise DeliveryRefused("the mail has no recipients")
    message = _message(settings, recipients, subject, text, html, attachments, links, max_mb)
    send = _Counted(lambda: _smtp_send(settings, message, recipients, timeout_s))
    try:
        _retrying(attempts, backoff_s, _smtp_transient, "mail", send)
    except smtplib.SMTPRecipientsRefused as e:
        refused = ", ".join(sorted(e.recipients))
        raise DeliveryFailed(f"the mail server refused {refused}") from None
    except smtplib.SMTPAuthenticationError as e:
        reply = _secret_free(settings, _smtp_reply(e))
        raise DeliveryFailed(f"the mail server refused the login: {reply}") from None
    except (OSError, smtplib.SMTPException) as e:
        reason = _secret_free(settings, _first_line(e))
        if isinstance(e, smtplib.SMTPResponseException) and not _smtp_transient(e):
            reason = _secret_free(settings, _smtp_reply(e))
            raise DeliveryFailed(f"the mail server refused the mail: {reason}") from None
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        raise DeliveryFailed(
            f"mail not sent: {where} failed after {_tries(send.calls)}: {reason}"
        ) from None


def _message(
    settings: Settings,
    recipients: list[str],
    subject: str,
    text: str,
    html_text: str | None,
    attachments: Sequence[Path],
    links: Mapping[Path, str] | None,
    max_mb: float,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = _one_line(subject, 200)
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(
        domain=settings.smtp_from.rpartition("@")[2].rstrip(">") or None
    )
    attached, linked = _fit(attachments, links or {}, settings.public_url, max_mb)
    message.set_content(text + _linked_text(linked))
    if html_text is not None:
        message.add_alternative(html_text + _linked_html(linked), subtype="html")
    for path in attached:
        maintype, subtype = MIME_TYPES.get(path.suffix.lower(), ("application", "octet-stream"))
        params = {"charset": "utf-8"} if maintype == "text" else {}
        message.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name, params=params
        )
    return message


def _fit(
    attachments: Sequence[Path], links: Mapping[Path, str], base: str, max_mb: float
) -> tuple[list[Path], list[tuple[Path, float, str]]]:
    """Which attachments fit under the cap (in the order given), and (file, MB, link) of the
    ones that do not."""
    budget = max_mb * 1024 * 1024
    attached: list[Path] = []
    linked: list[tuple[Path, float, str]] = []
    for path in attachments:
        try:
            size = path.stat().st_size
        except OSError as e:
            raise DeliveryFailed(f"cannot attach {path.name}: {e.strerror}") from None
        if size <= budget:
            attached.append(path)
            budget -= size
            continue
        where = links.get(path, "")
        url = f"{base.rstrip('/')}/{where.lstrip('/')}" if where and base else where
        linked.append((path, size / (1024 * 1024), url))
    return attached, linked


def _linked_text(linked: list[tuple[Path, float, str]]) -> str:
    lines = [
        f"- {path.name} ({mb:.1f} MB, too large to attach): {url or 'open it in DAP'}"
        for path, mb, url in linked
    ]
    return "\n\n" + "\n".join(lines) + "\n" if lines else ""


def _linked_html(linked: list[tuple[Path, float, str]]) -> str:
    items = "".join(
        f"<li>{html.escape(path.name)} ({mb:.1f} MB, too large to attach): "
        + (f'<a href="{html.escape(url)}">{html.escape(url)}</a>' if url else "open it in DAP")
        + "</li>"
        for path, mb, url in linked
    )
    return f"<ul>{items}</ul>" if items else ""


def _smtp_send(
    settings: Settings, message: EmailMessage, recipients: list[str], timeout_s: float
) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout_s) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        refused = smtp.send_message(message, from_addr=settings.smtp_from, to_addrs=recipients)
    if refused:  # some took it: not retried, or they would get it twice
        raise smtplib.SMTPRecipientsRefused(refused)


def _smtp_transient(error: BaseException) -> bool:
    """Worth another try: the server could not be reached or dropped the line. Not a refusal
    (recipient, login, content) nor a TLS certificate it failed to prove."""
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(error, smtplib.SMTPException | ssl.SSLError):
        return False
    return isinstance(error, OSError)


def _smtp_reply(error: smtplib.SMTPResponseException) -> str:
    reply = error.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{error.smtp_code} {_one_line(text, 200)}"


def _secret_free(settings: Settings, text: str) -> str:
    if settings.smtp_password:
        text = text.replace(settings.smtp_password, "***")
    return text


# -- webhooks ------------------------------------------------------------------------------


class _Retryable(Exception):
    """A webhook answer worth another try (5xx, 429)."""


def post_webhook(
    settings: Settings,
    url: str,
    payload: Mapping[str, Any],
    *,
    signing_key: bytes | None = None,
    attempts: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = WEBHOOK_TIMEOUT_S,
) -> None:
    """POST ``payload`` as JSON to ``url`` (checked again against ``webhook_hosts``).

    Redirects are not followed (a redirect could lead anywhere). 5xx, 429 and connection
    failures are retried with exponential backoff; with ``signing_key`` the body is signed
    (``X-DAP-Signature: sha256=<hex HMAC-SHA256 of the body>``). Raises
    :class:`DeliveryRefused` (URL not allowed) or :class:`DeliveryFailed`.
    """
    import httpx

    target = check_webhook(settings, url)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "DAP-webhook/1"}
    if signing_key is not None:
        digest = hmac.new(signing_key, body, hashlib.sha256).hexdigest()
        headers["X-DAP-Signature"] = f"sha256={digest}"
    site = _site(target)

    def attempt() -> None:
        # trust_env=False: no proxy from the environment, and no .netrc password sent along.
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
            response = client.post(target, content=body, headers=headers)
        status = response.status_code
        if status >= 500 or status == 429:
            raise _Retryable(f"{status} {response.reason_phrase}")
        if 300 <= status < 400:
            raise DeliveryFailed(f"webhook {site} answered {status} (a redirect, not followed)")
        if status >= 400:
            raise DeliveryFailed(
                f"webhook {site} refused the call: {status} {response.reason_phrase}"
            )

    def transient(error: BaseException) -> bool:
        return isinstance(error, _Retryable | httpx.TransportError)

    call = _Counted(attempt)
    try:
        _retrying(attempts, backoff_s, transient, f"webhook {site}", call)
    except (_Retryable, httpx.HTTPError, httpx.InvalidURL) as e:
        reason = _first_line(e).replace(target, site)
        tries = _tries(call.calls)
        raise DeliveryFailed(f"webhook {site} failed after {tries}: {reason}") from None


class _Counted:
    """A call that counts how often it was made (the tries a failure message reports)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self.fn()


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _retrying(
    attempts: int,
    backoff_s: float,
    transient: Callable[[BaseException], bool],
    what: str,
    fn: Callable[[], T],
) -> T:
    """``fn`` with up to ``attempts`` tries on transient errors, exponential backoff."""
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=backoff_s, max=max(backoff_s, 60.0)),
        retry=retry_if_exception(transient),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "%s failed (try %d of %d), retrying", what, state.attempt_number, attempts
        ),
    )
    return retrying(fn)


# -- what the messages say -----------------------------------------------------------------


@dataclass(frozen=True)
class ReportInfo:
    """One run of a schedule, as its messages tell it."""

    schedule_name: str
    run_id: int | str
    owner: str
    due_at: dt.datetime
    status: str
    duration_s: float | None
    parameters: dict[str, Any] = field(default_factory=dict)
    output_links: dict[str, str] = field(default_factory=dict)  # format → URL
    error: str = ""
    attempt: int = 1
    schedule_id: int | str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status.lower() in SUCCEEDED


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


def success_message(report: ReportInfo) -> Composed:
    """The mail of a report that ran: when, how long, with which parameters, its files."""
    name = _one_line(report.schedule_name, 120)
    subject = f"[DAP] {name}: report of {_when(report.due_at)}"
    facts = _facts(report)
    files = [f"  {fmt}: {url}" for fmt, url in report.output_links.items()]
    text = "\n".join(
        [f'The scheduled report "{name}" ran.', "", *facts, "", "Files:", *(files or ["  none"])]
    )
    body = (
        f"<p>The scheduled report <strong>{html.escape(name)}</strong> ran.</p>"
        + _facts_html(facts)
        + _links_html(report.output_links)
    )
    return Composed(subject=subject, text=text + "\n", html=_page(subject, body))


def failure_message(report: ReportInfo, failed: FailedCell | None) -> Composed:
    """The alert of a run that failed: the error, the cell it failed in (its source, the
    exception, the end of the traceback) and a link to the executed notebook."""
    name = _one_line(report.schedule_name, 120)
    subject = f"[DAP] FAILED: {name} ({_when(report.due_at)})"
    facts = _facts(report)
    notebook = report.output_links.get("ipynb", "")
    lines = [f'The scheduled report "{name}" failed.', "", *facts, ""]
    if report.error:
        lines += ["Error:", _indent(report.error), ""]
    body = f"<p>The scheduled report <strong>{html.escape(name)}</strong> failed.</p>"
    body += _facts_html(facts)
    if report.error:
        body += f"<p><strong>Error:</strong></p><pre>{html.escape(report.error)}</pre>"
    if failed is not None:
        where = f"cell {failed.index + 1}" + (
            f" (In [{failed.execution_count}])" if failed.execution_count is not None else ""
        )
        raised = f"{failed.ename}: {failed.evalue}" if failed.evalue else failed.ename
        tail = _last_lines(failed.traceback, 20)
        lines += [f"It failed in {where}:", _indent(failed.source), "", raised, ""]
        if tail:
            lines += ["Traceback (end):", _indent(tail), ""]
        body += (
            f"<p>It failed in <strong>{html.escape(where)}</strong>:</p>"
            f"<pre>{html.escape(failed.source)}</pre>"
            f"<p><strong>{html.escape(raised)}</strong></p>"
        )
        if tail:
            body += f"<pre>{html.escape(tail)}</pre>"
    if notebook:
        lines.append(f"The executed notebook: {notebook}")
        body += f'<p>The executed notebook: <a href="{html.escape(notebook)}">'
        body += f"{html.escape(notebook)}</a></p>"
    else:
        lines.append("The executed notebook was not kept.")
        body += "<p>The executed notebook was not kept.</p>"
    return Composed(subject=subject, text="\n".join(lines) + "\n", html=_page(subject, body))


def webhook_payload(report: ReportInfo) -> dict[str, Any]:
    """What a webhook is told of a run: ids, status, links. Not its contents, parameters or
    error text (which may quote data): the links lead to DAP, which checks who reads them."""
    return {
        "event": "run.succeeded" if report.succeeded else "run.failed",
        "schedule": report.schedule_name,
        "schedule_id": report.schedule_id,
        "run_id": report.run_id,
        "owner": report.owner,
        "status": report.status,
        "due_at": report.due_at.isoformat(),
        "duration_s": report.duration_s,
        "attempt": report.attempt,
        "links": dict(report.output_links),
    }


def _facts(report: ReportInfo) -> list[str]:
    facts = [f"Run: {report.run_id} (owner {report.owner}), due {_when(report.due_at)}"]
    if report.duration_s is not None:
        facts.append(f"Took: {report.duration_s:.1f} s")
    if report.attempt > 1:
        facts.append(f"Attempt: {report.attempt}")
    if report.parameters:
        shown = ", ".join(f"{k}={_shown(v)}" for k, v in report.parameters.items())
        facts.append(f"Parameters: {_one_line(shown, 500)}")
    return facts


def _facts_html(facts: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in facts) + "</ul>"


def _links_html(links: Mapping[str, str]) -> str:
    if not links:
        return "<p>No files were kept.</p>"
    items = "".join(
        f'<li>{html.escape(fmt)}: <a href="{html.escape(url)}">{html.escape(url)}</a></li>'
        for fmt, url in links.items()
    )
    return f"<p>Files:</p><ul>{items}</ul>"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'</head><body style="font-family:sans-serif">{body}</body></html>'
    )


def _when(moment: dt.datetime) -> str:
    zone = moment.tzname() or ""
    return f"{moment:%Y-%m-%d %H:%M} {zone}".strip()


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


def _one_line(text: str, limit: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return _one_line(text.splitlines()[0], 300) if text else type(error).__name__
