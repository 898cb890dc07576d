"""JupyterHub with TLS on both of its links that DAP configures: the proxy serves HTTPS to
users, and the DAP service — a hub service with a certificate of its own — is registered and
reached by its https URL (the proxy, the hub's login events and clients all trusting its CA
through the hub's SSL_CERT_FILE).

One hub start (dummy authenticator, hub_config/jupyterhub_config.py as deployed) with a
self-signed certificate for 127.0.0.1 made in the test; no root, no browser.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dap_server.headers import HSTS

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession
from tests.conftest import make_governed
from tests.hub_process import HubProcess, hub_process
from tests.tls_certs import Pair, self_signed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SERVICE_SCOPE = ["access:services!service=dap"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return self_signed(tmp_path_factory.mktemp("hub-tls-cert"))


@pytest.fixture(scope="module")
def hub(
    demo_home: Path, pair: Pair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    root = tmp_path_factory.mktemp("hub-tls")
    home = root / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    ws.close()
    # What an operator gives the hub for a certificate no public CA signed: the system's CAs
    # and this one (a self-signed certificate is its own CA).
    bundle = root / "trust.pem"
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    bundle.write_text(f"{system.read_text() if system.is_file() else ''}\n{pair.cert.read_text()}")
    env = {
        "DAP_DASHBOARDS": "off",
        "DAP_HUB_CULL_TIMEOUT": "0",
        "DAP_HUB_SSL_CERT": str(pair.cert),
        "DAP_HUB_SSL_KEY": str(pair.key),
        "DAP_TLS_CERTFILE": str(pair.cert),
        "DAP_TLS_KEYFILE": str(pair.key),
        "SSL_CERT_FILE": str(bundle),
    }
    scopes = ("admin:users", "tokens", "read:services")
    with hub_process(home, root, env, ca=pair.cert, driver_scopes=scopes) as process:
        yield process


def test_the_proxy_answers_https_to_a_client_trusting_the_certificate(hub: HubProcess) -> None:
    reply = httpx.get(f"{hub.url}/hub/health", verify=hub.verify, timeout=30)
    assert reply.status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{hub.url}/hub/health", timeout=10)  # the default CAs do not know it
    with pytest.raises(httpx.TransportError):  # and there is no plain HTTP on the port
        httpx.get(hub.url.replace("https://", "http://") + "/hub/health", timeout=10)


def test_the_dap_service_is_registered_and_reached_by_https(hub: HubProcess) -> None:
    auth = {"Authorization": f"token {hub.driver_token}"}
    service = httpx.get(
        f"{hub.url}/hub/api/services/dap", headers=auth, verify=hub.verify, timeout=30
    )
    assert service.status_code == 200, service.text
    assert service.json()["url"] == f"https://127.0.0.1:{hub.service_port}"
    # Through the proxy (which verified the service's certificate to get this far) …
    health = httpx.get(f"{hub.url}/services/dap/dap/api/v1/health", verify=hub.verify, timeout=30)
    assert health.status_code == 200 and health.headers["Strict-Transport-Security"] == HSTS
    # … and directly, as kernels reach it: TLS only.
    direct = f"127.0.0.1:{hub.service_port}/services/dap/dap/api/v1/health"
    assert httpx.get(f"https://{direct}", verify=hub.verify, timeout=30).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{direct}", timeout=10)


def test_hub_users_query_through_the_encrypted_links(
    hub: HubProcess, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = hub.mint("ann", SERVICE_SCOPE)
    monkeypatch.setenv("SSL_CERT_FILE", str(pair.cert))  # what the spawner gives kernels
    for url in (
        f"{hub.url}/services/dap",
        f"https://127.0.0.1:{hub.service_port}/services/dap",
    ):
        with HttpSession(url, hub_token=token, channel="magic") as ann:
            assert ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list() == ["EMEA"]


def test_a_login_reaches_dap_over_tls(hub: HubProcess) -> None:
    """The hub posts each login to the service's https URL (trusting it by SSL_CERT_FILE)."""
    with httpx.Client(verify=hub.verify, timeout=30) as browser:
        browser.get(f"{hub.url}/hub/login")
        xsrf = browser.cookies.get("_xsrf", path="/hub/")
        form = {"username": "raj", "password": "any", "_xsrf": xsrf or ""}
        login = browser.post(f"{hub.url}/hub/login", data=form)
    assert login.status_code == 302, login.text[:500]  # signed in: on to their server
    token = hub.mint("raj", SERVICE_SCOPE)
    records = httpx.get(
        f"{hub.url}/services/dap/dap/api/v1/audit",
        params={"action": "login"},
        headers={"Authorization": f"token {token}"},
        verify=hub.verify,
        timeout=30,
    )
    assert records.status_code == 200, records.text
    assert [r["user"] for r in records.json()["records"]] == ["raj"]
    assert "DAP did not record" not in hub.log.read_text()
