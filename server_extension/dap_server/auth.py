"""Who is calling: a DAP API key, a JupyterHub user, or the Jupyter server's own identity.

* ``Authorization: Bearer dap_…`` (or ``token dap_…``) — a DAP API key. It works on DAP's
  routes only, never on the rest of the Jupyter server (a key must not open a kernel).
* In a hub service, a hub token or the hub's OAuth cookie (``JUPYTERHUB_SERVICE_*`` env).
* Inside a Jupyter server, its own token or cookie (with XSRF). In a personal server the one
  who holds the token is the server's owner, so the principal is ``DAP_USER``; in a hub's
  single-user server it is the hub user's name.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.identity import IdentityProvider, User

from dap_kernel.governance.claims import ClaimMapping
from dap_kernel.governance.identity import Principal

if TYPE_CHECKING:
    from tornado.web import RequestHandler


def api_key_from(headers: Any) -> str | None:
    """The DAP API key in the Authorization header, if that is what it carries."""
    header: str = headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() in ("bearer", "token") and value.startswith("dap_"):
        return value
    return None


def principal_from_jupyter(user: User | Any, mode: str, owner: str) -> Principal:
    """Map the Jupyter identity onto a DAP principal (see the module docstring)."""
    if mode == "owner":
        return Principal(name=owner, source="jupyter")
    name = getattr(user, "username", None) or str(user)
    return Principal(name=name, source="jupyter")


def default_identity_mode() -> str:
    return "user" if os.environ.get("JUPYTERHUB_USER") else "owner"


TOKEN_USE_EVERY_S = 3600.0


class HubIdentity:
    """Users of a JupyterHub, when DAP runs as a hub service (``JUPYTERHUB_SERVICE_*`` env).

    Each request's identity is the hub's answer for its token or cookie: the hub refreshes the
    user with the identity provider when ``auth_refresh_age`` has passed, so the groups here
    follow the provider within that age plus ``cache_s`` (HubAuth's cache of answers).
    """

    def __init__(self, mapping: ClaimMapping | None = None, cache_s: float = 60) -> None:
        from jupyterhub.services.auth import HubOAuth

        self.oauth = HubOAuth(cache_max_age=int(cache_s))
        self.mapping = mapping or ClaimMapping()
        self._used: dict[str, float] = {}  # credential digest -> when its use was last audited
        self._used_lock = threading.Lock()

    def first_use(self, handler: RequestHandler, every_s: float = TOKEN_USE_EVERY_S) -> str:
        """``"token"`` or ``"cookie"`` when this credential's use is due for the audit log (its
        first use, then once every ``every_s``), else ``""``: the log says who came in with
        what, without a record per request."""
        header = handler.request.headers.get("Authorization", "")
        credential = header or (self.oauth.get_token(handler) or "")
        digest = hashlib.sha256(credential.encode()).hexdigest()
        now = time.monotonic()
        with self._used_lock:
            if now - self._used.get(digest, -every_s) < every_s:
                return ""
            if len(self._used) > 100_000:  # a long-running service forgets old credentials
                self._used.clear()
            self._used[digest] = now
        return "token" if header else "cookie"

    @staticmethod
    def configured() -> bool:
        return bool(os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_API_URL"))

    async def principal(self, handler: RequestHandler) -> Principal | None:
        """The hub user behind a hub token or the hub's OAuth cookie (cached by HubAuth)."""
        model = await self.oauth.get_user(handler, sync=False)
        if not model:
            return None
        # A hub token identifies its user, but only one with access to this service gets in.
        if not self.oauth.check_scopes(self.oauth.access_scopes, model):
            return None
        kind = model.get("kind", "user")
        if kind == "service":  # the hub's own services: only the activity channel admits them
            return Principal(name=model["name"], kind="service", source="hub")
        if kind != "user":
            return None
        groups = frozenset(model.get("groups") or ())
        return Principal(
            name=model["name"], groups=groups, roles=self.mapping.roles(groups), source="hub"
        )


class NoJupyterIdentity(IdentityProvider):
    """The standalone service's identity provider: Jupyter's own token is never accepted, so
    only DAP API keys and hub users get in (there is no token to print or leak)."""

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return False

    def get_user(self, handler: Any) -> None:
        return None
