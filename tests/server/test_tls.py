"""`dap serve` over TLS on 127.0.0.1, with a self-signed certificate made for the test.

A client trusting the certificate gets answers (health, and a governed query with a key); plain
HTTP to the TLS port and a client that does not trust the certificate get nothing. A pair that
cannot work, and plain HTTP off loopback, stop the start with one line that names no key.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dap_server.headers import HSTS

from dap_kernel.transport import HttpSession
from tests.conftest import Service, _free_port, served, stop_process
from tests.tls_certs import Pair, self_signed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_service(
    demo_home: Path, pair: Pair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    args = (f"--certfile={pair.cert}", f"--keyfile={pair.key}")
    with served(demo_home, tmp_path_factory.mktemp("tls-service"), args, ca=pair.cert) as s:
        yield s


def test_a_client_trusting_the_certificate_is_answered(tls_service: Service, pair: Pair) -> None:
    assert tls_service.url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(pair.cert))
    health = httpx.get(f"{tls_service.url}/dap/api/v1/health", verify=trusting, timeout=30)
    assert health.status_code == 200 and health.json()["ready"] is True
    assert health.headers["Strict-Transport-Security"] == HSTS
    reply = httpx.post(
        f"{tls_service.url}/dap/api/v1/query",
        json={"sql": "SELECT DISTINCT region FROM customers"},
        headers={"Authorization": f"Bearer {tls_service.keys['ann']}"},
        verify=trusting,
        timeout=30,
    )
    assert reply.status_code == 200 and reply.json()["rows"] == [["EMEA"]]
    refused = httpx.get(f"{tls_service.url}/dap/api/v1/catalog", verify=trusting, timeout=30)
    assert refused.status_code == 401  # TLS is no identity
    assert refused.headers["Strict-Transport-Security"] == HSTS


def test_the_dap_client_trusts_what_ssl_cert_file_names(
    tls_service: Service, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a kernel does with DAP_SERVICE_URL=https://…: the standard SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pair.cert))
    with HttpSession(tls_service.url, api_key=tls_service.keys["raj"]) as raj:
        regions = raj.sql("SELECT DISTINCT region FROM customers")["region"].to_list()
    assert regions == ["APAC"]


def test_a_users_server_forwards_to_the_service_over_tls(
    tls_service: Service, pair: Pair, tmp_path: Path
) -> None:
    """A hub user's Jupyter server holds no data: its /dap/api/v1 routes go to the service. With
    DAP_SERVICE_URL=https://… and the CA in SSL_CERT_FILE (what the hub's spawner gives it)."""
    port, token = _free_port(), secrets.token_hex(16)
    config = {
        "ServerApp": {
            "port": port,
            "ip": "127.0.0.1",
            "open_browser": False,
            "allow_root": True,
            "root_dir": str(tmp_path),
            "token": token,
        },
        "DapExtension": {"service_url": tls_service.url},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update(
        {
            "DAP_API_KEY": tls_service.keys["ann"],  # the server's own credential
            "SSL_CERT_FILE": str(pair.cert),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        }
    )
    command = [sys.executable, "-m", "jupyter_server", f"--config={tmp_path / 'config.json'}"]
    log_path = tmp_path / "jupyter.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                me = httpx.get(f"{url}/dap/api/v1/whoami", headers=auth, timeout=5)
                if me.status_code != 503 or time.monotonic() > deadline:
                    break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter server did not start: {log_path}") from None
            time.sleep(0.3)
    finally:
        stop_process(process)
    assert me.status_code == 200, (me.text, log_path.read_text()[-2000:])
    assert me.json()["user"] == "ann" and me.json()["source"] == "apikey"


def test_plain_http_to_the_tls_port_gets_no_answer(tls_service: Service) -> None:
    plain = tls_service.url.replace("https://", "http://")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{plain}/dap/api/v1/health", timeout=10)


def test_a_client_not_trusting_the_certificate_fails_verification(
    tls_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_service.url}/dap/api/v1/health", timeout=10)
    with (  # the standard library's client too
        socket.create_connection(("127.0.0.1", _port(tls_service)), 10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def _port(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


def _run(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    base.update({"DAP_HOME": str(tmp_path / "home"), "JUPYTER_RUNTIME_DIR": str(tmp_path)})
    return subprocess.run(
        args, env={**base, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def test_dap_serve_refuses_a_pair_that_cannot_work_in_one_line(pair: Pair, tmp_path: Path) -> None:
    other = self_signed(tmp_path, "other")
    dap = str(Path(sys.executable).parent / "dap")
    port = f"--port={_free_port()}"
    cases = {
        "no key file": ([f"--certfile={pair.cert}"], {}),
        "no certificate file": ([], {"DAP_TLS_KEYFILE": str(pair.key)}),
        "cannot be read": ([f"--certfile={pair.cert}", f"--keyfile={tmp_path / 'nope.key'}"], {}),
        "does not belong": ([f"--certfile={pair.cert}", f"--keyfile={other.key}"], {}),
        "refusing plain HTTP on 0.0.0.0": (["--ip=0.0.0.0"], {}),
    }
    key_body = pair.key.read_text().splitlines()[1]
    for expected, (args, env) in cases.items():
        result = _run([dap, "serve", port, *args], tmp_path, env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, (expected, result.stderr)
        assert lines[0].startswith("error: ") and expected in lines[0], lines
        assert key_body not in result.stderr + result.stdout
        assert "starting" not in result.stdout


def test_the_service_itself_refuses_them_too(pair: Pair, tmp_path: Path) -> None:
    """`python -m dap_server.service` (a config file, or a hub starting it some other way)
    checks the same before it binds: one critical line, exit status 1."""
    other = self_signed(tmp_path, "other")
    service = [sys.executable, "-m", "dap_server.service", f"--port={_free_port()}"]
    cases = {
        "does not belong": (
            [],
            {"DAP_TLS_CERTFILE": str(pair.cert), "DAP_TLS_KEYFILE": str(other.key)},
        ),
        "refusing plain HTTP on 0.0.0.0": (["--ip=0.0.0.0"], {}),
    }
    for expected, (args, env) in cases.items():
        result = _run([*service, *args], tmp_path, env)
        output = result.stdout + result.stderr
        assert result.returncode == 1, (expected, output)
        assert [line for line in output.splitlines() if expected in line], output
        assert "Traceback" not in output
