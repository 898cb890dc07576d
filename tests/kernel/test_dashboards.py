"""Dashboards without a browser: SQL with bound values, the builder (filters, drill-down,
cross-filtering, per-viewer numbers), the viewer identity, the store, gallery and grants."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import nbformat
import openpyxl
import pytest

from dap_kernel.client import close_http_sessions
from dap_kernel.dashboards import Dashboard, DateRange, Explore, MultiSelect, Slider, sqlgen
from dap_kernel.dashboards.charts import PLOTLY_MIME
from dap_kernel.dashboards.identity import VIEWER_ENV, VIEWER_TOKEN_ENV, viewer_session
from dap_kernel.dashboards.store import (
    UnknownDashboard,
    gallery,
    get,
    grant,
    publish,
    revoke,
    unpublish,
)
from dap_kernel.errors import DapError, QueryRefused, Unauthenticated
from dap_kernel.governance.apikeys import ApiKeyError
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace, reset_default_workspace

REPO = Path(__file__).resolve().parents[2]
SALES = """
SELECT c.region, c.country, c.city, o.order_id, o.order_ts, o.channel,
       l.quantity * l.unit_price * (1 - l.discount) AS revenue
FROM main.order_lines AS l
JOIN main.orders AS o ON o.order_id = l.order_id
JOIN main.customers AS c ON c.customer_id = o.customer_id
"""


def truth(ws: Workspace, where: str = "TRUE", params: dict | None = None) -> float:
    """Revenue computed straight from the demo data as the admin (no filters)."""
    frame = ws.session().sql(f"SELECT sum(revenue) AS r FROM ({SALES}) AS s WHERE {where}", params)
    return float(frame["r"][0] or 0)


def sales(session, **filters) -> Dashboard:  # type: ignore[no-untyped-def]
    d = Dashboard(
        "Sales",
        source=SALES,
        session=session,
        filters=[MultiSelect("regions", column="region"), DateRange("period", column="order_ts")],
    )
    d.kpi("revenue", title="Revenue")
    d.chart(kind="bar", y="revenue", drill=["region", "country", "city"], title="By region")
    d.chart(kind="bar", x="channel", y="revenue", title="By channel")
    d.table(columns=["order_id", "region", "revenue"], order_by="-revenue", limit=5)
    return d


# -- SQL ---------------------------------------------------------------------------------------


def test_values_are_bound_and_names_quoted() -> None:
    hostile = "x' OR 1=1 --"
    built = sqlgen.build(
        "main.customers",
        group=["region"],
        measures=[sqlgen.Measure(None, "count", alias="n")],
        where=[
            sqlgen.Predicate("name", "=", hostile),
            sqlgen.Predicate("region", "in", ["A", "B"]),
        ],
    )
    assert hostile not in built.sql and "OR 1=1" not in built.sql
    assert list(built.params.values()) == [hostile, "A", "B"]
    assert 'src."region"' in built.sql and "$dap_p0" in built.sql


def test_base_parameters_come_from_filters_and_missing_ones_are_named() -> None:
    base = "SELECT region, revenue FROM t WHERE day >= :period_start"
    built = sqlgen.build(base, columns=["region"], params={"period_start": dt.date(2024, 1, 1)})
    assert built.params == {"period_start": dt.date(2024, 1, 1)}
    with pytest.raises(sqlgen.DashboardError, match=":period_start"):
        sqlgen.build(base, columns=["region"])


# -- builder -----------------------------------------------------------------------------------


def test_each_viewer_sees_own_numbers(governed: Workspace) -> None:
    ann = sales(governed.session(Principal("ann")))
    raj = sales(governed.session(Principal("raj")))
    ann.refresh()
    raj.refresh()
    assert ann.components[0].value == pytest.approx(truth(governed, "region = 'EMEA'"))
    assert raj.components[0].value == pytest.approx(truth(governed, "region = 'APAC'"))
    assert ann.components[0].value != raj.components[0].value
    assert ann.components[1].frame["region"].to_list() == ["EMEA"]
    assert ann.filters[0].widget.options == ("EMEA",)  # options as the viewer may see them


def test_a_viewer_without_grants_gets_a_message_not_data(governed: Workspace) -> None:
    bob = sales(governed.session(Principal("bob")))
    bob.refresh()
    assert all(c.frame is None for c in bob.components)
    assert "may not SELECT" in bob.components[0].error


def test_drill_down_breadcrumbs_and_back(demo_workspace: Workspace) -> None:
    d = sales(demo_workspace.session())
    d.refresh()
    chart = d.components[1]
    assert set(chart.frame["region"]) == {"EMEA", "AMER", "APAC"}
    chart.pick("EMEA")
    assert chart.level == "country"
    assert set(chart.frame["country"]) == {"Germany", "France", "UK"}
    crumbs = re.findall(r"class='dap-crumb[^']*'[^>]*>([^<]*)</button>", chart.extra_html())
    assert crumbs == ["All regions", "EMEA"]
    # the drill path cross-filters the other components
    assert d.components[0].value == pytest.approx(truth(demo_workspace, "region = 'EMEA'"))
    chart.pick("Germany")
    assert set(chart.frame["city"]) == {"Berlin", "Munich"}
    assert sorted(chart.pick_values) == ["Berlin", "Munich"]
    picks = re.findall(r"class='dap-pick[^']*'[^>]*>([^<]*)</button>", chart.after_body_html())
    assert sorted(picks) == ["Berlin", "Munich"]
    chart.up(0)
    assert chart.level == "region" and chart.path == []
    assert d.components[0].value == pytest.approx(truth(demo_workspace))


def test_filters_re_query_with_bound_values(demo_workspace: Workspace) -> None:
    d = sales(demo_workspace.session())
    d.refresh()
    regions, period = d.filters
    regions.widget.value = ("AMER", "APAC")  # the widget's observer re-runs the dashboard
    expected = truth(demo_workspace, "region IN ('AMER', 'APAC')")
    assert d.components[0].value == pytest.approx(expected)
    assert d.components[0].params["dap_p0"] == "AMER"
    period.set(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
    d.refresh()
    expected = truth(
        demo_workspace,
        "region IN ('AMER', 'APAC') AND order_ts >= DATE '2024-03-01' "
        "AND order_ts < DATE '2024-04-01'",
    )
    assert d.components[0].value == pytest.approx(expected)
    assert "Period: 2024-03-01 – 2024-03-31" in d.state()
    d.reset()
    assert d.components[0].value == pytest.approx(truth(demo_workspace))


def test_cross_filter_from_a_chart_click(demo_workspace: Workspace) -> None:
    d = sales(demo_workspace.session())
    d.refresh()
    channel = d.components[2]
    channel.pick("web")
    assert channel.selected == "web"
    assert d.components[0].value == pytest.approx(truth(demo_workspace, "channel = 'web'"))
    assert set(channel.frame["channel"]) == {"web", "mobile", "store"}  # its own bars stay
    channel.pick("web")  # a second click clears it
    assert d.components[0].value == pytest.approx(truth(demo_workspace))


def test_slider_and_status(demo_workspace: Workspace) -> None:
    d = Dashboard(
        "Lines",
        source="main.order_lines",
        session=demo_workspace.session(),
        filters=[Slider("qty", column="quantity", min=1, max=4, value=3)],
    )
    kpi = d.kpi(None, agg="count", title="Lines")
    d.refresh()
    expected = demo_workspace.session().sql(
        "SELECT count(*) AS n FROM main.order_lines WHERE quantity >= 3"
    )["n"][0]
    assert kpi.value == expected
    assert "Refreshed" in d.status and "data as of" in d.status


def test_exports_in_the_current_filter_state(demo_workspace: Workspace, tmp_path: Path) -> None:
    d = sales(demo_workspace.session())
    d.refresh()
    d.filters[0].widget.value = ("EMEA",)
    path = d.components[3].export("csv")
    assert path is not None and "EMEA" in path.read_text() and "AMER" not in path.read_text()
    assert "dap-download-link" in d.components[3].download
    book = d.export("xlsx", tmp_path / "sales.xlsx")
    assert book is not None
    sheets = openpyxl.load_workbook(book).sheetnames
    assert {"By region", "By channel", "Rows"} <= set(sheets)


def _page(d: Dashboard) -> str:
    """Everything the dashboard puts in the page: header, grid, and the bridge's last update."""
    return d.header_html() + d.grid_html() + d.outbox.value


def _update(d: Dashboard) -> dict:
    found = re.fullmatch(r"<code>(.*)</code>", d.outbox.value, re.S)
    assert found, d.outbox.value
    return json.loads(html.unescape(found.group(1)))


def test_the_page_holds_the_viewers_rows_only(governed: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    ann = sales(governed.session(Principal("ann")))
    ann.show()
    page = _page(ann)
    assert "EMEA" in page
    for other in ("APAC", "AMER", "Japan", "Australia", "USA"):
        assert other not in page  # no other region's rows, not even for filtering in the browser
    # charts are figures for the template's plotly.js: no plotly widget, no PNG
    assert page.count("class='dap-plot'") == 2 and "data-dap-figure=" in page
    assert "image/png" not in page and "vnd.plotly" not in page
    assert f"{ann.components[0].value:,.0f}" in page
    ann.filters[0].widget.value = ("EMEA",)  # a filter change redraws through the bridge
    update = _update(ann)
    assert not update["busy"] and "Regions: EMEA" in update["status"]
    assert "APAC" not in update["grid"]


def test_card_buttons_reach_the_kernel_through_the_bridge(
    demo_workspace: Workspace, capsys
) -> None:  # type: ignore[no-untyped-def]
    d = sales(demo_workspace.session())
    d.show()
    chart = d.components[1]
    emea = chart.pick_values.index("EMEA")
    assert f"data-dap-action='pick' data-dap-arg='{emea}'" in d.grid_html()
    d.inbox.value = json.dumps({"seq": 1, "action": "pick", "card": 1, "arg": str(emea)})
    assert chart.path == [("region", "EMEA")]
    update = _update(d)
    assert update["ack"] == 1 and not update["busy"] and "Germany" in update["grid"]
    assert d.components[0].value == pytest.approx(truth(demo_workspace, "region = 'EMEA'"))
    # what the page sends is the viewer's: anything unexpected changes nothing, fails closed
    hostile = [
        "not json",
        json.dumps({"seq": 2, "action": "pick", "card": 1, "arg": "999"}),
        json.dumps({"seq": 3, "action": "pick", "card": 1, "arg": "0 OR 1=1"}),
        json.dumps({"seq": 4, "action": "pick", "card": 99, "arg": "0"}),
        json.dumps({"seq": 5, "action": "__init__", "card": 1, "arg": "0"}),
        json.dumps({"seq": 6, "action": "export", "card": 3, "arg": "../../etc/passwd"}),
        json.dumps({"seq": 7, "action": "pick", "card": 1, "arg": "\u00b2"}),  # a digit, no int
        json.dumps({"seq": 8, "action": "up", "card": 1, "arg": "-1"}),
        json.dumps({"action": "reset"}),
    ]
    for message in hostile:
        d.inbox.value = message
    assert chart.path == [("region", "EMEA")] and d.components[3].download == ""
    assert _update(d)["ack"] == 8
    d.inbox.value = json.dumps({"seq": 9, "action": "up", "card": 1, "arg": "0"})
    assert chart.path == []
    d.inbox.value = json.dumps({"seq": 10, "action": "export", "card": 3, "arg": "csv"})
    assert "dap-download-link" in _update(d)["grid"]


def test_a_notebook_preview_gets_each_chart_as_plotlys_own_mime_type(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JupyterLab has neither the template's script nor plotly.js: each chart is also an output
    with plotly's MIME type (the same figure the grid's HTML holds), marked for the template to
    leave out, and a filter change redraws header, grid and charts in place by display id."""
    import IPython.display

    shown: list[tuple[dict, dict]] = []
    updated: list[tuple[dict, dict]] = []
    monkeypatch.setattr(IPython.display, "display", lambda o, **kw: shown.append((o, kw)))
    monkeypatch.setattr(IPython.display, "update_display", lambda o, **kw: updated.append((o, kw)))
    for name in ("VOILA_KERNEL_ID", "SERVER_SOFTWARE"):
        monkeypatch.delenv(name, raising=False)
    d = sales(demo_workspace.session())
    d.show()
    previews = [(o, kw) for o, kw in shown if kw.get("metadata", {}).get("dap", {}).get("preview")]
    assert len(previews) == 2
    for bundle, kw in previews:
        assert {PLOTLY_MIME, "text/html", "text/plain"} <= set(bundle)
        assert bundle[PLOTLY_MIME]["data"] and bundle[PLOTLY_MIME]["layout"]["height"]
        assert kw["raw"] and kw["display_id"]
    by_region = previews[0][0][PLOTLY_MIME]
    assert html.escape(json.dumps(by_region), quote=True) in d.grid_html()
    assert "APAC" in json.dumps(by_region)  # the admin sees every region
    d.filters[0].widget.value = ("EMEA",)
    ids = {kw["display_id"] for _, kw in updated}
    assert {kw["display_id"] for _, kw in previews} <= ids and len(ids) == 4  # + header, grid
    redrawn = [o for o, kw in updated if kw["display_id"] == previews[0][1]["display_id"]][-1]
    assert "APAC" not in json.dumps(redrawn[PLOTLY_MIME])
    assert "EMEA" in json.dumps(redrawn[PLOTLY_MIME])
    # a Voilà page gets its updates through the bridge only, not a second copy
    monkeypatch.setenv("VOILA_KERNEL_ID", "k")
    updated.clear()
    d.filters[0].widget.value = ()
    assert not updated and not _update(d)["busy"]


def test_kpi_tiles_on_one_base_share_one_query(demo_workspace: Workspace) -> None:
    d = sales(demo_workspace.session())
    d.kpi("order_id", agg="count_distinct", title="Orders")
    d.refresh()
    revenue, orders = d.components[0], d.components[-1]
    assert revenue.sql == orders.sql and '"v0"' in revenue.sql and '"v1"' in revenue.sql
    assert revenue.value == pytest.approx(truth(demo_workspace))
    n = demo_workspace.session().sql(f"SELECT count(DISTINCT order_id) AS n FROM ({SALES}) AS s")
    assert orders.value == n["n"][0]


def test_explore_builds_bound_sql_as_the_viewer(governed: Workspace) -> None:
    ex = Explore(session=governed.session(Principal("ann")), table="main.customers")
    ex.build()
    ex.start()
    assert ex.dataset.value == "main.customers"
    ex._quiet = True
    ex.agg.value, ex.measure.value, ex.dimension.value = "count", "(none)", "country"
    ex._quiet = False
    row = ex.add_filter()
    row.column.value, row.op.value = "city", "in"
    row.value.value = "Berlin, Paris"
    assert ex.frame is not None and set(ex.frame["country"]) == {"Germany", "France"}
    assert ex.built is not None and "Berlin" not in ex.built.sql  # bound, not pasted
    assert "Berlin" in ex.built.display_sql
    bob = Explore(session=governed.session(Principal("bob")))
    bob.build()
    bob.start()
    assert "may not read any dataset" in bob.status.value


def test_the_demo_notebooks_are_short_and_use_the_builder() -> None:
    for name in ("sales", "explore"):
        nb = nbformat.read(REPO / "notebooks" / "dashboards" / f"{name}.ipynb", as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "dap_kernel.dashboards" in code and len(code.splitlines()) < 60


# -- identity ----------------------------------------------------------------------------------


def test_the_viewer_key_decides_who_runs_the_queries(
    governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAP_HOME", str(governed.settings.home))
    reset_default_workspace()
    _, key = governed.apikeys.create("raj", "dashboard")
    monkeypatch.setenv(VIEWER_ENV, key)
    assert viewer_session().whoami()["user"] == "raj"
    monkeypatch.delenv(VIEWER_ENV)
    with pytest.raises(Unauthenticated, match="X-DAP-API-Key"):
        viewer_session()
    monkeypatch.setenv("DAP_DASHBOARD_VIEWER", "owner")
    assert viewer_session().whoami()["user"] == "tester"


def test_a_scheduled_snapshot_runs_as_the_key_of_its_run(
    governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No viewer: the kernel's DAP_API_KEY (what the scheduler sets for a run) says who runs
    the dashboard in process, as it does over REST; a viewer's key still comes first, and a key
    that is not valid is refused, never replaced by the owner."""
    monkeypatch.setenv("DAP_HOME", str(governed.settings.home))
    reset_default_workspace()
    _, raj = governed.apikeys.create("raj", "report run")
    _, bob = governed.apikeys.create("bob", "dashboard")
    monkeypatch.setenv("DAP_API_KEY", raj)
    assert viewer_session().whoami()["user"] == "raj"
    monkeypatch.setenv(VIEWER_ENV, bob)
    assert viewer_session().whoami()["user"] == "bob"
    monkeypatch.delenv(VIEWER_ENV)
    monkeypatch.setenv("DAP_API_KEY", "dap_not-a-key")
    with pytest.raises(ApiKeyError, match="invalid API key"):
        viewer_session()


def test_behind_the_hub_the_viewer_token_is_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard host's kernels call the service with the viewer's hub token, never with a
    token of the server's that happens to be in the environment."""
    monkeypatch.setenv("DAP_SERVICE_URL", "http://127.0.0.1:9/services/dap")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "the-servers-own")
    monkeypatch.setenv(VIEWER_TOKEN_ENV, "the-viewers")
    session = viewer_session()
    assert session._client.headers["Authorization"] == "token the-viewers"  # type: ignore[attr-defined]
    close_http_sessions()


# -- store, gallery, grants --------------------------------------------------------------------


def test_publish_gallery_and_grants(governed: Workspace, tmp_path: Path) -> None:
    admin = governed.session()
    info = publish(
        REPO / "notebooks" / "dashboards" / "sales.ipynb",
        description="Revenue",
        grants=["user:bob"],
        session=admin,
    )
    assert info.name == "sales" and info.title == "Sales" and info.owner == "tester"
    assert info.path == governed.settings.home / "dashboards" / "sales.ipynb"
    assert json.loads(info.path.read_text())["cells"]
    assert info.grants == ("user:bob",)
    ann, bob, raj = (governed.session(Principal(u)) for u in ("ann", "bob", "raj"))
    assert [d.name for d in gallery(bob)] == ["sales"]
    assert get(bob, "sales").owner == "tester"
    # analysts hold SELECT everywhere through their role: they may open every dashboard
    assert [d.name for d in gallery(ann)] == ["sales"]
    revoke(admin, "sales", "user", "bob")
    assert gallery(bob) == []
    with pytest.raises(QueryRefused):
        get(bob, "sales")
    with pytest.raises(UnknownDashboard):
        get(bob, "nope")
    with pytest.raises(QueryRefused):
        grant(raj, "sales", "user", "bob")  # not the owner, no MANAGE_GRANTS
    # The same grant through the policy admin (`dap grant SELECT dashboard:sales --user bob`);
    # a schema named "dashboard" would not reach it.
    governed.admin("tester").grant("SELECT", "dashboard:sales", "user", "bob")
    assert [d.name for d in gallery(bob)] == ["sales"]
    with pytest.raises(DapError, match="dashboard nope is not published"):
        governed.admin("tester").grant("SELECT", "dashboard:nope", "user", "bob")
    unpublish(admin, "sales")
    assert gallery(admin) == [] and not info.path.exists()


def test_publish_refuses_bad_input(workspace: Workspace, tmp_path: Path) -> None:
    session = workspace.session()
    bad = tmp_path / "broken.ipynb"
    bad.write_text("not json")
    with pytest.raises(Exception, match="not a notebook"):
        publish(bad, session=session)
    with pytest.raises(Exception, match="dashboard name"):
        publish(
            REPO / "notebooks" / "dashboards" / "sales.ipynb", name="Bad Name!", session=session
        )
    with pytest.raises(Exception, match="no notebook"):
        publish(tmp_path / "missing.ipynb", session=session)
