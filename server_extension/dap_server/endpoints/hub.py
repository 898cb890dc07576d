"""The hub's activity channel: logins, refreshes, logouts and user servers, posted by the hub's
own event service. The rules (who may post, what a claim changes) are the core's
(:mod:`dap_kernel.governance.hub_activity`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dap_kernel.governance.hub_activity import KINDS, HubEvent, record_hub_event

from ..api import Call, router
from ..models import Request


class HubEventIn(Request):
    kind: str = Field(description=f"One of: {', '.join(KINDS)}.", max_length=20)
    user: str = Field(min_length=1, max_length=200)
    groups: list[str] = Field(default_factory=list, max_length=1000)
    previous_groups: list[str] | None = Field(default=None, max_length=1000)
    claims: dict[str, Any] = Field(
        default_factory=dict, description="The provider's userinfo claims (login, refresh)."
    )
    server: str = Field(default="", max_length=200)


class HubEventOut(BaseModel):
    recorded: bool = Field(description="False for a refresh that changed nothing.")


@router.post(
    "hub/events",
    body=HubEventIn,
    response=HubEventOut,
    tag="operations",
    scope="admin",
    hub_services=True,
    errors=(400, 403),
)
def post_hub_event(call: Call, body: HubEventIn) -> HubEventOut:
    """Record what the hub saw (only the hub's event service may post)."""
    ws = call.workspace
    event = HubEvent(
        kind=body.kind,
        user=body.user,
        groups=tuple(body.groups),
        previous_groups=None if body.previous_groups is None else tuple(body.previous_groups),
        claims=body.claims,
        server=body.server,
    )
    recorded = record_hub_event(
        event, call.principal, settings=ws.settings, meta=ws.meta, audit=ws.audit
    )
    return HubEventOut(recorded=recorded)
