"""Dashboards as governed objects (REST `dashboards`): the caller's gallery and one dashboard.

Listing shows only dashboards the caller may open (a SELECT grant on ``dashboard.<name>``, or
ownership); asking for another one is a 403, for an unknown one a 404.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dap_kernel.dashboards.generated import CHART_KINDS, ChartChoice, publish_query
from dap_kernel.dashboards.store import DashboardInfo, gallery, get, published_notebook
from dap_kernel.querybuild import QuerySpec

from ..api import Call, router
from ..models import Timestamp


class DashboardOut(BaseModel):
    name: str
    title: str
    description: str
    owner: str
    url: str = Field(description="Where Voilà serves it: `dap dashboard serve NAME`.")
    created_at: Timestamp
    updated_at: Timestamp


class DashboardDetail(DashboardOut):
    grants: list[str] = Field(description="Who may open it: `group:NAME`, `user:NAME`.")
    sha256: str = Field(description="Of the published notebook.")


class DashboardNotebook(BaseModel):
    name: str
    sha256: str = Field(description="Of the published notebook.")
    notebook: dict[str, Any] = Field(description="The published notebook (nbformat 4 JSON).")


class DashboardList(BaseModel):
    dashboards: list[DashboardOut]


class ChartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description=f"One of {', '.join(CHART_KINDS)}.")
    x: str = Field(max_length=300, description="An output column of the query.")
    y: str = Field(max_length=300, description="An output column of the query.")


class DashboardFromQuery(BaseModel):
    """A query builder query to publish as a dashboard (the builder's "Save as dashboard")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="Lower-case letters, digits, '-' and '_'.")
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=1000)
    spec: QuerySpec
    chart: ChartIn | None = None
    grants: list[str] = Field(
        default_factory=list, max_length=100, description="`group:NAME`, `user:NAME`."
    )


def _out(info: DashboardInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "title": info.title,
        "description": info.description,
        "owner": info.owner,
        "url": f"dap dashboard serve {info.name}",
        "created_at": info.created_at,
        "updated_at": info.updated_at,
    }


@router.get("dashboards", response=DashboardList, tag="dashboards")
def list_dashboards(call: Call) -> DashboardList:
    """The gallery: dashboards you may open."""
    return DashboardList(dashboards=[DashboardOut(**_out(d)) for d in gallery(call.session)])  # type: ignore[arg-type]


@router.get("dashboards/{name}", response=DashboardDetail, tag="dashboards", errors=(403, 404))
def get_dashboard(call: Call, name: str) -> DashboardDetail:
    """One dashboard you may open, with its grants."""
    info = get(call.session, name)
    return DashboardDetail(**_out(info), grants=list(info.grants), sha256=info.sha256)  # type: ignore[arg-type]


@router.get(
    "dashboards/{name}/notebook", response=DashboardNotebook, tag="dashboards", errors=(403, 404)
)
def get_dashboard_notebook(call: Call, name: str) -> DashboardNotebook:
    """The published notebook of a dashboard you may open: what a dashboard host renders for
    you, asked for with your credential so the grant is checked per view."""
    info, data = published_notebook(call.session, name)
    return DashboardNotebook(name=info.name, sha256=info.sha256, notebook=json.loads(data))


@router.post(
    "dashboards",
    body=DashboardFromQuery,
    response=DashboardDetail,
    status=201,
    scope="admin",
    tag="dashboards",
    errors=(400, 403, 404),
)
def publish_from_query(call: Call, body: DashboardFromQuery) -> DashboardDetail:
    """Publish a query builder query as a dashboard you own; its queries run as each viewer."""
    chart = ChartChoice(**body.chart.model_dump()) if body.chart else None
    info = publish_query(
        call.session,
        body.name,
        body.spec,
        title=body.title,
        description=body.description,
        chart=chart,
        grants=body.grants,
    )
    return DashboardDetail(**_out(info), grants=list(info.grants), sha256=info.sha256)  # type: ignore[arg-type]
