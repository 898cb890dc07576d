"""A pytest plugin: no secret a test creates may show in its logs, output or HTTP answers.

For every test it scans the captured stdout, stderr and log sections, every log record (at
any level the loggers let through), and every body the in-process Jupyter/DAP server writes
(tornado's ``RequestHandler.write``, so REST tests of ``jp_fetch`` and the ``api`` helper
alike) for:

* values registered as secrets: API keys made by ``ApiKeys.create`` and values put in the
  secret store (both registered automatically), and anything a fixture passes to
  :func:`register`;
* shapes of secrets whatever their origin: DAP API keys (``dap_<16 hex>_<43 url-safe>``),
  PEM private keys, JWT bearer tokens, and URLs with a password in them.

The answer to ``POST …/apikeys`` may show the key the test just made (that is what it is
for). A hit fails the test (as an error in its teardown) with where the value was seen and
the value redacted. A test that must show a secret on purpose (the one answer that hands out a
new API key) says so with ``@pytest.mark.secret_output_ok("reason", where=REGEX)``: hits
whose place matches ``REGEX`` pass (without ``where``, every hit of the test passes).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

MIN_SECRET = 8  # shorter values (test passwords such as "s") would match everywhere
SCAN_LIMIT = 1 << 20  # bytes of one body or section that are scanned

SHAPES: dict[str, re.Pattern[str]] = {
    "a DAP API key": re.compile(r"\bdap_[0-9a-f]{16}_[A-Za-z0-9_-]{43}"),
    "a PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a JWT bearer token": re.compile(r"Bearer\s+eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    "a password in a URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?!\*\*\*@)[^\s/@'\"]+@", re.IGNORECASE
    ),
}

# The one answer that shows a secret by design: a new API key, once, to whoever created it.
# Only keys made during the test pass there; any other secret in it is still a hit.
HANDS_OUT_KEYS = re.compile(r"^POST \S*/apikeys$")
DAP_LOGGERS = ("dap_kernel", "dap_server", "dap")

_secrets: set[str] = set()


def register(value: str | None) -> None:
    """Treat ``value`` as a secret for the rest of the run (fixtures that make secrets)."""
    if value and len(value) >= MIN_SECRET:
        _secrets.add(value)


def redact(value: str) -> str:
    return f"{value[:4]}… ({len(value)} characters)"


def find(text: str) -> list[str]:
    """What in ``text`` is a secret: registered values and secret shapes (redacted)."""
    text = text[:SCAN_LIMIT]
    found = [f"the registered secret {redact(s)}" for s in _secrets if s in text]
    for name, pattern in SHAPES.items():
        match = pattern.search(text)
        if match:
            found.append(f"{name} {redact(match.group(0))}")
    return found


@dataclass
class _Test:
    """What was seen during one test, by place."""

    hits: list[str] = field(default_factory=list)
    handed_out: set[str] = field(default_factory=set)  # API keys made during the test

    def scan(self, where: str, text: str) -> None:
        self.hits.extend(f"{what}, in {where}" for what in find(text))


_current: list[_Test] = []  # the running test's record (a stack: pytester runs nest)


def seen(where: str, data: Any) -> None:
    """Scan ``data`` (text, bytes or JSON-able) shown at ``where`` during the current test."""
    if not _current:
        return
    if isinstance(data, bytes | bytearray | memoryview):
        text = bytes(data[:SCAN_LIMIT]).decode("utf-8", errors="replace")
    elif isinstance(data, str):
        text = data
    else:
        try:
            text = json.dumps(data, default=str)
        except (TypeError, ValueError):
            text = repr(data)
    _current[-1].scan(where, text)


class _Records(logging.Handler):
    """Every log record, as formatted text plus its arguments."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record that does not format is not ours to judge
            message = str(record.msg)
        if record.exc_text:
            message += "\n" + record.exc_text
        seen(f"a log record of {record.name} ({record.levelname})", message)


def _patch(
    owner: type, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    original = getattr(owner, name)
    if getattr(original, "_secretscan", False):
        return
    wrapped = wrap(original)
    wrapped._secretscan = True  # type: ignore[attr-defined]
    setattr(owner, name, wrapped)


def _install_hooks() -> None:
    """Register the secrets DAP makes, and see what the in-process server writes."""
    from dap_kernel.governance.apikeys import ApiKeys
    from dap_kernel.governance.secrets import SecretStore

    def api_key(create: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = create(*args, **kwargs)
            register(result[1])
            if _current:
                _current[-1].handed_out.add(result[1])
            return result

        return wrapper

    def stored(put: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, name: str, value: str, *args: Any, **kwargs: Any) -> Any:
            register(value)
            return put(self, name, value, *args, **kwargs)

        return wrapper

    _patch(ApiKeys, "create", api_key)
    _patch(SecretStore, "put", stored)
    _patch(SecretStore, "add", stored)
    try:
        from tornado.web import RequestHandler, StaticFileHandler
    except ImportError:  # pragma: no cover - tornado comes with jupyter_server
        return

    def write(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, chunk: Any) -> Any:
            if isinstance(self, StaticFileHandler):  # the lab's bundles: megabytes, no data
                return original(self, chunk)
            request = getattr(self, "request", None)
            where = f"the HTTP answer to {request.method} {request.path}" if request else "HTTP"
            shown = chunk
            if request is not None and HANDS_OUT_KEYS.search(f"{request.method} {request.path}"):
                shown = json.dumps(chunk, default=str) if isinstance(chunk, dict) else chunk
                shown = shown.decode(errors="replace") if isinstance(shown, bytes) else shown
                for key in _current[-1].handed_out if _current else ():
                    shown = shown.replace(key, "<the new key>")
            seen(where, shown)
            return original(self, chunk)

        return wrapper

    _patch(RequestHandler, "write", write)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "secret_output_ok(reason, where=REGEX): the test shows a secret on purpose, where "
        "REGEX matches (tests/secretscan.py lets those places pass)",
    )
    _install_hooks()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    test = _Test()
    _current.append(test)
    handler = _Records(level=logging.NOTSET)
    root = logging.getLogger()
    root.addHandler(handler)
    # DAP's own INFO records too (the root logger's WARNING would drop them unseen).
    quiet = [log for log in map(logging.getLogger, DAP_LOGGERS) if log.level == logging.NOTSET]
    for log in quiet:
        log.setLevel(logging.INFO)
    item.stash[_KEY] = test
    try:
        yield
    finally:
        for log in quiet:
            log.setLevel(logging.NOTSET)
        root.removeHandler(handler)
        _current.remove(test)


_KEY = pytest.StashKey[_Test]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "teardown":
        return
    test = item.stash.get(_KEY, None)
    if test is None:
        return
    for title, content in report.sections:  # captured stdout, stderr and log, every phase
        test.scan(f"the {title.lower()}", content)
    hits = test.hits
    allowed = item.get_closest_marker("secret_output_ok")
    if allowed is not None:
        where = allowed.kwargs.get("where")
        hits = [h for h in hits if where is not None and not re.search(where, h)]
    if not hits or report.failed:  # a failed teardown reports its own error
        return
    places = "\n  ".join(dict.fromkeys(hits))
    report.outcome = "failed"
    report.longrepr = f"secret scan: a secret was shown during {item.nodeid}:\n  {places}"
