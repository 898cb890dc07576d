"""The visual query builder and the lineage graph in a real JupyterLab, in a real browser.

The builder's numbers must be the governed core's numbers: the test computes the same query
in-process through ``dap_kernel`` and compares, in the result grid and in the notebook cell
that "Insert as cell" adds.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.dashboards.store import published_notebook
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Browser, Lab, close_main_area, new_notebook, open_lab, screenshot

pytestmark = pytest.mark.e2e

EXPECTED_SQL = (
    "SELECT status, count(*) AS count FROM main.orders WHERE channel = 'web' "
    "GROUP BY status ORDER BY status"
)


def expected_counts(lab: Lab) -> list[tuple[str, int]]:
    ws = Workspace(Settings(home=lab.home, user="tester"))
    try:
        frame = ws.session().sql(EXPECTED_SQL)
    finally:
        ws.close()
    return [(str(s), int(c)) for s, c in frame.iter_rows()]


def delete(lab: Lab, path: str) -> None:
    """Delete a notebook and shut down any kernel session still attached to it."""
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}", timeout=10) as r:
            sessions = json.load(r)
        for session in sessions:
            if session.get("path") == path:
                request = urllib.request.Request(
                    f"{lab.url}/api/sessions/{session['id']}?token={lab.token}", method="DELETE"
                )
                urllib.request.urlopen(request, timeout=10).close()
    request = urllib.request.Request(
        f"{lab.url}/api/contents/{path}?token={lab.token}", method="DELETE"
    )
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()


def published(lab: Lab, name: str) -> tuple[Any, bytes]:
    """A published dashboard and its notebook, read in-process as its owner."""
    ws = Workspace(Settings(home=lab.home, user="tester"))
    try:
        return published_notebook(ws.session(), name)
    finally:
        ws.close()


def grid_rows(builder: Any) -> list[list[str]]:
    rows: list[list[str]] = builder.locator(".dap-builder-grid").evaluate(
        """table => [...table.querySelectorAll('tbody tr')].map(
            tr => [...tr.querySelectorAll('td')].map(td => td.textContent))"""
    )
    return rows


def test_builder_runs_a_grouped_query_and_inserts_it_as_a_cell(browser: Browser, lab: Lab) -> None:
    expected = expected_counts(lab)
    created: list[str] = []

    def steps(page: Any) -> dict[str, Any]:
        open_lab(page, lab, "dap:open-builder")
        created.append(new_notebook(page, "%load_ext dap_kernel"))
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute("
            "'dap:open-builder', {table: 'main.orders'}); }"
        )
        builder = page.locator(".dap-builder:visible")
        builder.locator(".dap-builder-table").wait_for(timeout=30_000)
        page.wait_for_function(
            "document.querySelector('.dap-builder:not(.lm-mod-hidden) .dap-builder-sql')"
            "?.textContent.includes('main.orders')",
            timeout=30_000,
        )
        seen: dict[str, Any] = {
            "table": builder.locator(".dap-builder-table").input_value(),
            "insert_title": builder.get_by_role("button", name="Insert as cell").get_attribute(
                "title"
            ),
            "save_disabled": builder.get_by_role("button", name="Save as dashboard").is_disabled(),
            "save_title": builder.get_by_role("button", name="Save as dashboard").get_attribute(
                "title"
            ),
        }

        # Filter channel = 'web', picked from the value list loaded from the data.
        builder.get_by_role("button", name="Add filter").click()
        builder.get_by_label("Filter column").select_option(label="channel")
        value = builder.get_by_label("Value", exact=True)
        page.wait_for_function(
            "[...document.querySelectorAll('.dap-builder:not(.lm-mod-hidden) "
            "select[aria-label=\"Value\"] option')].some(o => o.value === 'web')",
            timeout=30_000,
        )
        seen["values"] = sorted(
            v for v in value.evaluate("s => [...s.options].map(o => o.value)") if v
        )
        value.select_option("web")
        builder.get_by_role("button", name="Add group-by column").click()
        builder.get_by_label("Group by column").select_option(label="status")
        builder.get_by_role("button", name="Add aggregate").click()
        builder.get_by_role("button", name="Add sort").click()
        builder.get_by_label("Sort by").select_option(label="status")
        page.wait_for_function(
            "(() => { const t = document.querySelector("
            "'.dap-builder:not(.lm-mod-hidden) .dap-builder-sql')?.textContent ?? '';"
            " return t.includes('GROUP BY') && t.includes(\"'web'\")"
            " && t.includes('ORDER BY'); })()",
            timeout=30_000,
        )
        seen["sql"] = builder.locator(".dap-builder-sql").inner_text()
        seen["limit_box"] = builder.get_by_label("Rows at most").input_value()
        seen["keywords"] = builder.locator(".dap-builder-sql .dap-sql-keyword").count()

        builder.get_by_role("button", name="Run").click()
        builder.locator(".dap-builder-grid tbody tr").first.wait_for(timeout=60_000)
        seen["header"] = builder.locator(".dap-builder-grid thead th").all_inner_texts()
        seen["rows"] = grid_rows(builder)
        seen["page_info"] = builder.locator(".dap-builder-page-info").inner_text()
        seen["bars"] = builder.locator(".dap-chart-svg rect.dap-chart-bar").count()
        builder.get_by_label("Chart", exact=True).select_option("line")
        seen["line"] = builder.locator(".dap-chart-svg path.dap-chart-line").count()
        builder.get_by_label("Chart", exact=True).select_option("bar")
        screenshot(page, "lab-query-builder")

        # Save as dashboard: JupyterLab's input dialog asks for the name, the chart goes along.
        seen["save_enabled"] = builder.get_by_role("button", name="Save as dashboard").is_enabled()
        builder.get_by_role("button", name="Save as dashboard").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").wait_for(timeout=30_000)
        seen["suggested_name"] = dialog.locator("input").input_value()
        dialog.locator("input").fill("web-orders")
        dialog.get_by_role("button", name="Publish").click()
        page.wait_for_function(
            "document.querySelector('.dap-builder:not(.lm-mod-hidden) .dap-builder-status')"
            "?.textContent.startsWith('Published dashboard')",
            timeout=30_000,
        )
        seen["saved_status"] = builder.locator(".dap-builder-status").inner_text()

        # Insert as cell: below the active cell of the notebook, then run everything.
        seen["insert_title_with_notebook"] = builder.get_by_role(
            "button", name="Insert as cell"
        ).get_attribute("title")
        builder.get_by_role("button", name="Insert as cell").click()
        page.wait_for_function(
            "window.jupyterapp.shell.currentWidget?.content?.model?.sharedModel"
            "?.cells?.length === 2",
            timeout=30_000,
        )
        seen["cell"] = page.evaluate(
            "window.jupyterapp.shell.currentWidget.content.model.sharedModel.getCell(1).getSource()"
        )
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
        )
        page.wait_for_function(
            """(() => {
                const nb = window.jupyterapp.shell.currentWidget?.content;
                const cell = nb?.model?.sharedModel?.getCell(1);
                if (!cell) { return false; }
                const outputs = cell.toJSON().outputs ?? [];
                return outputs.some(o => o.output_type === 'execute_result'
                    || o.output_type === 'error');
            })()""",
            timeout=90_000,
        )
        seen["outputs"] = page.evaluate(
            "window.jupyterapp.shell.currentWidget.content.model.sharedModel"
            ".getCell(1).toJSON().outputs"
        )
        page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(1).locator(
            ".jp-OutputArea-output"
        ).last.wait_for(timeout=30_000)
        screenshot(page, "lab-query-builder-cell")
        close_main_area(page)
        return seen

    try:
        seen = browser.run(steps)
    finally:
        for path in created:
            delete(lab, path)

    assert seen["table"] == "main.orders"
    assert seen["save_disabled"] is False  # the table alone is a query
    assert seen["save_title"] == "Publish this query and its chart as a dashboard you own"
    assert seen["insert_title"] == "Insert the query as a %%dap sql cell below the active cell"
    assert seen["values"] == ["mobile", "store", "web"]
    assert "WHERE" in seen["sql"] and "t0.channel = 'web'" in seen["sql"]
    assert "COUNT(*) AS count" in seen["sql"]
    assert seen["limit_box"] == "1000" and seen["sql"].rstrip().endswith("LIMIT 1000")
    assert seen["keywords"] >= 6

    # The grid shows what the governed core computes in-process.
    assert seen["header"] == ["#", "status", "count"]
    assert [(r[0], int(r[1])) for r in seen["rows"]] == expected
    n = len(expected)
    assert seen["page_info"] == f"Rows 1–{n} of {n}"
    assert seen["bars"] == n
    assert seen["line"] == 1

    # The saved dashboard is published, owned by the user, with the query and the bar chart.
    assert seen["save_enabled"] is True and seen["suggested_name"] == "orders-by-status"
    assert seen["saved_status"] == (
        "Published dashboard web-orders (Orders by status): dap dashboard serve web-orders"
    )
    info, notebook = published(lab, "web-orders")
    assert info.owner == "tester" and info.title == "Orders by status"
    code = "".join(json.loads(notebook)["cells"][0]["source"])
    assert "d.chart(kind='bar', x='status', y='count'" in code
    assert "channel = 'web'" in code

    # The notebook cell is the same query and prints the same numbers.
    assert seen["cell"].startswith("%%dap sql\nSELECT")
    assert "t0.channel = 'web'" in seen["cell"]
    results = [o for o in seen["outputs"] if o["output_type"] == "execute_result"]
    errors = [o for o in seen["outputs"] if o["output_type"] == "error"]
    assert not errors, json.dumps(errors)[:2000]
    text = "".join(results[-1]["data"]["text/plain"])
    assert f"shape: ({n}, 2)" in text
    for status, count in expected:
        assert status in text and str(count) in text


def test_lineage_graph_shows_sources_and_recentres(
    browser: Browser, lab: Lab, tmp_path: Path
) -> None:
    csv = tmp_path / "regions.csv"
    csv.write_text("region,manager\nEMEA,Ana\nAMER,Bo\nAPAC,Chen\n")
    ws = Workspace(Settings(home=lab.home, user="tester"))
    try:
        ws.catalog.register_file("regions", csv, description="Regional managers")
    finally:
        ws.close()

    def steps(page: Any) -> dict[str, Any]:
        open_lab(page, lab, "dap:open-builder")
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute("
            "'dap:open-lineage', {table: 'main.regions'}); }"
        )
        view = page.locator(".dap-lineage:visible")
        view.locator(".dap-lineage-svg .dap-lineage-center").wait_for(timeout=30_000)
        source = view.locator('.dap-lineage-svg .dap-lineage-upstream[data-kind="file"]')
        seen: dict[str, Any] = {
            "center": view.locator(".dap-lineage-center").get_attribute("data-name"),
            "source": source.get_attribute("data-name"),
            "source_role": source.get_attribute("role"),
            "links": view.locator(".dap-lineage-link").count(),
            "status": view.locator(".dap-lineage-status").inner_text(),
        }
        screenshot(page, "lab-lineage-graph")
        # Re-centre through the table picker (the demo's Delta tables have no sources).
        view.get_by_label("Table").select_option("main.orders")
        page.wait_for_function(
            "document.querySelector('.dap-lineage:not(.lm-mod-hidden) .dap-lineage-center')"
            "?.getAttribute('data-name') === 'main.orders'",
            timeout=30_000,
        )
        seen["after"] = view.locator(".dap-lineage-center").get_attribute("data-name")
        seen["tab"] = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current").first
        seen["tab"] = seen["tab"].inner_text()
        view.get_by_role("button", name="Back").click()
        page.wait_for_function(
            "document.querySelector('.dap-lineage:not(.lm-mod-hidden) .dap-lineage-center')"
            "?.getAttribute('data-name') === 'main.regions'",
            timeout=30_000,
        )
        seen["back"] = view.locator(".dap-lineage-center").get_attribute("data-name")
        close_main_area(page)
        return seen

    try:
        seen = browser.run(steps)
    finally:
        # The lab is shared by the session: other tests list its tables.
        ws = Workspace(Settings(home=lab.home, user="tester"))
        try:
            ws.catalog.drop("main.regions")
        finally:
            ws.close()
    assert seen["center"] == "main.regions"
    assert seen["source"].endswith("regions.csv")
    assert seen["source_role"] is None  # a file is shown, not clickable
    assert seen["links"] == 1
    assert seen["status"] == "1 upstream, 0 downstream"
    assert seen["after"] == "main.orders"
    assert "Lineage: orders" in seen["tab"]
    assert seen["back"] == "main.regions"


def test_builder_shows_server_errors_inline(browser: Browser, lab: Lab) -> None:
    def steps(page: Any) -> dict[str, Any]:
        open_lab(page, lab, "dap:open-builder")
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute("
            "'dap:open-builder', {table: 'main.no_such_table'}); }"
        )
        builder = page.locator(".dap-builder:visible")
        form_error = builder.locator(".dap-builder-side .dap-builder-error[role=alert]")
        sql_error = builder.locator(".dap-builder-sql-error[role=alert]")
        form_error.wait_for(timeout=30_000)
        sql_error.wait_for(timeout=30_000)  # hidden while empty
        seen = {
            "form_error": form_error.inner_text(),
            "sql_error": sql_error.inner_text(),
            "run_disabled": builder.get_by_role("button", name="Run").is_disabled(),
        }
        close_main_area(page)
        return seen

    seen = browser.run(steps)
    assert seen["form_error"] == "no table main.no_such_table in the catalog"
    assert "main.no_such_table" in seen["sql_error"]
    assert seen["run_disabled"] is True
