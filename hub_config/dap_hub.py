"""The hub's side of DAP: the hub tells the DAP service what it saw happen.

JupyterHub authenticates users (with the identity provider, for single sign-on) and starts
their servers; DAP governs data. What the hub knows that DAP needs — a login and the provider's
claims (they become the user attributes row filters read), a refresh that moved someone to
another group, a logout, a server starting or stopping — goes to the DAP service's
``hub/events`` endpoint, authenticated as the hub service ``dap-hub`` (the only caller DAP
accepts events from; see ``dap_kernel.governance.hub_activity``).

Fail closed: where the site maps claims to attributes (``DAP_ATTRIBUTE_CLAIMS``), a login or a
refresh whose claims DAP could not record is refused — a user must not go on with yesterday's
region. Logouts and server events are records only: DAP being down must not keep anyone from
signing out.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from jupyterhub.auth import DummyAuthenticator
from jupyterhub.handlers.login import LogoutHandler
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthLogoutHandler
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

log = logging.getLogger("dap_hub")
EVENT_SERVICE = "dap-hub"


class DapEvents:
    """Posts hub events to the DAP service (configured once by jupyterhub_config.py)."""

    url = ""  # the DAP service's hub/events endpoint
    token = ""  # the dap-hub service's hub API token
    claims_required = False  # DAP_ATTRIBUTE_CLAIMS is set: claims must reach DAP

    @classmethod
    def configure(cls, service_url: str, token: str, claims_required: bool) -> None:
        cls.url = f"{service_url.rstrip('/')}/dap/api/v1/hub/events"
        cls.token = token
        cls.claims_required = claims_required

    @classmethod
    async def post(cls, kind: str, user: str, *, required: bool = False, **fields: Any) -> None:
        body = json.dumps({"kind": kind, "user": user, **fields})
        request = HTTPRequest(
            cls.url,
            method="POST",
            body=body,
            headers={"Authorization": f"token {cls.token}", "Content-Type": "application/json"},
            request_timeout=15,
        )
        try:
            await AsyncHTTPClient().fetch(request)
        except Exception as e:  # DAP down, or it refused: say which, once
            log.warning("DAP did not record %s of %s: %s", kind, user, e)
            if required:
                raise web.HTTPError(
                    503, "DAP could not record your sign-in; try again in a moment"
                ) from None


def _claims(authenticator: Any, auth_model: dict[str, Any]) -> dict[str, Any]:
    """The provider's userinfo as oauthenticator keeps it in auth_state (no tokens)."""
    state = auth_model.get("auth_state") or {}
    key = getattr(authenticator, "user_auth_state_key", "oauth_user")
    claims = state.get(key) or {}
    return dict(claims) if isinstance(claims, dict) else {}


async def post_auth_hook(authenticator: Any, handler: Any, auth_model: dict[str, Any]) -> Any:
    """``Authenticator.post_auth_hook``: every login, with its claims."""
    await DapEvents.post(
        "login",
        auth_model["name"],
        groups=sorted(auth_model.get("groups") or ()),
        claims=_claims(authenticator, auth_model),
        required=DapEvents.claims_required,
    )
    return auth_model


async def pre_spawn_hook(spawner: Any) -> None:
    """``Spawner.pre_spawn_hook``: a user server is starting."""
    await DapEvents.post("server-start", spawner.user.name, server=spawner.name or "")


async def post_stop_hook(spawner: Any) -> None:
    """``Spawner.post_stop_hook``: a user server stopped."""
    await DapEvents.post("server-stop", spawner.user.name, server=spawner.name or "")


class _RecordsLogout:
    """Mixed into the authenticator's logout handler: the logout, in DAP's audit log."""

    async def default_handle_logout(self) -> None:
        user = self.current_user  # type: ignore[attr-defined]
        await super().default_handle_logout()  # type: ignore[misc]
        if user is not None:
            await DapEvents.post("logout", user.name)


class DapLogoutHandler(_RecordsLogout, LogoutHandler):
    pass


class DapOAuthLogoutHandler(_RecordsLogout, OAuthLogoutHandler):
    pass


class DapGenericOAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator that also tells DAP about refreshes and logouts.

    The hub refreshes a user with the provider once ``auth_refresh_age`` has passed (at their
    next request, token or browser alike); oauthenticator then updates the hub groups
    (``manage_groups``), and this sends the new claims to DAP, so a removed group or a changed
    region holds at DAP's next request rather than at the next login.
    """

    logout_handler = DapOAuthLogoutHandler

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        previous = sorted(group.name for group in user.groups)
        refreshed = await super().refresh_user(user, handler, **kwargs)
        if isinstance(refreshed, dict):
            groups = refreshed.get("groups")
            await DapEvents.post(
                "refresh",
                user.name,
                groups=sorted(previous if groups is None else groups),
                previous_groups=previous,
                claims=_claims(self, refreshed),
                required=DapEvents.claims_required,
            )
        return refreshed


class DapDummyAuthenticator(DummyAuthenticator):
    """Any password (trials and tests), with logouts recorded in DAP."""

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [*super().get_handlers(app), ("/logout", DapLogoutHandler)]
