"""The lineage graph drawn from the recorded chain, and quality/freshness badges, in a real Lab.

The data is made the way a user makes it: ``CREATE TABLE … AS SELECT`` through a DAP session
(which records the lineage), rules set and checked through ``dap_kernel.quality`` — all before
the Lab starts. The browser must then show what the Python API recorded.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dap_kernel import quality
from dap_kernel.lineage import LineageStore
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Browser, Lab, _running_lab, close_main_area, open_lab, screenshot

pytestmark = pytest.mark.e2e

CHAIN = [
    "CREATE TABLE main.orders_enriched AS SELECT o.order_id, o.order_ts, o.status, c.region "
    "FROM main.orders o JOIN main.customers c ON o.customer_id = c.customer_id",
    "CREATE TABLE main.by_region AS SELECT region, count(*) AS orders, "
    "max(order_ts) AS last_order FROM main.orders_enriched GROUP BY region",
    "CREATE TABLE main.top_region AS SELECT region, orders FROM main.by_region "
    "ORDER BY orders DESC LIMIT 1",
]
RULES: list[dict[str, Any]] = [
    {"not_null": "region"},
    {"row_count": {"min": 1}},
    # The demo has three regions: APAC breaks this warn rule.
    {"accepted_values": {"column": "region", "values": ["EMEA", "AMER"]}, "severity": "warn"},
    {"freshness": {"column": "last_order", "max_age": "5000d"}},
]
SQL_PROCESS = "sql:tester"


@pytest.fixture(scope="module")
def prepared(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A Lab over demo data plus a CTAS chain (lineage) and one checked table (quality)."""
    home = tmp_path_factory.mktemp("lab-lineage") / "dap"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    try:
        session = ws.session()
        for statement in CHAIN:
            session.sql(statement)
        quality.set_rules("main.by_region", RULES, session=session)
        report = quality.check("main.by_region", session=session)
        # Rules without a check yet: the tree shows "unknown" for it.
        quality.set_rules("main.orders", [{"not_null": "order_id"}], session=session)
        graph = LineageStore(ws.meta).graph("main.by_region")
        newest = report.freshness()
    finally:
        ws.close()
    facts = {
        "status": report.status,
        "failed": report.failed_rules,
        "checked_at": report.checked_at,
        "edges": {(e.source, e.target, e.process) for e in graph.edges},
        "newest": newest["newest"] if newest else None,
    }
    with _running_lab(home, "tester", tmp_path_factory) as lab:
        yield {"lab": lab, **facts}


def centre_is(page: Any, name: str) -> None:
    page.wait_for_function(
        "name => document.querySelector('.dap-lineage:not(.lm-mod-hidden) .dap-lineage-center')"
        "?.getAttribute('data-name') === name",
        arg=name,
        timeout=30_000,
    )


def drawn_edges(view: Any) -> list[dict[str, Any]]:
    edges: list[dict[str, Any]] = view.locator(".dap-lineage-edge").evaluate_all(
        """gs => gs.map(g => ({
            source: g.getAttribute('data-source'),
            target: g.getAttribute('data-target'),
            process: g.getAttribute('data-process'),
            path: g.classList.contains('dap-mod-path'),
            title: g.querySelector('title')?.textContent ?? '',
        }))"""
    )
    return edges


def test_lineage_chain_column_path_and_quality_badges(
    browser: Browser, prepared: dict[str, Any]
) -> None:
    lab: Lab = prepared["lab"]

    def steps(page: Any) -> dict[str, Any]:
        open_lab(page, lab, "dap:open-lineage")
        seen: dict[str, Any] = {}

        # -- the lineage graph of the middle of the chain -------------------------------------
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute("
            "'dap:open-lineage', {table: 'main.by_region'}); }"
        )
        view = page.locator(".dap-lineage:visible")
        centre_is(page, "main.by_region")
        # A straight edge has a zero-height box, which Playwright calls hidden: wait for it
        # in the DOM.
        view.locator(".dap-lineage-edge").first.wait_for(state="attached", timeout=30_000)
        seen["status"] = view.locator(".dap-lineage-status").inner_text()
        seen["edges"] = drawn_edges(view)
        seen["layers"] = dict(
            view.locator(".dap-lineage-node").evaluate_all(
                "ns => ns.map(n => [n.getAttribute('data-name'), "
                "Number(n.getAttribute('data-layer'))])"
            )
        )
        seen["clickable"] = sorted(
            view.locator(".dap-lineage-node.dap-mod-clickable").evaluate_all(
                "ns => ns.map(n => n.getAttribute('data-name'))"
            )
        )
        # Hovering an edge tells its process.
        link = view.locator(
            '.dap-lineage-edge[data-source="main.orders_enriched"][data-target="main.by_region"]'
        )
        # A real pointer over the middle of the edge (its wide invisible stroke takes it).
        box = link.locator(".dap-lineage-link").evaluate(
            "p => { const r = p.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }"
        )
        page.mouse.move(box["x"], box["y"] + 3)
        page.wait_for_function(
            "document.querySelector('.dap-lineage:not(.lm-mod-hidden) .dap-lineage-edge-info')"
            "?.textContent.startsWith('main.orders_enriched →')",
            timeout=10_000,
        )
        seen["hover"] = view.locator(".dap-lineage-edge-info").inner_text()
        screenshot(page, "lab-lineage-chain")

        # -- one column's path ----------------------------------------------------------------
        picker = view.get_by_label("Column", exact=True)
        page.wait_for_function(
            "[...document.querySelectorAll('.dap-lineage:not(.lm-mod-hidden) "
            "select.dap-lineage-column option')].some(o => o.value === 'region')",
            timeout=30_000,
        )
        seen["columns"] = picker.evaluate("s => [...s.options].map(o => o.value)")
        picker.select_option("region")
        view.locator(".dap-lineage-svg.dap-lineage-has-path").wait_for(timeout=30_000)
        seen["path_nodes"] = sorted(
            view.locator(".dap-lineage-node.dap-mod-path").evaluate_all(
                "ns => ns.map(n => n.getAttribute('data-name'))"
            )
        )
        seen["path_edges"] = sorted(
            (e["source"], e["target"]) for e in drawn_edges(view) if e["path"]
        )
        seen["path_text"] = view.locator(".dap-lineage-column-path").inner_text()
        screenshot(page, "lab-lineage-column-path")

        # -- clicking a table node re-centres on it -------------------------------------------
        view.locator('.dap-lineage-node[data-name="main.orders_enriched"]').click()
        centre_is(page, "main.orders_enriched")
        seen["recentred_status"] = view.locator(".dap-lineage-status").inner_text()
        seen["column_after"] = view.locator("select.dap-lineage-column").input_value()
        close_main_area(page)

        # -- the table panel's badges ---------------------------------------------------------
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute("
            "'dap:open-table', {table: 'main.by_region'}); }"
        )
        panel = page.locator(".dap-table-view:visible")
        pill = panel.locator(".dap-quality-pill")
        pill.wait_for(timeout=30_000)
        seen["pill"] = pill.inner_text()
        seen["pill_title"] = pill.get_attribute("title")
        seen["pill_label"] = pill.get_attribute("aria-label")
        seen["fresh"] = panel.locator(".dap-fresh-pill").inner_text()
        seen["now"] = datetime.now(UTC)
        screenshot(page, "lab-table-quality-badge")
        close_main_area(page)

        # -- the catalog tree's dots ----------------------------------------------------------
        page.evaluate("() => window.jupyterapp.shell.activateById('dap-catalog-panel')")
        tree = page.locator("#dap-catalog-panel")
        dot = tree.locator('li[data-table="main.by_region"] .dap-quality-dot')
        dot.wait_for(timeout=30_000)
        unknown = tree.locator('li[data-table="main.orders"] .dap-quality-dot')
        unknown.wait_for(timeout=30_000)
        seen["dot"] = (dot.inner_text(), dot.get_attribute("aria-label"))
        seen["unknown_dot"] = (unknown.inner_text(), unknown.get_attribute("aria-label"))
        screenshot(page, "lab-catalog-quality-dots")
        return seen

    seen = browser.run(steps)

    # The chain as recorded, layered, not a star around the table.
    expected = {
        ("main.orders", "main.orders_enriched", SQL_PROCESS),
        ("main.customers", "main.orders_enriched", SQL_PROCESS),
        ("main.orders_enriched", "main.by_region", SQL_PROCESS),
        ("main.by_region", "main.top_region", SQL_PROCESS),
    }
    assert prepared["edges"] == expected  # what the Python API recorded
    assert {(e["source"], e["target"], e["process"]) for e in seen["edges"]} == expected
    assert len(seen["edges"]) == 4
    assert seen["status"] == "3 upstream, 1 downstream"
    assert seen["layers"] == {
        "main.orders": -2,
        "main.customers": -2,
        "main.orders_enriched": -1,
        "main.by_region": 0,
        "main.top_region": 1,
    }
    assert seen["clickable"] == [
        "main.customers",
        "main.orders",
        "main.orders_enriched",
        "main.top_region",
    ]
    assert seen["hover"].startswith(f"main.orders_enriched → main.by_region: {SQL_PROCESS}")
    titles = {e["title"].split(",")[0] for e in seen["edges"]}
    assert f"main.by_region → main.top_region: {SQL_PROCESS}" in titles

    # The region column: customers.region → orders_enriched.region → by_region.region → top.
    assert seen["columns"][0] == ""
    assert {"region", "orders", "last_order"} <= set(seen["columns"])
    assert seen["path_nodes"] == [
        "main.by_region",
        "main.customers",
        "main.orders_enriched",
        "main.top_region",
    ]
    assert seen["path_edges"] == [
        ("main.by_region", "main.top_region"),
        ("main.customers", "main.orders_enriched"),
        ("main.orders_enriched", "main.by_region"),
    ]
    assert seen["path_text"] == (
        "Column main.by_region.region comes from main.orders_enriched.region, "
        "main.customers.region; feeds main.top_region.region."
    )
    assert seen["recentred_status"] == "2 upstream, 2 downstream"
    assert seen["column_after"] == ""

    # Badges: what quality.check found, as text.
    assert prepared["status"] == "warn"
    assert prepared["failed"] == ["accepted_values_region"]
    checked = prepared["checked_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert seen["pill"] == "quality: warn"
    assert seen["pill_title"].splitlines()[0] == f"Checked {checked} by tester"
    assert seen["pill_title"].splitlines()[1] == "Failed rules (1):"
    assert seen["pill_title"].splitlines()[2].startswith("! accepted_values_region (warn)")
    assert seen["pill_label"].startswith("quality: warn. Checked")
    newest = prepared["newest"]
    days = (seen["now"] - newest).total_seconds() / 86400
    assert seen["fresh"] in {
        f"fresh: {math.floor(days)} d ago",
        f"fresh: {math.floor(days) - 1} d ago",
    }
    assert seen["dot"][0] == "!"
    assert seen["dot"][1].startswith("quality: warn, 1 rule failed, fresh: ")
    assert seen["unknown_dot"] == ("?", "quality: unknown")
