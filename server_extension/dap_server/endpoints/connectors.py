"""Governed connectors: list them, create one (its credentials go to the secret store), test it.

Listing shows the connectors the caller may use (USE_CONNECTOR on ``*`` or on
``connector:NAME``); testing one needs USE_CONNECTOR on it; creating needs CREATE on ``*``.
"""

from __future__ import annotations

from dap_kernel.connectors import ConnectorInfo, Connectors
from dap_kernel.connectors.access import GovernedConnectors

from ..api import Call, router
from ..models import ConnectorCreate, ConnectorList, ConnectorOut, ConnectorTestResult


def _connectors(call: Call) -> GovernedConnectors:
    """The caller's view of the registry: the rules live in the core, not here."""
    registry = Connectors(call.workspace.meta, call.workspace.secrets)
    return GovernedConnectors(call.session, registry)


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
    return ConnectorList(connectors=[_out(c) for c in _connectors(call).list()])


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
    info = _connectors(call).create(
        body.name, body.url, description=body.description, replace=body.replace
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
    result = _connectors(call).test(name)
    return ConnectorTestResult(
        ok=result.ok, message=result.message, elapsed_ms=result.elapsed_ms, objects=result.objects
    )
