"""DAP as a service of a real JupyterHub: users come in with their hub tokens.

The hub (hub_config/jupyterhub_config.py, dummy authenticator) starts `dap serve` itself, as in a
deployment. A test driver, registered as a hub service with the right to mint user tokens, gets
a token for ann and one for bob; the DAP service asks the hub who they are.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dap_kernel.errors import QueryRefused
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession
from tests.conftest import _free_port, make_governed, stop_process

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Hub:
    url: str  # the proxy: what users see
    service: str  # the DAP service behind the proxy
    tokens: dict[str, str]  # hub tokens by user name


def _mint(hub_url: str, driver_token: str, user: str, scopes: list[str]) -> str:
    auth = {"Authorization": f"token {driver_token}"}
    api = f"{hub_url}/hub/api"
    httpx.post(f"{api}/users/{user}", headers=auth, timeout=30)  # 201, or 409 if it exists
    reply = httpx.post(
        f"{api}/users/{user}/tokens", headers=auth, json={"scopes": scopes}, timeout=30
    )
    reply.raise_for_status()
    return str(reply.json()["token"])


@pytest.fixture(scope="module")
def hub(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    proxy = REPO / "hub_config" / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        pytest.fail("configurable-http-proxy is missing: run `make setup` (it runs npm ci there)")
    root = tmp_path_factory.mktemp("hub")
    home = root / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    ws.close()
    port, driver_token = _free_port(), secrets.token_hex(16)
    driver = {"name": "test-driver", "api_token": driver_token}
    role = {"name": "test-driver", "scopes": ["admin:users", "tokens"], "services": ["test-driver"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update(
        {
            "DAP_HOME": str(home),
            "DAP_USER": "tester",
            "DAP_HUB_STATE": str(root / "state"),
            "DAP_HUB_PORT": str(port),
            "DAP_HUB_API_PORT": str(_free_port()),
            "DAP_PROXY_API_PORT": str(_free_port()),
            "DAP_SERVICE_PORT": str(_free_port()),
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
    url = f"http://127.0.0.1:{port}"
    service = f"{url}/services/dap"
    try:
        deadline = time.monotonic() + 90
        while True:  # ready when the proxy routes to a healthy DAP service
            try:
                if httpx.get(f"{service}/dap/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterHub with DAP did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        tokens = {
            "ann": _mint(url, driver_token, "ann", ["access:services!service=dap"]),
            "bob": _mint(url, driver_token, "bob", ["access:services!service=dap"]),
            "ann-no-access": _mint(url, driver_token, "ann", ["read:users:name!user=ann"]),
        }
        yield Hub(url=url, service=service, tokens=tokens)
    finally:
        stop_process(process, grace_s=20)


def test_hub_users_are_dap_principals(hub: Hub) -> None:
    me = httpx.get(
        f"{hub.service}/dap/api/v1/whoami",
        headers={"Authorization": f"token {hub.tokens['ann']}"},
        timeout=30,
    )
    assert me.status_code == 200, me.text
    assert me.json()["user"] == "ann" and me.json()["source"] == "hub"


def test_governed_queries_through_the_hub(hub: Hub) -> None:
    with HttpSession(hub.service, hub_token=hub.tokens["ann"], channel="magic") as ann:
        regions = ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list()
        emails = ann.sql("SELECT email FROM customers LIMIT 5")["email"].to_list()
    assert regions == ["EMEA"]
    assert all(e.startswith("***@") for e in emails)
    with HttpSession(hub.service, hub_token=hub.tokens["bob"]) as bob, pytest.raises(QueryRefused):
        bob.sql("SELECT count(*) FROM customers")


def test_without_a_hub_identity_there_is_no_entry(hub: Hub) -> None:
    for headers in (
        {},
        {"Authorization": "token not-a-hub-token"},
        {"Authorization": f"token {hub.tokens['ann-no-access']}"},  # no access to the service
    ):
        reply = httpx.get(f"{hub.service}/dap/api/v1/whoami", headers=headers, timeout=30)
        assert reply.status_code == 401, (headers, reply.text)
        assert reply.json()["error"] == "unauthenticated"
