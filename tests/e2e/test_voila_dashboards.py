"""The dashboards in a real browser: Voilà with the dap template serving the demo notebooks
over a governed copy of the demo data, each viewer coming in with their own DAP API key.

Screenshots (375 px and 1280 px) land in test-artifacts/voila-*.png.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dap_kernel.dashboards.identity import VIEWER_HEADER
from dap_kernel.dashboards.serve import voila_args, voila_env
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.conftest import _free_port, make_governed, stop_process
from tests.e2e.conftest import ARTIFACTS, REPO, Browser

NOTEBOOKS = REPO / "notebooks" / "dashboards"
RENDERED = "window.dapRendered && window.dapRendered() && document.querySelector('.dap-card')"
WAIT_MS = 180_000  # a cold kernel on a busy 2-core machine


@dataclass(frozen=True)
class Voila:
    url: str
    keys: dict[str, str]
    revenue: dict[str, float]  # the sales KPI each viewer must see


def _sales_sql() -> str:
    nb = nbformat.read(NOTEBOOKS / "sales.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells)
    found = re.search(r'SALES = """(.*?)"""', source, re.S)
    assert found, "the sales notebook defines SALES"
    return found.group(1)


@pytest.fixture(scope="module")
def voila(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Voila]:
    """`voila --template=dap notebooks/dashboards/` as `dap dashboard serve` starts it."""
    home = tmp_path_factory.mktemp("voila") / "dap"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    try:
        make_governed(ws)
        keys = {u: ws.apikeys.create(u, "dashboards")[1] for u in ("tester", "ann", "raj", "bob")}
        sql = f"SELECT region, sum(revenue) AS r FROM ({_sales_sql()}) AS s GROUP BY region"
        by_region = dict(ws.session().sql(sql).iter_rows())
    finally:
        ws.close()
    revenue = {
        "tester": sum(by_region.values()),
        "ann": by_region["EMEA"],
        "raj": by_region["APAC"],
        "APAC": by_region["APAC"],
    }
    port = _free_port()
    env = {k: v for k, v in voila_env().items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester"})
    log_path = home.parent / "voila.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            voila_args(NOTEBOOKS, port=port), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/voila/api/shutdown", timeout=2)
            except urllib.error.HTTPError:
                break  # the server answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"voila did not start; see {log_path}") from None
                time.sleep(0.3)
            else:
                break
        yield Voila(url=url, keys=keys, revenue=revenue)
    finally:
        stop_process(process)


def _open(page: Any, voila: Voila, notebook: str, user: str, width: int = 1280) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.set_extra_http_headers({VIEWER_HEADER: voila.keys[user]})
    page.goto(f"{voila.url}/voila/render/{notebook}", wait_until="domcontentloaded")
    page.wait_for_function(RENDERED, timeout=WAIT_MS)


def _kpi(page: Any, title: str) -> float:
    text = page.evaluate(
        """(title) => {
            for (const card of document.querySelectorAll('.dap-kpi')) {
                if (card.querySelector('.dap-card-title').textContent.trim() === title) {
                    return card.querySelector('.dap-kpi-value').textContent;
                }
            }
            return null;
        }""",
        title,
    )
    assert text, f"no KPI tile {title!r}"
    return float(re.sub(r"[^0-9.]", "", text))


def _ticks(page: Any, card_title: str) -> list[str]:
    ticks: list[str] = page.evaluate(
        """(title) => {
            for (const card of document.querySelectorAll('.dap-card')) {
                const h = card.querySelector('.dap-card-title');
                if (h && h.textContent.trim() === title) {
                    return Array.from(card.querySelectorAll('.xtick text')).map(t => t.textContent);
                }
            }
            return [];
        }""",
        card_title,
    )
    return ticks


def _control(page: Any, label: str) -> Any:
    """The select under the label ``label`` of the Explore controls."""
    exact = re.compile(f"^{re.escape(label)}$")
    return page.locator(
        ".dap-filter", has=page.locator(".dap-filter-label", has_text=exact)
    ).locator("select")


def _shoot(page: Any, name: str, width: int) -> None:
    """A tall viewport, so the artifact shows the whole dashboard (the page scrolls inside)."""
    page.set_viewport_size({"width": width, "height": 2000})
    time.sleep(0.8)  # plotly's resize listener redraws the charts
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"voila-{name}-{width}.png"))


def _no_horizontal_overflow(page: Any) -> None:
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"horizontal scrolling at {sizes[1]} px: {sizes[0]} px wide"
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll('.dap-card, .dap-header, .dap-filters'))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).length"""
    )
    assert wide == 0


def _contents_fit_their_cards(page: Any) -> None:
    """Every card's text fits inside its card, uncut (a KPI value is not clipped), and no two
    tick labels of one chart axis overlap."""
    clipped = page.evaluate(
        """() => {
            const bad = [];
            for (const card of document.querySelectorAll('.dap-card')) {
                const box = card.getBoundingClientRect();
                for (const e of card.querySelectorAll(
                        '.dap-card-title, .dap-kpi-value, .dap-kpi-label, .dap-kpi-delta')) {
                    const r = e.getBoundingClientRect();
                    if (e.scrollWidth > e.clientWidth + 1 || r.left < box.left - 1
                            || r.right > box.right + 1) {
                        bad.push(e.className + ': ' + e.textContent.trim());
                    }
                }
            }
            return bad;
        }"""
    )
    assert clipped == [], clipped
    overlapping = page.evaluate(
        """() => {
            const bad = [];
            for (const card of document.querySelectorAll('.dap-card')) {
                for (const axis of card.querySelectorAll('.xaxislayer-above, .yaxislayer-above')) {
                    const boxes = Array.from(axis.querySelectorAll('text'))
                        .map(t => t.getBoundingClientRect()).filter(r => r.width > 0);
                    for (let i = 1; i < boxes.length; i++) {
                        for (let j = 0; j < i; j++) {
                            const a = boxes[i], b = boxes[j];
                            if (a.left < b.right - 1 && b.left < a.right - 1
                                    && a.top < b.bottom - 1 && b.top < a.bottom - 1) {
                                bad.push(card.querySelector('.dap-card-title')?.textContent);
                            }
                        }
                    }
                }
            }
            return [...new Set(bad)];
        }"""
    )
    assert overlapping == [], f"overlapping axis labels in {overlapping}"


def test_sales_on_desktop_and_phone(browser: Browser, voila: Voila) -> None:
    def steps(page: Any) -> None:
        _open(page, voila, "sales.ipynb", "tester", width=1280)
        assert _kpi(page, "Revenue") == pytest.approx(voila.revenue["tester"], abs=1)
        columns = page.evaluate(
            "getComputedStyle(document.querySelector('.dap-grid')).gridTemplateColumns"
        )
        assert len(columns.split()) == 12
        assert page.locator(".dap-export-all-pdf").count() == 1
        assert page.locator(".dap-card .dap-export-csv").count() >= 3
        assert "Refreshed" in page.locator(".dap-status").inner_text()
        assert "data as of" in page.locator(".dap-status").inner_text()
        _contents_fit_their_cards(page)
        _shoot(page, "sales", 1280)
        page.set_viewport_size({"width": 375, "height": 800})
        time.sleep(0.8)
        _no_horizontal_overflow(page)
        lefts = page.evaluate(
            """Array.from(document.querySelectorAll('.dap-card.dap-chart, .dap-card.dap-table'))
                .map(e => Math.round(e.getBoundingClientRect().left))"""
        )
        assert len(set(lefts)) == 1  # one column
        _contents_fit_their_cards(page)
        # What `make up` shows (scale 1): a revenue of eight digits still fits its tile.
        page.evaluate(
            """() => document.querySelectorAll('.dap-kpi-value').forEach(
                e => { e.textContent = '$50,780,912.25'; })"""
        )
        _contents_fit_their_cards(page)
        kpi_lefts = page.evaluate(
            """Array.from(document.querySelectorAll('.dap-card.dap-kpi'))
                .map(e => Math.round(e.getBoundingClientRect().left))"""
        )
        assert len(kpi_lefts) == 4 and len(set(kpi_lefts)) == 1
        _shoot(page, "sales", 375)

    browser.run(steps, timeout=400)


def test_click_on_a_bar_drills_down(browser: Browser, voila: Voila) -> None:
    def steps(page: Any) -> None:
        _open(page, voila, "sales.ipynb", "tester")
        assert sorted(_ticks(page, "Revenue by region")) == ["AMER", "APAC", "EMEA"]
        index = _ticks(page, "Revenue by region").index("EMEA")
        card = page.locator(
            ".dap-card", has=page.locator(".dap-card-title", has_text="Revenue by region")
        )
        bar = card.locator(".js-plotly-plot .bars path").nth(index)
        box = bar.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function(
            """() => { const c = document.querySelector('.dap-crumb-current');
                       return c && c.textContent.trim() === 'EMEA'; }""",
            timeout=60_000,
        )
        page.wait_for_function(RENDERED, timeout=60_000)
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.xtick text'))
                     .some(t => t.textContent === 'Germany')""",
            timeout=60_000,
        )
        assert sorted(_ticks(page, "Revenue by region")) == ["France", "Germany", "UK"]
        assert _kpi(page, "Revenue") == pytest.approx(voila.revenue["ann"], abs=1)  # EMEA
        page.locator(".dap-crumb", has_text="All regions").click()
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.xtick text'))
                     .some(t => t.textContent === 'AMER')""",
            timeout=60_000,
        )
        page.wait_for_function(RENDERED, timeout=60_000)
        assert _kpi(page, "Revenue") == pytest.approx(voila.revenue["tester"], abs=1)

    browser.run(steps, timeout=400)


def test_a_filter_change_re_queries(browser: Browser, voila: Voila) -> None:
    def steps(page: Any) -> None:
        _open(page, voila, "sales.ipynb", "tester")
        page.locator(".dap-filter-regions select").select_option("APAC")
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.dap-state'))
                     .some(s => s.textContent.includes('Region: APAC'))""",
            timeout=60_000,
        )
        page.wait_for_function(RENDERED, timeout=60_000)
        assert _kpi(page, "Revenue") == pytest.approx(voila.revenue["APAC"], abs=1)
        assert _ticks(page, "Revenue by region") == ["APAC"]

    browser.run(steps, timeout=400)


def test_two_viewers_see_their_own_numbers(browser: Browser, voila: Voila) -> None:
    seen = {}
    for user in ("ann", "raj"):

        def steps(page: Any, user: str = user) -> float:
            _open(page, voila, "sales.ipynb", user)
            assert f"viewing as {user}" in page.locator(".dap-status").inner_text()
            return _kpi(page, "Revenue")

        seen[user] = browser.run(steps, timeout=400)
    assert seen["ann"] == pytest.approx(voila.revenue["ann"], abs=1)
    assert seen["raj"] == pytest.approx(voila.revenue["raj"], abs=1)
    assert seen["ann"] != seen["raj"]

    def anonymous(page: Any) -> str:
        page.goto(f"{voila.url}/voila/render/sales.ipynb", wait_until="domcontentloaded")
        page.wait_for_selector(".dap-status .dap-error", timeout=WAIT_MS)
        return str(page.locator(".dap-status").inner_text())

    assert VIEWER_HEADER in browser.run(anonymous, timeout=400)


def test_explore_without_code(browser: Browser, voila: Voila) -> None:
    def steps(page: Any) -> None:
        _open(page, voila, "explore.ipynb", "raj", width=1280)
        dataset = _control(page, "Dataset")
        dataset.select_option("main.customers")
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.dap-refreshed'))
                     .some(s => s.textContent.includes('main.customers'))""",
            timeout=60_000,
        )
        _control(page, "By").select_option("country")
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.xtick text'))
                     .some(t => t.textContent === 'Japan')""",
            timeout=60_000,
        )
        page.wait_for_function(RENDERED, timeout=60_000)
        ticks = _ticks(page, "Result")
        assert sorted(ticks) == ["Australia", "Japan"]  # raj sees APAC customers only
        assert "SQL" in page.locator(".dap-sql").inner_text()
        _shoot(page, "explore", 1280)
        page.set_viewport_size({"width": 375, "height": 800})
        time.sleep(0.8)
        _no_horizontal_overflow(page)
        _shoot(page, "explore", 375)

    browser.run(steps, timeout=400)


def test_charts_are_drawn_by_the_pages_plotly_with_the_viewers_rows_only(
    browser: Browser, voila: Voila
) -> None:
    """ann (EMEA only): every chart is a plotly SVG drawn by the template's own plotly.js, no
    jupyterlab-plotly bundle and no PNG is fetched, the page holds no other region's rows, and
    a filter change redraws the charts with her rows, through the governed query path."""

    def steps(page: Any) -> None:
        requests: list[tuple[str, str]] = []
        page.on(
            "response",
            lambda r: requests.append((r.url, r.headers.get("content-type", ""))),
        )
        _open(page, voila, "sales.ipynb", "ann")
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('.dap-card.dap-chart')).map(c => [
                   !!c.querySelector('.dap-plot[data-dap-figure] .main-svg'),
                   c.querySelector('.dap-plot').getBoundingClientRect().width])"""
        )
        assert len(drawn) == 3 and all(svg and width > 100 for svg, width in drawn)
        urls = [u for u, _ in requests]
        assert any(u.split("?")[0].endswith("/static/plotly.min.js") for u in urls)
        assert not [u for u in urls if "jupyterlab-plotly" in u]
        assert not [u for u, kind in requests if kind.startswith("image/png")]
        html = page.content()
        # the notebook preview's plotly-MIME copies of the charts are left out of the page, and
        # every drawn chart lost its "cannot draw" note
        assert "dap-chart-preview" not in html and "dap-plot-note" not in html
        assert "EMEA" in html
        for other in ("APAC", "AMER", "Japan", "Australia"):
            assert other not in html
        assert _ticks(page, "Revenue by region") == ["EMEA"]
        assert _kpi(page, "Revenue") == pytest.approx(voila.revenue["ann"], abs=1)
        before = page.evaluate(
            "document.querySelector('.dap-card.dap-chart .dap-plot').dataset.dapFigure"
        )
        page.locator(".dap-filter-period .dap-date-start input").fill("2025-01-01")
        page.locator(".dap-filter-period .dap-date-start input").dispatch_event("change")
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.dap-state'))
                     .some(s => s.textContent.includes('2025-01-01'))""",
            timeout=60_000,
        )
        page.wait_for_function(RENDERED, timeout=60_000)
        after = page.evaluate(
            "document.querySelector('.dap-card.dap-chart .dap-plot').dataset.dapFigure"
        )
        assert after != before  # the charts were redrawn with the new period
        assert _ticks(page, "Revenue by region") == ["EMEA"]
        assert 0 < _kpi(page, "Revenue") < voila.revenue["ann"]
        assert "APAC" not in page.content()

    browser.run(steps, timeout=400)
