"""Static images of charts (PNG, SVG, PDF) for Excel and PDF exports.

kaleido 1.x drives a headless Chromium: it finds Debian's ``/usr/bin/chromium`` by itself
(``BROWSER_PATH`` overrides); ``chromium=`` (e.g. ``settings.chromium``) names one explicitly.
MathJax is switched off so nothing is fetched from a CDN (plotly.js comes from the plotly
package). Never call ``plotly.io.get_chrome()``/``kaleido_get_chrome``: they download Chrome.

``fig.to_image()`` starts a browser per call (~2-5 s each here); :func:`to_images` starts one
for a whole batch. The work runs on a thread of its own with its own event loop, so it also
works inside a Jupyter kernel, whose loop is already running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import plotly.graph_objects as go

from .errors import ChartError

WIDTH, HEIGHT = 900, 500


def to_image(
    figure: go.Figure,
    *,
    format: str = "png",
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
    chromium: str | None = None,
) -> bytes:
    """One chart as image bytes (a responsive chart has no size of its own: 900×500 default)."""
    images = to_images(
        [figure], format=format, width=width, height=height, scale=scale, chromium=chromium
    )
    return images[0]


def to_images(
    figures: Sequence[go.Figure],
    *,
    format: str = "png",
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
    chromium: str | None = None,
) -> list[bytes]:
    """Several charts with one browser start."""
    from kaleido.errors import ChromeNotFoundError

    if not figures:
        return []
    jobs = [
        (
            figure.to_dict(),
            {
                "format": format,
                "width": width or figure.layout.width or WIDTH,
                "height": height or figure.layout.height or HEIGHT,
                "scale": scale,
            },
        )
        for figure in figures
    ]
    kopts: dict[str, Any] = {"mathjax": False}
    if chromium:
        kopts["path"] = chromium
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dap-kaleido") as pool:
            return pool.submit(asyncio.run, _render(jobs, kopts)).result()
    except ChromeNotFoundError:
        where = chromium or "BROWSER_PATH or /usr/bin/chromium"
        raise ChartError(f"no Chromium to draw chart images with (looked at {where})") from None


async def _render(
    jobs: Sequence[tuple[dict[str, Any], dict[str, Any]]], kopts: dict[str, Any]
) -> list[bytes]:
    import kaleido

    async with kaleido.Kaleido(n=1, **kopts) as browser:
        return [bytes(await browser.calc_fig(fig, opts=opts)) for fig, opts in jobs]
