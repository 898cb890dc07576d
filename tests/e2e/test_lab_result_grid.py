"""The result grid in a real JupyterLab: a million-row `%%dap sql` result scrolls and sorts,
money reads 11,303,000.00 (not 1.1303e7), a null reads null — and the notebook keeps only the
first page.

The grid draws on a canvas, so the test reads what a cell shows through the view the output
node carries (``node.dapResultView.cellText(row, column)``, the text the renderer draws) and
drives it as a user does: the mouse wheel, clicks on a header. Timings (render, page fetch)
go to ``test-artifacts/result-grid-timings.json``; they are not asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import ARTIFACTS, Browser, Lab, close_main_area, new_notebook, open_lab, screenshot
from .test_lab_builder import delete
from .test_lab_dark_theme import _theme

pytestmark = pytest.mark.e2e

ROWS = 1_000_000
QUERY = f"""%%dap sql
SELECT i AS id,
       round(i * 11.303::DOUBLE, 2) AS revenue,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'item ' || i END AS label
FROM range(1, {ROWS + 1}) t(i)"""

VIEW = "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .dap-result-view')"


def test_a_million_row_result_scrolls_sorts_and_formats(browser: Browser, lab: Lab) -> None:
    created: list[str] = []

    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        open_lab(page, lab, "dap:refresh-catalog")
        # this checkout's build is the one served (see conftest: JUPYTER_PATH)
        seen["plugin"] = page.evaluate(
            "window.jupyterapp.hasPlugin('@dap/labextension:result-grid')"
        )
        created.append(new_notebook(page, "%load_ext dap_kernel"))
        page.evaluate(
            """async (query) => {
                const panel = window.dapTestNotebook;
                panel.content.model.sharedModel.insertCell(1, {cell_type: 'code', source: query});
                window.dapStarted = performance.now();
                await window.jupyterapp.commands.execute('notebook:run-all-cells');
            }""",
            QUERY,
        )
        page.wait_for_function(f"{VIEW} !== null", timeout=120_000)
        seen["render_ms"] = page.evaluate("performance.now() - window.dapStarted")
        view = page.locator(".jp-NotebookPanel:visible .dap-result-view")
        seen["status"] = view.locator(".dap-result-status").inner_text()
        cell = f"(r, c) => {VIEW}.dapResultView.cellText(r, c)"
        seen["row0"] = [page.evaluate(f"({cell})(0, {c})") for c in range(3)]
        seen["null"] = page.evaluate(f"({cell})(9, 2)")
        seen["null_value"] = page.evaluate(f"{VIEW}.dapResultView.model.value(9, 2)")
        screenshot(page, "lab-result-grid")

        # Scroll with the wheel, far past the first page: rows arrive from the kernel.
        grid = view.locator(".dap-result-grid")
        box = grid.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(10):
            page.mouse.wheel(0, 4000)
        page.wait_for_function(f"{VIEW}.dapResultView.grid.scrollY > 20000", timeout=30_000)
        first_visible = page.evaluate(f"Math.floor({VIEW}.dapResultView.grid.scrollY / 22) + 1")
        page.wait_for_function(f"({cell})({first_visible}, 0) !== '…'", timeout=30_000)
        seen["scrolled_row"] = first_visible
        seen["scrolled_id"] = page.evaluate(f"({cell})({first_visible}, 0)")

        # Jump to the end: the page fetch latency, as the browser sees it.
        seen["last_ms"] = page.evaluate(
            f"""async () => {{
                const view = {VIEW}.dapResultView;
                const t0 = performance.now();
                view.grid.scrollToRow({ROWS - 1});
                view.model.value({ROWS - 1}, 0);
                while (view.model.value({ROWS - 1}, 0) === undefined) {{
                    await new Promise(r => setTimeout(r, 5));
                }}
                return performance.now() - t0;
            }}"""
        )
        # one page request over the comm, five times (median)
        seen["page_ms"] = page.evaluate(
            f"""async () => {{
                const model = {VIEW}.dapResultView.model;
                const times = [];
                for (let i = 0; i < 5; i++) {{
                    const t0 = performance.now();
                    await model.source.page(model._bundle.handle, 400000 + i * 200, 200, []);
                    times.push(performance.now() - t0);
                }}
                return times.sort((a, b) => a - b)[2];
            }}"""
        )
        seen["last"] = [page.evaluate(f"({cell})({ROWS - 1}, {c})") for c in range(3)]
        screenshot(page, "lab-result-grid-end")

        # Sort by revenue, descending: two clicks on its header, sorted by the kernel.
        header_x = box["x"] + page.evaluate(  # the middle of the second column's header
            f"(g => g.headerWidth + g.columnOffset('body', 1) + g.columnSize('body', 1) / 2)"
            f"({VIEW}.dapResultView.grid)"
        )
        page.mouse.click(header_x, box["y"] + 10)
        page.wait_for_function(f"{VIEW}.dapResultView.model.sort?.desc === false", timeout=30_000)
        page.wait_for_function(f"({cell})(0, 1) !== '…'", timeout=30_000)
        seen["asc_top"] = page.evaluate(f"({cell})(0, 1)")
        started = page.evaluate("performance.now()")
        page.mouse.click(header_x, box["y"] + 10)
        page.wait_for_function(
            f"{VIEW}.dapResultView.model.sort?.desc === true && ({cell})(0, 1) !== '…'",
            timeout=30_000,
        )
        seen["sort_ms"] = page.evaluate("performance.now()") - started
        seen["desc_top"] = [page.evaluate(f"({cell})(0, {c})") for c in range(3)]
        seen["scroll_after_sort"] = page.evaluate(f"{VIEW}.dapResultView.grid.scrollY")
        seen["header"] = page.evaluate(f"{VIEW}.dapResultView.model.data('column-header', 0, 1)")
        screenshot(page, "lab-result-grid-sorted")

        # Download: the whole result, in the order shown, from the kernel in chunks.
        with page.expect_download(timeout=120_000) as download:
            view.locator(".dap-result-download").click()
        seen["csv"] = download.value.path().read_text().splitlines()

        # A theme switch recolours the canvas (it cannot use CSS variables itself).
        background = f"{VIEW}.dapResultView.grid.style.backgroundColor"
        seen["light_bg"] = page.evaluate(background)
        _theme(page, "JupyterLab Dark")
        try:
            page.wait_for_function(f"{background} !== {json.dumps(seen['light_bg'])}")
            seen["dark_bg"] = page.evaluate(background)
            screenshot(page, "lab-result-grid-dark")
        finally:
            _theme(page, "JupyterLab Light")

        # Run the query again, warm: from execution to the new grid.
        seen["rerun_ms"] = page.evaluate(
            f"""async () => {{
                const old = {VIEW};
                const panel = window.dapTestNotebook;
                panel.content.activeCellIndex = 1;
                const t0 = performance.now();
                await window.jupyterapp.commands.execute('notebook:run-cell');
                while ({VIEW} === null || {VIEW} === old) {{
                    await new Promise(r => setTimeout(r, 10));
                }}
                return performance.now() - t0;
            }}"""
        )
        seen["outputs"] = page.evaluate(
            "window.dapTestNotebook.content.model.sharedModel.getCell(1).toJSON().outputs"
        )
        close_main_area(page)
        return seen

    try:
        seen = browser.run(steps, timeout=300)
    finally:
        for path in created:
            delete(lab, path)

    timings = {
        k: round(seen[k], 1) for k in ("render_ms", "rerun_ms", "page_ms", "last_ms", "sort_ms")
    }
    (ARTIFACTS / "result-grid-timings.json").write_text(json.dumps(timings, indent=2))
    print("result grid timings (ms):", timings)

    assert seen["plugin"] is True
    assert seen["status"] == "1,000,000 rows"
    assert seen["row0"] == ["1", "11.30", "item 1"]
    assert seen["null"] == "null" and seen["null_value"] is None
    # scrolled rows are the kernel's rows at that position
    assert seen["scrolled_row"] > 900
    assert seen["scrolled_id"] == str(seen["scrolled_row"] + 1)
    assert seen["last"] == ["1000000", "11,303,000.00", "null"]
    assert seen["asc_top"] == "11.30"
    # the largest revenue of all million rows, formatted as money
    assert seen["desc_top"] == ["1000000", "11,303,000.00", "null"]
    assert seen["header"] == "revenue ▼"
    csv = seen.pop("csv")
    assert len(csv) == ROWS + 1 and csv[0] == '"id","revenue","label"'
    assert csv[1] == "1000000,11303000," and csv[-1] == '1,11.3,"item 1"'
    # the download is DAP's export of those rows, audited as one
    ws = Workspace(Settings(home=lab.home, user="tester"))
    try:
        exports = [r for r in ws.audit.tail(50) if r.action == "export"]
    finally:
        ws.close()
    assert exports and exports[0].row_count == ROWS and exports[0].decision == "allowed"
    assert seen["scroll_after_sort"] == 0  # a new order shows from its top
    assert (seen["light_bg"], seen["dark_bg"]) == ("white", "#111")  # --jp-layout-color0

    # The notebook keeps the first page only, with the HTML form for other front ends.
    result = next(o for o in seen["outputs"] if o["output_type"] == "execute_result")
    data = result["data"]["application/vnd.dap.result+json"]
    assert data["row_count"] == ROWS and len(data["rows"]) == 200 and data["handle"]
    assert "11.30" in "".join(result["data"]["text/html"])
    assert len(json.dumps(result)) < 100_000
