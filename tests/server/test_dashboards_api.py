"""REST `dashboards`: the gallery is the caller's, a dashboard one may not open is a 403."""

from __future__ import annotations

from pathlib import Path

from dap_kernel.dashboards.store import publish
from dap_kernel.session import Workspace
from tests.server.conftest import Api

SALES = Path(__file__).resolve().parents[2] / "notebooks" / "dashboards" / "sales.ipynb"


async def test_gallery_and_one_dashboard(api: Api, governed: Workspace) -> None:
    publish(SALES, description="Revenue", grants=["user:bob"], session=governed.session())
    publish(SALES, name="private", session=governed.session())

    mine = await api("GET", "dashboards")
    assert mine.status == 200
    assert [d["name"] for d in mine.body["dashboards"]] == ["private", "sales"]

    bob = await api("GET", "dashboards", as_="bob")
    assert [d["name"] for d in bob.body["dashboards"]] == ["sales"]
    assert bob.body["dashboards"][0]["owner"] == "tester"

    one = await api("GET", "dashboards/sales", as_="bob")
    assert one.status == 200
    assert one.body["grants"] == ["user:bob"] and one.body["title"] == "Sales"
    assert len(one.body["sha256"]) == 64

    notebook = await api("GET", "dashboards/sales/notebook", as_="bob")
    assert notebook.status == 200 and notebook.body["sha256"] == one.body["sha256"]
    assert notebook.body["notebook"]["nbformat"] == 4
    assert "Dashboard(" in "".join(notebook.body["notebook"]["cells"][0]["source"])
    for path in ("dashboards/private", "dashboards/private/notebook"):
        refused = await api("GET", path, as_="bob")
        assert refused.status == 403 and refused.body["error"] == "query_refused"
    opened = await api("GET", "audit", params={"action": "dashboard_view", "limit": "50"})
    bobs = [r for r in opened.body["records"] if r["user"] == "bob"]
    assert len(bobs) >= 4, opened.body  # every look, allowed or not, is recorded

    refused = await api("GET", "dashboards/private", as_="bob")
    assert refused.status == 403 and refused.body["error"] == "query_refused"
    missing = await api("GET", "dashboards/nope", as_="bob")
    assert missing.status == 404 and missing.body["error"] == "unknown_dashboard"
    anonymous = await api("GET", "dashboards", as_=None)
    assert anonymous.status == 401


async def test_a_builder_query_is_published_as_a_dashboard(api: Api, governed: Workspace) -> None:
    spec = {"table": "main.customers", "group_by": ["region"], "aggregates": [{"func": "count"}]}
    body = {
        "name": "by-region",
        "title": "Customers by region",
        "spec": spec,
        "chart": {"kind": "bar", "x": "region", "y": "count"},
        "grants": ["user:bob"],
    }
    made = await api("POST", "dashboards", body=body)
    assert made.status == 201, made.body
    assert made.body["title"] == "Customers by region" and made.body["grants"] == ["user:bob"]
    notebook = await api("GET", "dashboards/by-region/notebook", as_="bob")
    assert notebook.status == 200
    assert "d.chart(kind='bar', x='region', y='count'" in "".join(
        notebook.body["notebook"]["cells"][0]["source"]
    )
    wrong = await api(
        "POST", "dashboards", body=body | {"chart": {"kind": "bar", "x": "region", "y": "nope"}}
    )
    assert wrong.status == 400 and "not a column of the query" in wrong.body["message"]
    refused = await api("POST", "dashboards", as_="bob", body=body | {"name": "bobs"})
    assert refused.status == 403
    assert [d["name"] for d in (await api("GET", "dashboards")).body["dashboards"]] == ["by-region"]
