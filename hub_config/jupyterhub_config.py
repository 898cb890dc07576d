"""JupyterHub with DAP as a hub service.

The DAP service (``dap serve``) runs under the hub, owns the lake, the metadata and the secrets,
and authenticates users through the hub: user kernels reach data only with their hub token
(``JUPYTERHUB_API_TOKEN``, picked up by ``dap_kernel.client``) and the service URL.

Everything site-specific comes from the environment, so the same file serves a laptop trial,
the tests and production:

- ``DAP_HUB_AUTH``: ``dummy`` (any password; trials and tests) or ``generic-oauth`` (OIDC SSO;
  configure ``GenericOAuthenticator`` through ``OAUTH_*`` / ``OAUTH2_*`` env or an extra config).
- ``DAP_HUB_IP`` / ``DAP_HUB_PORT``: where the proxy listens (default 127.0.0.1:8000).
- ``DAP_SERVICE_PORT``: the DAP service's port (default 8890); ``DAP_HOME`` / ``DAP_META_URL``:
  its workspace.
- ``DAP_HUB_STATE``: folder for the hub's database and cookie secret.
- ``DAP_HUB_EXTRA_SERVICES_JSON``: extra services as JSON (the tests add an API client).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub

here = Path(__file__).resolve().parent
state = Path(os.environ.get("DAP_HUB_STATE", here / "state"))
state.mkdir(parents=True, exist_ok=True)

c.JupyterHub.ip = os.environ.get("DAP_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("DAP_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("DAP_HUB_API_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('DAP_PROXY_API_PORT', '8001')}"
proxy = here / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(proxy) if proxy.exists() else "configurable-http-proxy"]

# -- who may log in -----------------------------------------------------------------------------
auth = os.environ.get("DAP_HUB_AUTH", "dummy")
if auth == "dummy":
    c.JupyterHub.authenticator_class = "dummy"
elif auth == "generic-oauth":
    c.JupyterHub.authenticator_class = "generic-oauth"
    c.GenericOAuthenticator.username_claim = os.environ.get("DAP_OAUTH_USERNAME_CLAIM", "sub")
    c.GenericOAuthenticator.manage_groups = True  # hub groups from the IdP's groups claim
else:
    raise ValueError(f"DAP_HUB_AUTH={auth!r}: use dummy or generic-oauth")
c.Authenticator.allow_all = True

# -- user servers: JupyterLab with DAP, pointed at the service ----------------------------------
c.JupyterHub.spawner_class = "simple"
if os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]

# -- the DAP service ----------------------------------------------------------------------------
service_port = int(os.environ.get("DAP_SERVICE_PORT", "8890"))
service_url = f"http://127.0.0.1:{service_port}"
dap = shutil.which("dap") or str(Path(sys.executable).parent / "dap")
service_env = {k: v for k, v in os.environ.items() if k.startswith("DAP_") or k == "PATH"}
c.JupyterHub.services = [
    {
        "name": "dap",
        "url": service_url,
        "command": [dap, "serve", f"--port={service_port}"],
        "environment": service_env,
        "oauth_no_confirm": True,
        "display": True,
    },
    *json.loads(os.environ.get("DAP_HUB_EXTRA_SERVICES_JSON", "[]")),
]
# Kernels reach data only through the service, with the user's own hub token.
c.Spawner.environment = {"DAP_SERVICE_URL": f"{service_url}/services/dap"}

# Every user may call the DAP service (what they may *read* there is DAP's grants' business).
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", "access:services!service=dap"]},
    *json.loads(os.environ.get("DAP_HUB_EXTRA_ROLES_JSON", "[]")),
]
