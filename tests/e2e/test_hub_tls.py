"""JupyterHub with TLS on both of its links that DAP configures: the proxy serves HTTPS to
users, and the DAP service — a hub service with a certificate of its own — is registered and
reached by its https URL (the proxy, the hub's login events and clients all trusting its CA
through the hub's SSL_CERT_FILE).

One hub start (dummy authenticator, hub_config/jupyterhub_config.py as deployed) with a
self-signed certificate for 127.0.0.1 made in the test; no root, no browser.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dap_server.headers import HSTS

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession
from tests.conftest import _free_port, make_governed, stop_process
from tests.tls_certs import Pair, self_signed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SERVICE_SCOPE = ["access:services!service=dap"]


@dataclass(frozen=True)
class TlsHub:
    url: str  # the proxy, https
    service_port: int  # the DAP service itself, https on 127.0.0.1
    pair: Pair
    driver_token: str
    log: Path

    @property
    def trusting(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pair.cert))

    def token(self, user: str, scopes: list[str]) -> str:
        auth = {"Authorization": f"token {self.driver_token}"}
        api = f"{self.url}/hub/api"
        httpx.post(f"{api}/users/{user}", headers=auth, verify=self.trusting, timeout=30)
        reply = httpx.post(
            f"{api}/users/{user}/tokens",
            headers=auth,
            json={"scopes": scopes},
            verify=self.trusting,
            timeout=30,
        )
        reply.raise_for_status()
        return str(reply.json()["token"])


@pytest.fixture(scope="module")
def hub(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHub]:
    proxy = REPO / "hub_config" / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        pytest.fail("configurable-http-proxy is missing: run `make setup` (it runs npm ci there)")
    root = tmp_path_factory.mktemp("hub-tls")
    pair = self_signed(root / "tls")
    home = root / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    ws.close()
    port, service_port, driver_token = _free_port(), _free_port(), secrets.token_hex(16)
    driver = {"name": "test-driver", "api_token": driver_token}
    role = {
        "name": "test-driver",
        "scopes": ["admin:users", "tokens", "read:services"],
        "services": ["test-driver"],
    }
    # What an operator gives the hub for a certificate no public CA signed: the system's CAs
    # and this one (a self-signed certificate is its own CA).
    bundle = root / "tls" / "trust.pem"
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    bundle.write_text(f"{system.read_text() if system.is_file() else ''}\n{pair.cert.read_text()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update(
        {
            "DAP_HOME": str(home),
            "DAP_USER": "tester",
            "DAP_HUB_STATE": str(root / "state"),
            "DAP_HUB_PORT": str(port),
            "DAP_HUB_API_PORT": str(_free_port()),
            "DAP_PROXY_API_PORT": str(_free_port()),
            "DAP_SERVICE_PORT": str(service_port),
            "DAP_DASHBOARDS": "off",
            "DAP_HUB_CULL_TIMEOUT": "0",
            "DAP_HUB_SSL_CERT": str(pair.cert),
            "DAP_HUB_SSL_KEY": str(pair.key),
            "DAP_TLS_CERTFILE": str(pair.cert),
            "DAP_TLS_KEYFILE": str(pair.key),
            "SSL_CERT_FILE": str(bundle),
            "DAP_HUB_EXTRA_SERVICES_JSON": json.dumps([driver]),
            "DAP_HUB_EXTRA_ROLES_JSON": json.dumps([role]),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        }
    )
    log_path = root / "hub.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(REPO / "hub_config/jupyterhub_config.py"),
            ],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"https://127.0.0.1:{port}"
    trusting = ssl.create_default_context(cafile=str(pair.cert))
    try:
        deadline = time.monotonic() + 90
        while True:  # ready when the proxy routes to a healthy DAP service, over TLS both ways
            try:
                health = f"{url}/services/dap/dap/api/v1/health"
                if httpx.get(health, verify=trusting, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterHub with DAP did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield TlsHub(url, service_port, pair, driver_token, log_path)
    finally:
        stop_process(process, grace_s=20)


def test_the_proxy_answers_https_to_a_client_trusting_the_certificate(hub: TlsHub) -> None:
    reply = httpx.get(f"{hub.url}/hub/health", verify=hub.trusting, timeout=30)
    assert reply.status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{hub.url}/hub/health", timeout=10)  # the default CAs do not know it
    with pytest.raises(httpx.TransportError):  # and there is no plain HTTP on the port
        httpx.get(hub.url.replace("https://", "http://") + "/hub/health", timeout=10)


def test_the_dap_service_is_registered_and_reached_by_https(hub: TlsHub) -> None:
    auth = {"Authorization": f"token {hub.driver_token}"}
    service = httpx.get(
        f"{hub.url}/hub/api/services/dap", headers=auth, verify=hub.trusting, timeout=30
    )
    assert service.status_code == 200, service.text
    assert service.json()["url"] == f"https://127.0.0.1:{hub.service_port}"
    # Through the proxy (which verified the service's certificate to get this far) …
    health = httpx.get(f"{hub.url}/services/dap/dap/api/v1/health", verify=hub.trusting, timeout=30)
    assert health.status_code == 200 and health.headers["Strict-Transport-Security"] == HSTS
    # … and directly, as kernels reach it: TLS only.
    direct = f"127.0.0.1:{hub.service_port}/services/dap/dap/api/v1/health"
    assert httpx.get(f"https://{direct}", verify=hub.trusting, timeout=30).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{direct}", timeout=10)


def test_hub_users_query_through_the_encrypted_links(
    hub: TlsHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = hub.token("ann", SERVICE_SCOPE)
    monkeypatch.setenv("SSL_CERT_FILE", str(hub.pair.cert))  # what the spawner gives kernels
    for url in (f"{hub.url}/services/dap", f"https://127.0.0.1:{hub.service_port}/services/dap"):
        with HttpSession(url, hub_token=token, channel="magic") as ann:
            assert ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list() == ["EMEA"]


def test_a_login_reaches_dap_over_tls(hub: TlsHub) -> None:
    """The hub posts each login to the service's https URL (trusting it by SSL_CERT_FILE)."""
    with httpx.Client(verify=hub.trusting, timeout=30) as browser:
        browser.get(f"{hub.url}/hub/login")
        xsrf = browser.cookies.get("_xsrf", path="/hub/")
        form = {"username": "raj", "password": "any", "_xsrf": xsrf or ""}
        login = browser.post(f"{hub.url}/hub/login", data=form)
    assert login.status_code in (200, 302), login.text[:500]
    token = hub.token("raj", SERVICE_SCOPE)
    records = httpx.get(
        f"{hub.url}/services/dap/dap/api/v1/audit",
        params={"action": "login"},
        headers={"Authorization": f"token {token}"},
        verify=hub.trusting,
        timeout=30,
    )
    assert records.status_code == 200, records.text
    assert [r["user"] for r in records.json()["records"]] == ["raj"]
    assert "DAP did not record" not in hub.log.read_text()
