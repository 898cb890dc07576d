"""The DAP panels in JupyterLab's dark theme: readable, because they use only --jp-* colours.

This Lab has its own settings folder (see conftest), so switching the theme changes nothing for
other tests or for the developer's own Lab; the theme is switched back at the end.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Browser, Lab, screenshot
from .test_lab_catalog_panel import open_catalog_panel

pytestmark = pytest.mark.e2e

# Relative luminance of a CSS rgb() colour, and the WCAG contrast ratio of two of them.
CONTRAST = """(el) => {
    // Any CSS colour → rgb numbers, through a canvas (computed styles may be color(srgb …)).
    const ctx = document.createElement('canvas').getContext('2d');
    const lum = (css) => {
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = css;
        ctx.fillRect(0, 0, 1, 1);
        const [r, g, b] = Array.from(ctx.getImageData(0, 0, 1, 1).data).slice(0, 3).map((v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    let node = el, bg = 'rgba(0, 0, 0, 0)';
    while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) {
        bg = getComputedStyle(node).backgroundColor;
        node = node.parentElement;
    }
    const fg = getComputedStyle(el).color;
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return {fg, bg, background: lum(bg), ratio: (a + 0.05) / (b + 0.05)};
}"""


def _theme(page: Any, name: str) -> None:
    page.evaluate(
        "async (name) => { await window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme: name}); }",
        name,
    )
    page.wait_for_function(
        "(name) => document.body.dataset.jpThemeName === name", arg=name, timeout=30_000
    )


def test_catalog_and_builder_are_readable_in_the_dark_theme(browser: Browser, lab: Lab) -> None:
    def steps(page: Any) -> dict[str, Any]:
        panel = open_catalog_panel(page, lab)
        _theme(page, "JupyterLab Dark")
        try:
            item = panel.locator('[data-table="main.orders"]').first
            seen = {"tree": item.evaluate(CONTRAST)}
            page.evaluate(
                "async () => { await window.jupyterapp.commands.execute("
                "'dap:open-builder', {table: 'main.orders'}); }"
            )
            # Once the server's SQL is shown, the form has stopped redrawing.
            page.wait_for_function(
                "(document.querySelector('.dap-builder:not(.lm-mod-hidden) .dap-builder-sql')"
                "?.textContent ?? '').includes('SELECT')",
                timeout=30_000,
            )
            label = page.locator(".dap-builder:not(.lm-mod-hidden) label").first
            seen["builder"] = label.evaluate(CONTRAST)
            screenshot(page, "lab-dark-theme")
            return seen
        finally:
            _theme(page, "JupyterLab Light")

    seen = browser.run(steps)
    for where in ("tree", "builder"):
        assert seen[where]["background"] < 0.2, (where, seen[where])  # a dark background
        assert seen[where]["ratio"] >= 4.5, (where, seen[where])  # WCAG AA for text
