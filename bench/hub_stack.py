"""The multi-user deployment that ``bench/hub_load.py`` measures, started on loopback.

The same pieces as ``tests/e2e/hub_deploy.py`` (an OpenID provider, JupyterHub with
configurable-http-proxy from ``hub_config/jupyterhub_config.py``, the DAP service as the system
user ``dap-svc``), with two differences that let it hold hundreds of users:

* **Servers as root.** ``DAP_HUB_SPAWNER=simple``: every user's Jupyter server runs as the
  hub's user (root, ``--allow-root``) in a home under the temporary folder, so the bench needs
  no system user per hub user. What is measured (the hub, the proxy, a server's start and its
  memory) is the same; the isolation between users is not, and is not what is measured.
* **The provider knows every user.** Their claims (``preferred_username``, ``groups``,
  ``region``) are put to ``oidc-provider-mock`` over its ``PUT /users/{sub}`` (as an IdP admin
  would); the hub learns of each user at their first login.

Needs root, like the tests that start the deployment: it creates ``dap-svc`` (once) and hands
the DAP home to it. Everything is stopped at the end, also on errors: the hub (which stops the
DAP service, the proxy and the user servers), then whatever of its descendants is left, by pid.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.hub_deploy import SERVICE_USER, ensure_system_user, grant_traverse  # noqa: E402

VENV_BIN = Path(sys.executable).parent
NO_UPDATES = "jupyterlab.NeverCheckForUpdate"  # user servers never ask the internet
DRIVER = "bench-driver"  # the hub service this bench calls the hub API as
DRIVER_SCOPES = ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """Where each piece of a running deployment answers, and its processes."""

    root: Path
    url: str  # the proxy: what users see
    hub_api: str  # the hub's own API port (what the DAP service asks about tokens)
    service_direct: str  # the DAP service on its own port (its base URL is /services/dap)
    provider: str
    driver_token: str
    hub: subprocess.Popen[bytes]
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def service_proxied(self) -> str:
        return f"{self.url}/services/dap"

    def driver_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.driver_token}"}

    def processes(self) -> list[psutil.Process]:
        try:
            return [psutil.Process(self.hub.pid), *psutil.Process(self.hub.pid).children(True)]
        except psutil.NoSuchProcess:
            return []

    def find(self, needle: str) -> psutil.Process | None:
        """The hub's descendant whose command line contains ``needle`` (first found)."""
        for proc in self.processes()[1:]:
            with suppress(psutil.Error):
                if any(needle in part for part in proc.cmdline()):
                    return proc
        return None

    def servers(self) -> dict[str, psutil.Process]:
        """Running single-user servers by user name (from each process's environment)."""
        found: dict[str, psutil.Process] = {}
        for proc in self.processes()[1:]:
            with suppress(psutil.Error):
                if any("jupyterhub-singleuser" in part for part in proc.cmdline()):
                    found[proc.environ().get("JUPYTERHUB_USER", str(proc.pid))] = proc
        return found

    def log_size(self) -> int:
        return self.logs["hub"].stat().st_size

    def access_log(self, start: int, end: int) -> list[dict[str, Any]]:
        """The DAP service's JSON access-log lines (it writes to the hub's output) in a span."""
        with self.logs["hub"].open("rb") as f:
            f.seek(start)
            data = f.read(end - start)
        records = []
        for line in data.splitlines():
            if line.startswith(b'{"event": "request"'):
                with suppress(json.JSONDecodeError):
                    records.append(json.loads(line))
        return records

    def log_tail(self, name: str = "hub", chars: int = 4000) -> str:
        with suppress(OSError):
            return self.logs[name].read_text(errors="replace")[-chars:]
        return ""


def _own(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


def _wait(url: str, process: subprocess.Popen[bytes], what: str, log: Path, s: float) -> float:
    started = time.monotonic()
    while True:
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return time.monotonic() - started
        if process.poll() is not None or time.monotonic() - started > s:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-6000:]}")
        time.sleep(0.3)


def stop_tree(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM ``process`` (it stops its own children), then SIGKILL what is left, by pid."""
    try:
        left = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        left = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    _, alive = psutil.wait_procs(left, timeout=5)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()


@contextmanager
def hub_stack(
    root: Path, home: Path, claims: dict[str, dict[str, Any]], dap_env: dict[str, str]
) -> Iterator[Stack]:
    """Start the provider (knowing ``claims`` by user), the hub and DAP over ``home``."""
    ensure_system_user(SERVICE_USER, system=True)
    for path in (REPO, VENV_BIN, Path(os.path.realpath(sys.executable)), Path(sys.base_prefix)):
        grant_traverse(path if path.is_dir() else path.parent, [SERVICE_USER])
    root.chmod(0o711)
    _own(home, SERVICE_USER)
    logs: dict[str, Path] = {}
    with ExitStack() as stack:

        def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
            logs[name] = root / f"{name}.log"
            with logs[name].open("wb") as log:
                process = subprocess.Popen(
                    args,
                    env=env,
                    cwd=root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches this script, which stops them
                )
            stack.callback(stop_tree, process, 60)
            return process

        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTER"))}
        base_env["PATH"] = f"{VENV_BIN}:{base_env.get('PATH', '')}"
        provider = f"http://127.0.0.1:{free_port()}"
        oidc = start(
            "oidc", [str(VENV_BIN / "oidc-provider-mock"), f"--port={provider.split(':')[-1]}"],
            base_env,
        )  # fmt: skip
        _wait(
            f"{provider}/.well-known/openid-configuration", oidc, "the provider", logs["oidc"], 30
        )
        with httpx.Client(base_url=provider, timeout=30) as http:
            for name, user_claims in claims.items():
                http.put(f"/users/{name}", json=user_claims).raise_for_status()

        port, api_port, service_port = free_port(), free_port(), free_port()
        driver_token = secrets.token_hex(16)
        hub_env = {
            **base_env,
            **dap_env,
            "DAP_HOME": str(home),
            "DAP_HUB_AUTH": "generic-oauth",
            "DAP_OIDC_ISSUER": provider,
            "OAUTH_CLIENT_ID": "dap-hub",
            "OAUTH_CLIENT_SECRET": secrets.token_hex(8),
            "DAP_HUB_SPAWNER": "simple",
            "DAP_SERVICE_USER": SERVICE_USER,
            "DAP_HUB_STATE": str(root / "hub-state"),
            "DAP_HUB_PORT": str(port),
            "DAP_HUB_API_PORT": str(api_port),
            "DAP_PROXY_API_PORT": str(free_port()),
            "DAP_SERVICE_PORT": str(service_port),
            "DAP_HUB_SPAWNER_ARGS": f"--LabApp.check_for_updates_class={NO_UPDATES}",
            "DAP_HUB_EXTRA_SERVICES_JSON": json.dumps(
                [{"name": DRIVER, "api_token": driver_token}]
            ),
            "DAP_HUB_EXTRA_ROLES_JSON": json.dumps(
                [{"name": DRIVER, "scopes": DRIVER_SCOPES, "services": [DRIVER]}]
            ),
        }
        (root / "homes").mkdir()
        config = REPO / "hub_config" / "jupyterhub_config.py"
        hub = start(
            "hub",
            [sys.executable, "-m", "jupyterhub", "-f", str(config),
             # the simple spawner's homes (default /tmp/{username}) inside the temporary folder
             f"--SimpleLocalProcessSpawner.home_dir_template={root}/homes/{{username}}"],
            hub_env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/services/dap/dap/api/v1/health", hub, "JupyterHub with DAP", logs["hub"], 180)
        yield Stack(
            root=root,
            url=url,
            hub_api=f"http://127.0.0.1:{api_port}/hub/api",
            service_direct=f"http://127.0.0.1:{service_port}/services/dap",
            provider=provider,
            driver_token=driver_token,
            hub=hub,
            logs=logs,
        )
