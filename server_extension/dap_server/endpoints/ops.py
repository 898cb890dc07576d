"""Operations: health, liveness and readiness (no identity needed), who am I, metrics, and
the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, RootModel

import dap_kernel
from dap_kernel.errors import NotReady, ShuttingDown
from dap_kernel.governance.policy import GrantPolicy

from ..api import METRICS_SOURCE, Call, RawBody, Reply, router
from ..models import Health, Live, Ready, WhoAmI


class OpenApiDocument(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document of this API."""


@router.get("health", response=Health, public=True, pool="light", tag="operations", errors=(503,))
def health(call: Call) -> Health | Reply:
    """Liveness and readiness in one: is the metadata store reachable, can the engine run a
    query, is the service not stopping? (`health/live` and `health/ready` ask one each.)"""
    checks = _dependencies(call)
    ready = all(v == "ok" for v in checks.values())
    if call.runtime.draining:
        checks["shutdown"] = "draining"
        ready = False
    answer = Health(
        status="ok" if ready else "unavailable",
        live=True,
        ready=ready,
        version=dap_kernel.__version__,
        checks=checks,
    )
    return answer if ready else Reply(answer, 503)


@router.get("health/live", response=Live, public=True, pool="loop", tag="operations")
def health_live(call: Call) -> Live:
    """Liveness: the process serves requests. No dependency is asked, so an outage of the
    metadata database never gets a healthy process restarted."""
    return Live(status="live")


@router.get(
    "health/ready", response=Ready, public=True, pool="light", tag="operations", errors=(503,)
)
def health_ready(call: Call) -> Ready:
    """Readiness: the metadata store and the engine answer and the service is not stopping
    (503 with a one-line reason otherwise): what a load balancer routes by."""
    if call.runtime.draining:
        raise ShuttingDown()
    checks = _dependencies(call)
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        raise NotReady(f"not ready: the {_DEPENDENCY[failing[0]]} does not answer")
    return Ready(status="ready", checks=checks)


_DEPENDENCY = {"metadata": "metadata store", "engine": "query engine"}


def _dependencies(call: Call) -> dict[str, str]:
    """One line per dependency: ``ok``, or ``unavailable: <error class>`` (never its message,
    which may quote a URL or a path)."""
    checks: dict[str, str] = {}
    try:
        workspace = call.workspace  # opening it runs the migrations check too
        workspace.meta.ping()
        checks["metadata"] = "ok"
    except Exception as e:
        checks["metadata"] = f"unavailable: {type(e).__name__}"
        return checks
    try:
        workspace.engine.execute("SELECT 1")
        checks["engine"] = "ok"
    except Exception as e:
        checks["engine"] = f"unavailable: {type(e).__name__}"
    return checks


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
