"""A real JupyterHub (hub_config/jupyterhub_config.py, dummy authenticator) that starts the DAP
service itself, as in a deployment; stopped on exit. No root, no browser: the single sign-on
deployment with system users is tests/e2e/hub_deploy.py.

A test driver, registered as a hub service with the right to mint user tokens, gets tokens for
the users a test needs.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import _free_port, stop_process

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HubProcess:
    url: str  # the proxy: what users see
    service: str  # the DAP service behind the proxy
    service_port: int  # the DAP service itself, on 127.0.0.1
    driver_token: str
    log: Path
    verify: ssl.SSLContext | bool  # what a client trusting the hub's certificate passes

    def mint(self, user: str, scopes: list[str]) -> str:
        """A hub token of ``user`` (made a hub user first if need be) with ``scopes``."""
        auth = {"Authorization": f"token {self.driver_token}"}
        api = f"{self.url}/hub/api"
        # 201, or 409 if the user exists
        httpx.post(f"{api}/users/{user}", headers=auth, verify=self.verify, timeout=30)
        reply = httpx.post(
            f"{api}/users/{user}/tokens",
            headers=auth,
            json={"scopes": scopes},
            verify=self.verify,
            timeout=30,
        )
        reply.raise_for_status()
        return str(reply.json()["token"])


@contextmanager
def hub_process(
    home: Path,
    root: Path,
    env: dict[str, str] | None = None,
    *,
    ca: Path | None = None,
    driver_scopes: tuple[str, ...] = ("admin:users", "tokens"),
) -> Iterator[HubProcess]:
    """The hub over the DAP home ``home`` (already governed), its state in ``root``. ``env``
    adds to the hub's environment; with ``ca`` the proxy serves HTTPS (``env`` names the
    certificate) and is waited for trusting that CA."""
    proxy = REPO / "hub_config" / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        pytest.fail("configurable-http-proxy is missing: run `make setup` (it runs npm ci there)")
    port, service_port, driver_token = _free_port(), _free_port(), secrets.token_hex(16)
    driver = {"name": "test-driver", "api_token": driver_token}
    role = {"name": "test-driver", "scopes": list(driver_scopes), "services": ["test-driver"]}
    hub_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    hub_env.update(
        {
            "DAP_HOME": str(home),
            "DAP_USER": "tester",
            "DAP_HUB_STATE": str(root / "state"),
            "DAP_HUB_PORT": str(port),
            "DAP_HUB_API_PORT": str(_free_port()),
            "DAP_PROXY_API_PORT": str(_free_port()),
            "DAP_SERVICE_PORT": str(service_port),
            "DAP_HUB_EXTRA_SERVICES_JSON": json.dumps([driver]),
            "DAP_HUB_EXTRA_ROLES_JSON": json.dumps([role]),
            "PATH": f"{Path(sys.executable).parent}:{hub_env.get('PATH', '')}",
            **(env or {}),
        }
    )
    log_path = root / "hub.log"
    config = str(REPO / "hub_config/jupyterhub_config.py")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", config],
            env=hub_env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"{'https' if ca else 'http'}://127.0.0.1:{port}"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    service = f"{url}/services/dap"
    try:
        deadline = time.monotonic() + 90
        while True:  # ready when the proxy routes to a healthy DAP service
            try:
                health = f"{service}/dap/api/v1/health"
                if httpx.get(health, verify=verify, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterHub with DAP did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield HubProcess(url, service, service_port, driver_token, log_path, verify)
    finally:
        stop_process(process, grace_s=20)
