"""The secret scan (tests/secretscan.py) catches planted leaks, and lets the rest pass.

Each case runs a small test file in a pytest of its own (pytester, in a subprocess) with
only the plugin loaded, and checks the outcome and that the report never shows the secret.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import secretscan

ROOT = Path(__file__).resolve().parents[2]
SECRET = "planted-S3cret-value-0123"
KEY = "dap_0123456789abcdef_" + "A" * 43

INNER = f"""
import asyncio
import logging
import pytest
from tests import secretscan

SECRET = {SECRET!r}
KEY = {KEY!r}


def test_logged():
    secretscan.register(SECRET)
    logging.getLogger("dap_kernel.somewhere").warning("connecting with %s", SECRET)


def test_printed_key_shape():
    print("your key:", KEY)


def test_password_in_url_on_stderr():
    import sys
    print("postgresql://dap:hunter2-pw@db:5432/shop", file=sys.stderr)


def test_debug_record_of_dap_is_seen():
    secretscan.register(SECRET)
    logging.getLogger("dap_server.api").info("token %s", SECRET)


def test_http_answer():
    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application, RequestHandler

    class Leaky(RequestHandler):
        def get(self):
            self.write({{"key": KEY}})

    async def run():
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(Application([("/leak", Leaky)]))
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        try:
            response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{{port}}/leak")
            assert response.code == 200
        finally:
            server.stop()

    asyncio.run(run())


@pytest.mark.secret_output_ok("shows the key on purpose")
def test_allowed_everywhere():
    print("your key:", KEY)


@pytest.mark.secret_output_ok("only the answer may", where="answer to")
def test_allowed_elsewhere_only():
    print("your key:", KEY)


def test_masked_url_and_absence_pass():
    secretscan.register(SECRET)
    print("postgresql://dap:***@db:5432/shop")
    assert SECRET not in "an answer without it"
"""


@pytest.fixture
def outcome(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makeconftest('pytest_plugins = ["tests.secretscan"]\n')
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")


# The inner run's output (its planted leaks) comes back on this test's stdout.
INNER_OUTPUT = pytest.mark.secret_output_ok("the inner run's planted leaks", where="stdout")


@INNER_OUTPUT
def test_each_planted_leak_fails_its_test_and_no_report_shows_it(
    outcome: pytest.RunResult,
) -> None:
    text = outcome.stdout.str()
    errored = {
        line.split("::")[1].split(" ")[0]
        for line in outcome.outlines
        if line.startswith("ERROR test_inner.py::")
    }
    assert errored == {
        "test_logged",
        "test_printed_key_shape",
        "test_password_in_url_on_stderr",
        "test_debug_record_of_dap_is_seen",
        "test_http_answer",
        "test_allowed_elsewhere_only",
    }, text
    assert "a log record of dap_kernel.somewhere (WARNING)" in text
    assert "a DAP API key dap_… (64 characters), in the HTTP answer to GET /leak" in text
    assert "a password in a URL" in text
    outcome.assert_outcomes(passed=8, errors=6)
    # Where and what kind, never the value (the captured output of the inner tests aside).
    report = [
        line
        for line in outcome.outlines
        if "secret scan" in line or line.lstrip().startswith(("the registered", "a DAP", "a "))
    ]
    assert report
    assert not any(SECRET in line or KEY in line or "hunter2" in line for line in report)


def test_find_redacts_and_ignores_short_values() -> None:
    secretscan.register("short")
    assert secretscan.find("a short word") == []
    assert secretscan.find(f"x {KEY} y") == ["a DAP API key dap_… (64 characters)"]
    assert secretscan.find("postgresql://u@h/db and postgresql://u:***@h/db") == []
