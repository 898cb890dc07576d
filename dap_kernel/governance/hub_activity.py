"""What happens at the hub — logins, logouts, identity refreshes, user servers — in DAP's audit
log, and the identity provider's claims into DAP's user attributes.

The hub is the identity authority of a multi-user deployment: it authenticates users with the
identity provider and tells DAP. It does so as a hub *service* of its own (``dap-hub`` by
default, ``DAP_HUB_EVENT_SERVICES``), over the hub's own token check: no user, no other service
and no DAP API key may post an event, since a forged login could rewrite someone's region.

Claims become attributes through :class:`~dap_kernel.governance.claims.ClaimMapping` at every
login and refresh, so a row filter on ``current_user_attr('region')`` follows the provider
within one refresh (``auth_refresh_age``) of a change there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import DapError, QueryRefused
from ..meta import MetaStore
from ..settings import Settings
from . import provider_identity
from .admin import PolicyAdmin
from .audit import AuditEvent, AuditLog
from .claims import ClaimMapping
from .identity import Principal

KINDS = ("login", "refresh", "logout", "server-start", "server-stop")


@dataclass(frozen=True)
class HubEvent:
    """One thing the hub saw happen to ``user``."""

    kind: str
    user: str
    groups: Sequence[str] = ()  # the user's hub groups now (login, refresh)
    previous_groups: Sequence[str] | None = None  # before a refresh, when the hub knew them
    claims: Mapping[str, Any] = field(default_factory=dict)  # the provider's userinfo
    server: str = ""  # a named server, for server-start/stop ("" = the default one)


def claim_mapping(settings: Settings) -> ClaimMapping:
    """The site's mapping, from its ``DAP_ROLE_MAP`` / ``DAP_ADMIN_GROUPS`` /
    ``DAP_ATTRIBUTE_CLAIMS`` settings."""
    return ClaimMapping.parse(settings.role_map, settings.admin_groups, settings.attribute_claims)


def record_hub_event(
    event: HubEvent, caller: Principal, *, settings: Settings, meta: MetaStore, audit: AuditLog
) -> bool:
    """Apply and record ``event``; returns whether it was written to the audit log.

    A refresh that changed nothing is not recorded: the hub refreshes every user every few
    minutes, and the log is for what happened, not for heartbeats.
    """
    require_hub(caller, settings)
    if event.kind not in KINDS:
        raise DapError(f"unknown hub event {event.kind!r}: one of {', '.join(KINDS)}")
    if not event.user:
        raise DapError("a hub event names its user")
    changed: list[str] = []
    if event.kind in ("login", "refresh"):
        mapping = claim_mapping(settings)
        values = mapping.attributes(event.claims)
        actor = f"hub:{caller.name}"
        if values and PolicyAdmin(meta, audit, actor).sync_attributes(event.user, values):
            changed.append(f"attributes {', '.join(sorted(values))}")
        groups = frozenset(event.groups)
        # For the user's API keys and schedules, which carry no hub token of theirs.
        provider_identity.record(meta, event.user, groups, mapping.roles(groups))
        if event.previous_groups is not None and set(event.previous_groups) != groups:
            changed.append("groups")
    if event.kind == "refresh" and not changed:
        return False
    audit.record(
        AuditEvent(
            principal=event.user,
            action=event.kind,
            decision="allowed",
            statement=_describe(event, changed),
            channel="hub",
        )
    )
    return True


def require_hub(caller: Principal, settings: Settings) -> None:
    """Only the hub's own event service speaks for the hub."""
    if not (
        caller.kind == "service"
        and caller.source == "hub"
        and caller.name.lower() in settings.hub_event_services
    ):
        raise QueryRefused(
            f"{caller.name} may not post hub events: only the hub's event service "
            f"({', '.join(settings.hub_event_services)}) may"
        )


def _describe(event: HubEvent, changed: list[str]) -> str:
    """The audit statement: what happened, never the claims' values (they are personal data)."""
    groups = f" (groups: {', '.join(sorted(event.groups)) or 'none'})"
    server = f" {event.server!r}" if event.server else ""
    return {
        "login": f"signed in through the hub{groups}",
        "refresh": f"identity refreshed from the provider: {', '.join(changed)} changed{groups}",
        "logout": "signed out of the hub",
        "server-start": f"user server{server} starting",
        "server-stop": f"user server{server} stopped",
    }[event.kind]
