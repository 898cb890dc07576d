"""Governed connectors: list them, create one (its credentials go to the secret store), test it.

Listing shows the connectors the caller may use (USE_CONNECTOR on ``*`` or on
``connector:NAME``); testing one needs USE_CONNECTOR on it; creating needs CREATE on ``*``.
"""

from __future__ import annotations

from dap_kernel.connectors import ConnectorInfo, Connectors, securable
from dap_kernel.connectors.registry import usable_connectors

from ..api import Call, router
from ..models import ConnectorCreate, ConnectorList, ConnectorOut, ConnectorTestResult


def _connectors(call: Call) -> Connectors:
    return Connectors(call.workspace.meta, call.workspace.secrets)


def _out(info: ConnectorInfo) -> ConnectorOut:
    return ConnectorOut(
        name=info.name,
        kind=info.kind,
        url=info.url,
        description=info.description,
        owner=info.owner,
        created_at=info.created_at,
        has_secret=info.has_secret,
    )


@router.get("connectors", response=ConnectorList, tag="connectors", errors=(403,))
def list_connectors(call: Call) -> ConnectorList:
    """Connectors (URLs shown with passwords redacted)."""
    usable = usable_connectors(call.session, _connectors(call))
    return ConnectorList(connectors=[_out(c) for c in usable])


@router.post(
    "connectors",
    body=ConnectorCreate,
    response=ConnectorOut,
    status=201,
    scope="admin",
    tag="connectors",
    errors=(400, 403, 409),
)
def create_connector(call: Call, body: ConnectorCreate) -> ConnectorOut:
    """Create a connector; a password in the URL is encrypted in the secret store."""
    call.session.require("CREATE", "*")
    info = _connectors(call).create(
        body.name,
        body.url,
        owner=call.principal.name,
        description=body.description,
        replace=body.replace,
    )
    return _out(info)


@router.post(
    "connectors/{name}/test",
    response=ConnectorTestResult,
    pool="query",
    tag="connectors",
    errors=(403, 404),
)
def test_connector(call: Call, name: str) -> ConnectorTestResult:
    """Connect and list what the source holds; a dead source is `ok: false`, not an error."""
    call.session.require("USE_CONNECTOR", securable(name))
    result = _connectors(call).test(name)
    return ConnectorTestResult(
        ok=result.ok, message=result.message, elapsed_ms=result.elapsed_ms, objects=result.objects
    )
