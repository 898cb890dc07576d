"""JupyterHub with DAP as a hub service.

The DAP service (``dap serve``) runs under the hub — as its own system user where
``DAP_SERVICE_USER`` says so — owns the lake, the metadata and the secrets, and authenticates
users through the hub. User servers reach data only through it: their kernels with the user's
hub token (``JUPYTERHUB_API_TOKEN``) and ``DAP_SERVICE_URL``, their Lab extension through the
server extension's proxy to the service. The hub tells DAP about logins, refreshes, logouts and
servers (``dap_hub.py``).

Everything site-specific comes from the environment, so the same file serves a laptop trial,
the tests and production:

- ``DAP_HUB_AUTH``: ``dummy`` (any password; trials and tests) or ``generic-oauth`` (OIDC
  single sign-on). For OIDC: ``DAP_OIDC_ISSUER`` (its discovery document gives the URLs;
  or set ``OAUTH2_AUTHORIZE_URL`` / ``OAUTH2_TOKEN_URL`` / ``OAUTH2_USERDATA_URL``),
  ``OAUTH_CLIENT_ID`` / ``OAUTH_CLIENT_SECRET``, ``DAP_OAUTH_USERNAME_CLAIM``
  (``preferred_username``), ``DAP_OAUTH_GROUPS_CLAIM`` (``groups``), ``DAP_OAUTH_SCOPE``,
  ``DAP_HUB_ALLOWED_GROUPS``, ``DAP_ADMIN_GROUPS`` (hub *and* DAP administrators),
  ``DAP_HUB_AUTH_REFRESH_AGE`` (seconds, 300), ``JUPYTERHUB_CRYPT_KEY`` (auth state; made and
  kept in ``DAP_HUB_STATE`` when unset). DAP's own mapping: ``DAP_ROLE_MAP``,
  ``DAP_ATTRIBUTE_CLAIMS`` (see ``dap_kernel.governance.claims``).
- ``DAP_HUB_SPAWNER``: ``simple`` (every server as the hub's user: a trial) or ``local`` (each
  user's server as the system user of the same name, which must exist).
- ``DAP_HUB_SPAWNER_ARGS``: more options for every user's Jupyter server (space-separated).
- ``DAP_SERVICE_USER``: the system user the DAP service runs as (the hub must run as root).
- ``DAP_HUB_IP`` / ``DAP_HUB_PORT``: where the proxy listens (default 127.0.0.1:8000);
  ``DAP_SERVICE_PORT``: the DAP service's port (8890); ``DAP_HOME`` / ``DAP_META_URL``: its
  workspace; ``DAP_HUB_STATE``: the hub's database, cookie secret and keys.
- ``DAP_DASHBOARDS_PORT`` (8891) / ``DAP_DASHBOARDS_USER``: the dashboard host, the service
  ``dashboards`` that serves published dashboards to each viewer as themselves
  (``/services/dashboards/``). With ``DAP_SERVICE_USER`` set it must run as a system user of
  its own (it runs viewers' kernels), so ``DAP_DASHBOARDS_USER`` is then required;
  ``DAP_DASHBOARDS=off`` leaves it out.
- ``DAP_HUB_CULL_TIMEOUT``: seconds idle before a user server is stopped (3600; 0 = never).
- ``DAP_HUB_EXTRA_SERVICES_JSON`` / ``DAP_HUB_EXTRA_ROLES_JSON``: more services and roles.
- Encryption in transit (docs/security-model.md, "Encryption"): ``DAP_HUB_SSL_CERT`` /
  ``DAP_HUB_SSL_KEY``: the proxy serves HTTPS to browsers and API clients; without them a
  ``DAP_HUB_IP`` other than loopback is refused unless ``DAP_HUB_ALLOW_PLAIN_HTTP=1`` (TLS
  ends in front of the proxy).
  ``DAP_TLS_CERTFILE`` / ``DAP_TLS_KEYFILE``: the DAP service serves HTTPS (readable by
  ``DAP_SERVICE_USER``; for 127.0.0.1, which the hub, its proxy and user servers connect to),
  and is registered by its https URL. ``SSL_CERT_FILE`` (the hub's own environment): the CA
  bundle that trusts the service's certificate (the system's CAs plus DAP's, when no public CA
  signed it), passed on to the proxy, user servers, kernels and the DAP service.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import urllib.request
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import dap_hub  # noqa: E402 - next to this file

from dap_kernel.errors import ConfigError  # noqa: E402
from dap_kernel.tls import check_listener, check_pair  # noqa: E402

state = Path(os.environ.get("DAP_HUB_STATE", here / "state"))
state.mkdir(parents=True, exist_ok=True)
state.chmod(0o700)


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def kept_secret(name: str, nbytes: int = 32) -> str:
    """A random secret made once and kept in the state folder (mode 0600)."""
    path = state / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(nbytes))
    return path.read_text().strip()


public_ip = env("DAP_HUB_IP", "127.0.0.1")
public_port = int(env("DAP_HUB_PORT", "8000"))
c.JupyterHub.ip = public_ip
c.JupyterHub.port = public_port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("DAP_HUB_API_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('DAP_PROXY_API_PORT', '8001')}"
proxy = here / "node_modules" / ".bin" / "configurable-http-proxy"


def tls_pair(cert_var: str, key_var: str) -> bool:
    """Whether the certificate and key these variables name are set (checked: one line)."""
    try:
        return check_pair(env(cert_var), env(key_var))
    except ConfigError as e:
        raise SystemExit(f"{cert_var}/{key_var}: {e}") from None


# -- encryption in transit ----------------------------------------------------------------------
# Browsers and API clients reach the proxy over HTTPS; the proxy, the hub and user servers reach
# the DAP service over HTTPS when it has a certificate. The hub's own API and the proxy's API
# stay on loopback (hub_ip, api_url): JupyterHub's internal_ssl is not turned on (see the docs).
public_tls = tls_pair("DAP_HUB_SSL_CERT", "DAP_HUB_SSL_KEY")
try:  # passwords, cookies and tokens in clear on a network: only if something else encrypts
    remedy = "give DAP_HUB_SSL_CERT and DAP_HUB_SSL_KEY, or set DAP_HUB_ALLOW_PLAIN_HTTP=1"
    check_listener(public_ip, public_tls, env("DAP_HUB_ALLOW_PLAIN_HTTP") == "1", remedy)
except ConfigError as e:
    raise SystemExit(f"DAP_HUB_IP: {e}") from None
if public_tls:
    c.JupyterHub.ssl_cert = env("DAP_HUB_SSL_CERT")
    c.JupyterHub.ssl_key = env("DAP_HUB_SSL_KEY")
service_tls = tls_pair("DAP_TLS_CERTFILE", "DAP_TLS_KEYFILE")
# Who calls the DAP service trusts what the hub trusts: SSL_CERT_FILE (a bundle of the system's
# CAs and DAP's, for a certificate no public CA signed) is what Python's ssl, tornado, aiohttp
# and httpx read. The hub reads it at start (it checks the service is up before routing to it);
# user servers, kernels, report kernels and the dashboard host get it passed on; the proxy is
# given it for its connections to https targets (Node reads no SSL_CERT_FILE).
trust = env("SSL_CERT_FILE")
if trust and not Path(trust).is_file():
    raise SystemExit(f"SSL_CERT_FILE={trust!r} is not a readable file")
trust_env = {"SSL_CERT_FILE": trust} if trust else {}
c.ConfigurableHTTPProxy.command = [
    str(proxy) if proxy.exists() else "configurable-http-proxy",
    *(["--client-ssl-ca", trust] if service_tls and trust else []),
]
hub_url = env(
    "DAP_HUB_PUBLIC_URL", f"{'https' if public_tls else 'http'}://{public_ip}:{public_port}"
)

# -- who may log in -----------------------------------------------------------------------------
auth = env("DAP_HUB_AUTH", "dummy")
admin_groups = {g.strip() for g in env("DAP_ADMIN_GROUPS").split(",") if g.strip()}
if auth == "dummy":
    c.JupyterHub.authenticator_class = dap_hub.DapDummyAuthenticator
    c.Authenticator.allow_all = True
elif auth == "generic-oauth":
    c.JupyterHub.authenticator_class = dap_hub.DapGenericOAuthenticator
    oidc = c.GenericOAuthenticator
    issuer = env("DAP_OIDC_ISSUER")
    if issuer:  # the provider's own discovery document names its endpoints
        if not issuer.startswith(("https://", "http://")):
            raise SystemExit(f"DAP_OIDC_ISSUER must be an http(s) URL, not {issuer!r}")
        discovery_url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        # B310: the scheme is checked above.
        with urllib.request.urlopen(discovery_url) as r:  # nosec B310
            discovery = json.load(r)
        oidc.authorize_url = discovery["authorization_endpoint"]
        oidc.token_url = discovery["token_endpoint"]
        oidc.userdata_url = discovery["userinfo_endpoint"]
        if discovery.get("end_session_endpoint"):
            oidc.logout_redirect_url = discovery["end_session_endpoint"]
    oidc.oauth_callback_url = env("OAUTH_CALLBACK_URL", f"{hub_url}/hub/oauth_callback")
    oidc.scope = env("DAP_OAUTH_SCOPE", "openid profile email").split()
    oidc.username_claim = env("DAP_OAUTH_USERNAME_CLAIM", "preferred_username")
    oidc.enable_auth_state = True  # the provider's tokens, to refresh users with
    oidc.manage_groups = True  # hub groups from the provider's groups claim, at every refresh
    oidc.auth_state_groups_key = f"oauth_user.{env('DAP_OAUTH_GROUPS_CLAIM', 'groups')}"
    oidc.admin_groups = admin_groups
    allowed = {g.strip() for g in env("DAP_HUB_ALLOWED_GROUPS").split(",") if g.strip()}
    if allowed:
        oidc.allowed_groups = allowed
    else:
        oidc.allow_all = True
    c.Authenticator.auth_refresh_age = int(env("DAP_HUB_AUTH_REFRESH_AGE", "300"))
    os.environ.setdefault("JUPYTERHUB_CRYPT_KEY", kept_secret("crypt_key"))
else:
    raise ValueError(f"DAP_HUB_AUTH={auth!r}: use dummy or generic-oauth")
c.Authenticator.post_auth_hook = dap_hub.post_auth_hook

# -- user servers: JupyterLab with DAP, every door through the service ---------------------------
spawner = env("DAP_HUB_SPAWNER", "simple")
server_args = env("DAP_HUB_SPAWNER_ARGS").split()
if spawner == "simple":  # one system user for all: a trial, not isolation
    c.JupyterHub.spawner_class = "simple"
    if os.geteuid() == 0:
        server_args.append("--allow-root")
elif spawner == "local":  # each user's server as their own system user
    c.JupyterHub.spawner_class = "localprocess"
    c.LocalProcessSpawner.shell_cmd = []
else:
    raise ValueError(f"DAP_HUB_SPAWNER={spawner!r}: use simple or local")
c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
c.Spawner.args = server_args
c.Spawner.default_url = "/lab"
c.Spawner.pre_spawn_hook = dap_hub.pre_spawn_hook
c.Spawner.post_stop_hook = dap_hub.post_stop_hook


def as_user(user: str, command: list[str]) -> list[str]:
    """``command`` run as system user ``user`` (the hub runs as root then)."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *command]


# -- the DAP service ----------------------------------------------------------------------------
service_port = int(env("DAP_SERVICE_PORT", "8890"))
service_url = f"{'https' if service_tls else 'http'}://127.0.0.1:{service_port}"
dap = shutil.which("dap") or str(Path(sys.executable).parent / "dap")
service_command = [dap, "serve", f"--port={service_port}"]
service_user = env("DAP_SERVICE_USER")
if service_user:  # its own system user: user servers cannot open its files
    service_command = as_user(service_user, service_command)
service_env = {k: v for k, v in os.environ.items() if k.startswith("DAP_") or k == "PATH"}
service_env.update(trust_env)  # its report kernels reach it at its own https URL


# -- the dashboard host: published dashboards, each viewer's kernel with the viewer's token ---
dashboards_port = int(env("DAP_DASHBOARDS_PORT", "8891"))
dashboards_user = env("DAP_DASHBOARDS_USER")
if service_user and dashboards_user in ("", service_user, "root"):
    raise ValueError(
        "DAP_SERVICE_USER is set: set DAP_DASHBOARDS_USER to a system user of its own for the "
        "dashboard host (its kernels must not be able to open the lake), or DAP_DASHBOARDS=off"
    )
dashboards_command = [sys.executable, "-m", "dap_server.dashboard_host"]
dashboards = {
    "name": "dashboards",
    "url": f"http://127.0.0.1:{dashboards_port}",
    "command": as_user(dashboards_user, dashboards_command)
    if dashboards_user
    else dashboards_command,
    "environment": {
        "DAP_SERVICE_URL": f"{service_url}/services/dap",
        "PATH": env("PATH"),
        **trust_env,
    },
    "oauth_no_confirm": True,
    # Viewers' tokens for this service may call the DAP service as them, nothing more.
    "oauth_client_allowed_scopes": ["access:services!service=dap"],
    "display": True,
}
with_dashboards = env("DAP_DASHBOARDS", "on") != "off"
events_token = env("DAP_HUB_EVENTS_TOKEN") or kept_secret("dap_hub_events_token")
dap_hub.DapEvents.configure(
    f"{service_url}/services/dap", events_token, bool(env("DAP_ATTRIBUTE_CLAIMS"))
)
cull_timeout = int(env("DAP_HUB_CULL_TIMEOUT", "3600"))
culler = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={cull_timeout}"],
    }
]
c.JupyterHub.services = [
    {
        "name": "dap",
        "url": service_url,
        "command": service_command,
        "environment": service_env,
        "oauth_no_confirm": True,
        "display": True,
    },
    {"name": dap_hub.EVENT_SERVICE, "api_token": events_token},  # the hub → DAP channel
    *([dashboards] if with_dashboards else []),
    *(culler if cull_timeout else []),
    *json.loads(env("DAP_HUB_EXTRA_SERVICES_JSON", "[]")),
]
# Kernels reach data only through the service, with the user's own hub token; the server's
# token may call the service (as that user) and nothing else of the hub's beyond its own server.
c.Spawner.environment = {"DAP_SERVICE_URL": f"{service_url}/services/dap", **trust_env}
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=dap",
]
c.Spawner.oauth_client_allowed_scopes = ["access:services!service=dap"]

# Every user may call the DAP service (what they may *read* there is DAP's grants' business).
c.JupyterHub.load_roles = [
    {
        "name": "user",
        "scopes": ["self", "access:services!service=dap", "access:services!service=dashboards"],
    },
    {
        "name": "dap-hub-events",
        "scopes": ["access:services!service=dap"],
        "services": [dap_hub.EVENT_SERVICE],
    },
    *(
        [
            {
                "name": "idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["idle-culler"],
            }
        ]
        if cull_timeout
        else []
    ),
    *json.loads(env("DAP_HUB_EXTRA_ROLES_JSON", "[]")),
]
