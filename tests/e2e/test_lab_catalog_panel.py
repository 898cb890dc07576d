"""The DAP sidebar in a real JupyterLab, in a real browser: it lists the governed catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Browser, Lab, screenshot

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
