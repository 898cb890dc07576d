"""PDF export of an HTML page or a live dashboard, through a shared or a one-off renderer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import _target, _write_bytes
from .renderer import PdfRenderer, _active, _active_lock


def export_pdf_html(
    html_text: str,
    path: str | Path,
    *,
    title: str,
    overwrite: bool = False,
    landscape: bool = False,
    wait_selector: str | None = None,
    chromium: str | None = None,
) -> Path:
    """Print an HTML document to PDF with headless chromium (header: title and time; footer:
    page X of Y). Plotly charts in it are waited for; ``wait_selector`` waits for more."""
    target = _target(path, overwrite)
    content = _render(
        html_text, title=title, landscape=landscape, wait_selector=wait_selector, chromium=chromium
    )
    _write_bytes(content, target, overwrite)
    return target


def export_dashboard_pdf(
    url_or_html: str,
    path: str | Path,
    *,
    title: str,
    cookies: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    wait_selector: str | None = None,
    overwrite: bool = False,
    landscape: bool = True,
    chromium: str | None = None,
) -> Path:
    """Print a live dashboard (a Voilà URL, opened with the viewer's ``cookies``/``headers`` so
    it shows their data and filters) or its HTML to PDF, once its widgets and charts drew."""
    target = _target(path, overwrite)
    is_url = url_or_html.startswith(("http://", "https://"))
    content = _render(
        url_or_html,
        title=title,
        is_url=is_url,
        landscape=landscape,
        wait_selector=wait_selector,
        cookies=cookies,
        headers=headers,
        chromium=chromium,
    )
    _write_bytes(content, target, overwrite)
    return target


def _render(source: str, *, title: str, chromium: str | None, **options: Any) -> bytes:
    with _active_lock:
        shared = next((r for r in reversed(_active) if chromium in (None, r.chromium)), None)
    if shared is not None:
        return shared.pdf(source, title=title, **options)
    with PdfRenderer(chromium) as renderer:
        return renderer.pdf(source, title=title, **options)
