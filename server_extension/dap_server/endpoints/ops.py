"""Operations: health (no identity needed), who am I, metrics, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, RootModel

import dap_kernel
from dap_kernel.governance.policy import GrantPolicy

from ..api import METRICS_SOURCE, Call, RawBody, Reply, router
from ..models import Health, WhoAmI


class OpenApiDocument(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document of this API."""


@router.get("health", response=Health, public=True, pool="light", tag="operations", errors=(503,))
def health(call: Call) -> Health | Reply:
    """Liveness and readiness: is the metadata store reachable, can the engine run a query?"""
    checks: dict[str, str] = {}
    ready = True
    try:
        workspace = call.workspace  # opening it runs the migrations check too
        workspace.meta.ping()
        checks["metadata"] = "ok"
    except Exception as e:
        checks["metadata"] = f"unavailable: {type(e).__name__}"
        ready = False
    if ready:
        try:
            workspace.engine.execute("SELECT 1")
            checks["engine"] = "ok"
        except Exception as e:
            checks["engine"] = f"unavailable: {type(e).__name__}"
            ready = False
    answer = Health(
        status="ok" if ready else "unavailable",
        live=True,
        ready=ready,
        version=dap_kernel.__version__,
        checks=checks,
    )
    return answer if ready else Reply(answer, 503)


@router.get("whoami", response=WhoAmI, tag="operations")
def whoami(call: Call) -> WhoAmI:
    """The caller as DAP sees them: name, groups, how they were identified."""
    policy = call.workspace.policy
    details = policy.principal_details(call.principal)
    return WhoAmI(
        user=details.name,
        kind=details.kind,
        source=call.principal.source,
        groups=sorted(details.groups),
        roles=sorted(details.roles),
        engine=call.workspace.settings.engine,
        multi_user=isinstance(policy, GrantPolicy) and policy.enforcing(),
    )


@router.get(
    "/dap/metrics",
    response=BaseModel,
    pool="light",
    tag="operations",
    alt_content=("text/plain",),
    metrics_token=True,
    errors=(403,),
)
def metrics(call: Call) -> RawBody:
    """Prometheus metrics (requests, latencies, query durations, cache hits, errors): for
    administrators (MANAGE_GRANTS) or the bearer of the metrics token (DAP_METRICS_TOKEN).

    Routes, error codes and timings tell what others do; an analyst's key does not read them.
    """
    if call.principal.source != METRICS_SOURCE:
        call.session.require("MANAGE_GRANTS", "*")
    return RawBody(call.runtime.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")


@router.get("openapi.json", response=OpenApiDocument, pool="loop", tag="operations")
def openapi(call: Call) -> RawBody:
    """This document."""
    from ..openapi import document_json

    return RawBody(document_json(call.base_url), "application/json")
