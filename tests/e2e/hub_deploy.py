"""The multi-user deployment, started for real on loopback: an OpenID provider, JupyterHub with
its proxy, the DAP service as its own system user, and user servers as system users of theirs.

Used by the single sign-on tests; everything is torn down by the context manager. It needs
root (it creates system users and hands the DAP home to the service's user) — as the tests and
CI run here.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import _free_port, stop_process

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SERVICE_USER = "dap-svc"
DASHBOARDS_USER = "dap-dash"  # the dashboard host: viewers' kernels, no data of its own


@dataclass(frozen=True)
class Person:
    """A user of the identity provider (and a system user of the same name)."""

    name: str
    groups: tuple[str, ...]
    region: str = ""

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"preferred_username": self.name, "groups": list(self.groups)}
        return {**claims, "region": self.region} if self.region else claims


@dataclass
class Deployment:
    url: str  # the proxy: what users see
    service: str  # the DAP service, through the proxy
    dashboards: str  # the dashboard host, through the proxy
    provider: str  # the OpenID provider
    home: Path  # the DAP home (the service user's, mode 0700)
    driver_token: str  # a hub service allowed to mint user tokens (the tests' API client)
    logs: dict[str, Path] = field(default_factory=dict)

    def set_claims(self, person: Person) -> None:
        """Change what the provider says about ``person`` (as an IdP admin would)."""
        reply = httpx.put(f"{self.provider}/users/{person.name}", json=person.claims())
        assert reply.status_code == 204, reply.text

    def token(self, user: str, scopes: list[str]) -> str:
        """A hub token of ``user`` with ``scopes`` (the user must exist: logged in once, or
        :meth:`register`)."""
        auth = {"Authorization": f"token {self.driver_token}"}
        reply = httpx.post(
            f"{self.url}/hub/api/users/{user}/tokens",
            headers=auth,
            json={"scopes": scopes},
            timeout=30,
        )
        reply.raise_for_status()
        return str(reply.json()["token"])

    def register(self, person: Person) -> None:
        """Make ``person`` a hub user in their groups, as their first login would (so a test
        need not depend on another having signed them in)."""
        auth = {"Authorization": f"token {self.driver_token}"}
        made = httpx.post(f"{self.url}/hub/api/users/{person.name}", headers=auth, timeout=30)
        assert made.status_code in (201, 409), made.text
        for group in person.groups:
            url = f"{self.url}/hub/api/groups/{group}"
            httpx.post(url, headers=auth, timeout=30)  # 201, or 409 when it exists
            joined = httpx.post(
                f"{url}/users", headers=auth, json={"users": [person.name]}, timeout=30
            )
            assert joined.status_code == 200, joined.text

    def log_text(self) -> str:
        return "\n".join(f"== {k}\n{p.read_text()[-6000:]}" for k, p in self.logs.items())


def ensure_system_user(name: str, *, system: bool = False) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        # Jupyter keeps runtime files in its user's home: the service user has one too.
        args = ["useradd", "-m"] + (
            ["--system", "--home-dir", f"/var/lib/{name}"] if system else []
        )
        subprocess.run([*args, "--shell", "/bin/bash", name], check=True)


def grant_traverse(path: Path, users: list[str]) -> None:
    """Let ``users`` reach ``path`` (the checkout and its venv) without opening it to others:
    an ACL entry with the search bit on each ancestor that others cannot search."""
    for folder in [path, *path.parents]:
        if folder.stat().st_mode & 0o001:
            continue
        for user in users:
            subprocess.run(["setfacl", "-m", f"u:{user}:x", str(folder)], check=True)


def _wait(
    url: str,
    process: subprocess.Popen[bytes],
    what: str,
    log: Path,
    s: float,
    ok: tuple[int, ...] = (200,),
) -> None:
    deadline = time.monotonic() + s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            text = log.read_text()
            raise RuntimeError(f"{what} did not start:\n{text[:6000]}\n…\n{text[-3000:]}")
        time.sleep(0.3)


def _own(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


@contextmanager
def deployment(
    home_source: Path, people: list[Person], *, dap_env: dict[str, str]
) -> Iterator[Deployment]:
    """Start the whole deployment over a copy of ``home_source`` (already governed)."""
    for person in people:
        ensure_system_user(person.name)
    ensure_system_user(SERVICE_USER, system=True)
    ensure_system_user(DASHBOARDS_USER, system=True)
    users = [SERVICE_USER, DASHBOARDS_USER, *(p.name for p in people)]
    # The checkout, its venv and the interpreter the venv links to (pyenv keeps it under /root).
    for path in (REPO, VENV_BIN, Path(os.path.realpath(sys.executable)), Path(sys.base_prefix)):
        grant_traverse(path if path.is_dir() else path.parent, users)
    root = Path(tempfile.mkdtemp(prefix="dap-hub-", dir="/tmp"))
    root.chmod(0o711)  # others may pass through to what is theirs, not list it
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        home = root / "dap-home"
        shutil.copytree(home_source, home)
        _own(home, SERVICE_USER)
        logs: dict[str, Path] = {}

        def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
            logs[name] = root / f"{name}.log"
            with logs[name].open("w") as log:
                process = subprocess.Popen(
                    args, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT
                )
            stack.callback(stop_process, process, 20)
            return process

        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTER"))}
        base_env["PATH"] = f"{VENV_BIN}:{base_env.get('PATH', '')}"
        provider_port = _free_port()
        provider = f"http://127.0.0.1:{provider_port}"
        claims = [json.dumps({"sub": p.name, **p.claims()}) for p in people]
        oidc = start(
            "oidc",
            [str(VENV_BIN / "oidc-provider-mock"), f"--port={provider_port}"]
            + [arg for c in claims for arg in ("--user-claims", c)],
            base_env,
        )
        _wait(
            f"{provider}/.well-known/openid-configuration", oidc, "the provider", logs["oidc"], 30
        )

        port, driver_token = _free_port(), secrets.token_hex(16)
        driver = {"name": "test-driver", "api_token": driver_token}
        driver_role = {
            "name": "test-driver",
            "scopes": ["admin:users", "admin:groups", "tokens", "admin:servers"],
            "services": ["test-driver"],
        }
        hub_env = {
            **base_env,
            **dap_env,
            "DAP_HOME": str(home),
            "DAP_HUB_AUTH": "generic-oauth",
            "DAP_OIDC_ISSUER": provider,
            "OAUTH_CLIENT_ID": "dap-hub",
            "OAUTH_CLIENT_SECRET": secrets.token_hex(8),
            "DAP_HUB_SPAWNER": "local",
            "DAP_SERVICE_USER": SERVICE_USER,
            "DAP_DASHBOARDS_USER": DASHBOARDS_USER,
            "DAP_DASHBOARDS_PORT": str(_free_port()),
            "DAP_HUB_STATE": str(root / "hub-state"),
            "DAP_HUB_PORT": str(port),
            "DAP_HUB_API_PORT": str(_free_port()),
            "DAP_PROXY_API_PORT": str(_free_port()),
            "DAP_SERVICE_PORT": str(_free_port()),
            "DAP_HUB_SPAWNER_ARGS": "--LabApp.expose_app_in_browser=True "
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "DAP_HUB_EXTRA_SERVICES_JSON": json.dumps([driver]),
            "DAP_HUB_EXTRA_ROLES_JSON": json.dumps([driver_role]),
        }
        url = f"http://127.0.0.1:{port}"
        hub = start(
            "hub",
            [
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(REPO / "hub_config/jupyterhub_config.py"),
            ],
            hub_env,
        )
        service = f"{url}/services/dap"
        _wait(f"{service}/dap/api/v1/health", hub, "JupyterHub with DAP", logs["hub"], 120)
        dashboards = f"{url}/services/dashboards"
        # Up once it sends a visitor without a hub login to the hub.
        _wait(f"{dashboards}/dap/dashboards", hub, "the dashboard host", logs["hub"], 60, (302,))
        yield Deployment(url, service, dashboards, provider, home, driver_token, logs)
