"""The DAP sidebar in a real JupyterLab, in a real browser: it lists the governed catalog."""

from __future__ import annotations

import contextlib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Browser, Lab, new_notebook, screenshot

pytestmark = pytest.mark.e2e


def open_catalog_panel(page: Any, lab: Lab) -> Any:
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    panel = page.locator("#dap-catalog-panel")
    # Activate rather than click the tab: a click closes the panel if the restored layout
    # already shows it.
    page.wait_for_function("window.jupyterapp !== undefined", timeout=30_000)
    page.evaluate(
        "async () => { await window.jupyterapp.restored;"
        " window.jupyterapp.shell.activateById('dap-catalog-panel'); }"
    )
    page.wait_for_selector("#dap-catalog-panel .dap-catalog-item", timeout=30_000)
    return panel


def test_sidebar_lists_catalog_tables(browser: Browser, lab: Lab) -> None:
    def steps(page: Any) -> dict[str, Any]:
        panel = open_catalog_panel(page, lab)
        items = panel.locator(".dap-catalog-item")
        seen = {
            "names": [items.nth(i).get_attribute("data-table") for i in range(items.count())],
            "customers": panel.locator('[data-table="main.customers"]').inner_text(),
            "errors": panel.locator(".dap-catalog-error").count(),
        }
        screenshot(page, "lab-catalog-panel")
        return seen

    seen = browser.run(steps)
    assert seen["names"] == [
        "main.customers",
        "main.experiment_exposures",
        "main.order_lines",
        "main.orders",
        "main.products",
        "main.web_events",
    ]
    assert "200 rows" in seen["customers"]
    assert "pii" in seen["customers"]
    assert seen["errors"] == 0


def test_refresh_shows_a_newly_registered_table(browser: Browser, lab: Lab, tmp_path: Path) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text("region,target\nEMEA,1\nAMER,2\n")

    def steps(page: Any) -> str:
        panel = open_catalog_panel(page, lab)
        ws = Workspace(Settings(home=lab.home, user="tester"))
        try:
            ws.catalog.register_file("targets", csv, description="Sales targets")
        finally:
            ws.close()
        panel.get_by_role("button", name="Refresh").click()
        target = panel.locator('[data-table="main.targets"]')
        target.wait_for(timeout=30_000)
        text: str = target.inner_text()
        return text

    assert "2 rows" in browser.run(steps)


def test_dap_up_opens_the_quickstart_and_prints_the_url(browser: Browser, lab: Lab) -> None:
    log = lab.log.read_text()
    port = lab.url.rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{port}/lab/tree/notebooks/quickstart.ipynb" in log
    # Jupyter prints the URL with its token (a token it generated in full; ours, set by the
    # test, it abbreviates).
    assert f"127.0.0.1:{port}/lab/tree/notebooks/quickstart.ipynb?token=" in log

    def steps(page: Any) -> str:
        page.goto(f"{lab.url}/?token={lab.token}")
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        tab.first.wait_for(timeout=30_000)
        title: str = tab.first.inner_text()
        return title

    assert "quickstart.ipynb" in browser.run(steps)


# -- catalog browser: search, tree, table panel, %%dap sql cells ------------------------------


def test_search_expand_and_open_a_table(browser: Browser, lab: Lab) -> None:
    def steps(page: Any) -> dict[str, Any]:
        panel = open_catalog_panel(page, lab)
        panel.get_by_label("Search the catalog").fill("pii")  # a tag: only customers
        page.wait_for_function(
            "document.querySelectorAll('#dap-catalog-panel .dap-catalog-item').length === 1",
            timeout=30_000,
        )
        row = panel.locator('.dap-catalog-item[data-table="main.customers"]')
        row.click()  # expands: columns are fetched now
        email = panel.locator('.dap-catalog-column[data-column="main.customers.email"]')
        email.wait_for(timeout=30_000)
        seen: dict[str, Any] = {
            "expanded": row.get_attribute("aria-expanded"),
            "email": email.inner_text(),
            "email_pii": email.locator(".dap-pii-badge").count(),
            "segment_pii": panel.locator(
                '[data-column="main.customers.segment"] .dap-pii-badge'
            ).count(),
        }
        screenshot(page, "lab-catalog-tree")
        # Keyboard: the row has focus after the click; Enter opens the table panel.
        row.press("Enter")
        view = page.locator("#dap-table-main_customers")
        view.locator(".dap-table-sample tbody tr").first.wait_for(timeout=30_000)
        seen["sample_rows"] = view.locator(".dap-table-sample tbody tr").count()
        seen["facts"] = view.locator(".dap-table-meta").inner_text()
        seen["lineage"] = view.locator(".dap-table-lineage").inner_text()
        seen["columns"] = view.locator(".dap-table-columns tbody tr").count()
        screenshot(page, "lab-table-panel")
        return seen

    seen = browser.run(steps)
    assert seen["expanded"] == "true"
    assert "email" in seen["email"] and "VARCHAR" in seen["email"].upper()
    assert seen["email_pii"] == 1 and seen["segment_pii"] == 0
    assert seen["sample_rows"] == 20
    assert "200 rows" in seen["facts"] and "tester" in seen["facts"]
    assert "UTC" in seen["facts"]
    assert seen["columns"] == 9
    assert "Upstream" in seen["lineage"]


def _delete(lab: Lab, path: str) -> None:
    request = urllib.request.Request(
        f"{lab.url}/api/contents/{path}?token={lab.token}", method="DELETE"
    )
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()


def test_sql_cell_insert_run_and_complete(browser: Browser, lab: Lab) -> None:
    created: list[str] = []

    def steps(page: Any) -> dict[str, Any]:
        panel = open_catalog_panel(page, lab)
        created.append(new_notebook(page))
        notebook = page.locator(".jp-NotebookPanel:visible")
        first = notebook.locator(".jp-Cell .cm-content").first
        first.click()
        page.keyboard.type("%load_ext dap_kernel")
        # Open the table panel from the tree and insert the cell from there.
        panel.locator('.dap-catalog-item[data-table="main.orders"] .dap-catalog-open').click(
            force=True
        )
        view = page.locator("#dap-table-main_orders")
        insert = view.get_by_role("button", name="Insert %%dap sql cell")
        insert.wait_for(timeout=30_000)
        seen: dict[str, Any] = {"insert_enabled": insert.get_attribute("aria-disabled")}
        insert.click()
        cells = notebook.locator(".jp-Cell")
        page.wait_for_function(
            "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')"
            ".length === 2",
            timeout=30_000,
        )
        seen["cell"] = cells.nth(1).locator(".cm-content").inner_text()
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        output = cells.nth(1).locator(".jp-OutputArea-output")
        output.first.wait_for(timeout=60_000)
        page.wait_for_function(
            "[...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')][1]"
            "?.querySelector('.jp-OutputArea')?.innerText.includes('order_id')",
            timeout=60_000,
        )
        seen["output"] = cells.nth(1).locator(".jp-OutputArea").inner_text()
        seen["errors"] = notebook.locator(".jp-OutputArea-output[data-mime-type*=error]").count()
        screenshot(page, "lab-sql-cell-result")

        # A new cell: SQL highlighting once it starts with %%dap sql, and Tab completion.
        page.evaluate(
            "window.jupyterapp.commands.execute('notebook:insert-cell-below')"
            ".then(() => window.jupyterapp.commands.execute('notebook:enter-edit-mode'))"
        )
        editor = cells.nth(2).locator(".cm-content")
        editor.wait_for(timeout=10_000)
        editor.click()
        page.keyboard.type("%%dap sql")
        page.keyboard.press("Enter")
        page.keyboard.type("SELECT * FROM main.cu")
        page.keyboard.press("Tab")  # asks the providers: the completer lists main.customers
        proposal = page.locator('.jp-Completer-item[data-value="main.customers"]')
        proposal.wait_for(timeout=30_000)
        seen["proposals"] = page.locator(".jp-Completer-item").count()
        screenshot(page, "lab-sql-completion")
        page.keyboard.press("Tab")  # a single proposal: Tab inserts it
        page.wait_for_function(
            "[...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')][2]"
            "?.querySelector('.cm-content')?.innerText.includes('main.customers')",
            timeout=30_000,
        )
        seen["completed"] = editor.inner_text()
        seen["keyword_weight"] = page.evaluate(
            """() => {
                const cell = [...document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')][2];
                const span = [...cell.querySelectorAll('.cm-line span')]
                    .find(s => s.textContent === 'SELECT');
                return span ? getComputedStyle(span).fontWeight : null;
            }"""
        )
        # Stop the kernel without the "unsaved changes" dialog; the file is deleted below.
        page.evaluate("async () => { await window.dapTestNotebook.sessionContext.shutdown(); }")
        return seen

    try:
        seen = browser.run(steps)
    finally:
        for path in created:
            _delete(lab, path)
    assert seen["insert_enabled"] == "false"
    assert seen["cell"] == "%%dap sql\nSELECT * FROM main.orders LIMIT 100"
    assert "order_id" in seen["output"] and "100" in seen["output"]
    assert seen["errors"] == 0
    assert seen["proposals"] == 1
    assert seen["proposals"] == 1
    assert "SELECT * FROM main.customers" in seen["completed"]
    assert seen["keyword_weight"] in ("bold", "700")
