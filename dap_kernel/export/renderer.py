"""Headless chromium (driven by Playwright) printing pages to PDF."""

from __future__ import annotations

import datetime as dt
import html
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RenderError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _header_template(title: str) -> str:
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<div style='font-size:8px;width:100%;margin:0 12mm;display:flex;"
        "justify-content:space-between;color:#555;font-family:sans-serif'>"
        f"<span>{html.escape(title)}</span><span>generated {generated}</span></div>"
    )


_FOOTER = (
    "<div style='font-size:8px;width:100%;text-align:center;color:#555;font-family:sans-serif'>"
    "page <span class='pageNumber'></span> of <span class='totalPages'></span></div>"
)

# Ready when the page says so (our reports), else when every plotly chart has drawn.
_DRAWN_JS = """() => {
  if (window.__dapError) return true;
  if (window.__dapReady !== undefined) return window.__dapReady === true;
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  return plots.every((p) => p.querySelector('.main-svg'));
}"""


class PdfRenderer:
    """One headless chromium that prints pages to PDF.

    Playwright's sync API is bound to the thread that started it and refuses to run where an
    asyncio loop runs (a notebook kernel, a Jupyter server), so the browser lives on a worker
    thread of its own and every call is handed to it. ``with PdfRenderer():`` also makes it the
    one :func:`export_pdf_html` uses, so a batch of PDFs pays for one browser start.
    """

    def __init__(self, chromium: str | None = None, *, timeout_s: float = 120.0) -> None:
        self.chromium = chromium or _default_chromium()
        self.timeout_s = timeout_s
        self._pool: ThreadPoolExecutor | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def start(self) -> PdfRenderer:
        if self._pool is None:
            if not Path(self.chromium).exists():
                raise RenderError(
                    f"no chromium at {self.chromium}: install Debian's chromium or set DAP_CHROMIUM"
                )
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dap-pdf")
            try:
                self._pool.submit(self._launch).result()
            except BaseException:
                self.close()
                raise
        return self

    def _launch(self) -> None:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        try:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=self.chromium, args=CHROMIUM_ARGS, headless=True
            )
        except PlaywrightError as e:
            raise RenderError(f"chromium did not start: {_first_line(e)}") from e

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.submit(self._shutdown).result()
        pool.shutdown(wait=True)

    def _shutdown(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._browser = None
            if self._playwright is not None:
                self._playwright.stop()
            self._playwright = None

    def __enter__(self) -> PdfRenderer:
        self.start()
        with _active_lock:
            _active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _active_lock:
            if self in _active:
                _active.remove(self)
        self.close()

    def pdf(
        self,
        source: str,
        *,
        title: str,
        is_url: bool = False,
        landscape: bool = False,
        wait_selector: str | None = None,
        cookies: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Print HTML (or the page at a URL) once it has drawn; returns the PDF's bytes."""
        self.start()
        assert self._pool is not None
        return self._pool.submit(
            self._print, source, title, is_url, landscape, wait_selector, cookies, headers
        ).result()

    def _print(
        self,
        source: str,
        title: str,
        is_url: bool,
        landscape: bool,
        wait_selector: str | None,
        cookies: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> bytes:
        from playwright.sync_api import Error as PlaywrightError

        assert self._browser is not None
        timeout_ms = self.timeout_s * 1000
        context = self._browser.new_context(
            extra_http_headers=dict(headers or {}), viewport={"width": 1280, "height": 900}
        )
        try:
            if cookies and is_url:
                context.add_cookies(
                    [{"name": k, "value": v, "url": source} for k, v in cookies.items()]
                )
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            _offline(page, source if is_url else None)
            if is_url:
                page.goto(source, wait_until="load")
                # A live dashboard keeps a websocket open: quiet HTTP is enough.
                with suppress(PlaywrightError):
                    page.wait_for_load_state("networkidle", timeout=min(timeout_ms, 15_000))
            else:
                page.set_content(source, wait_until="load")
            if wait_selector:
                page.wait_for_selector(wait_selector, state="visible")
            page.wait_for_function(_DRAWN_JS, polling=100)
            error = page.evaluate("() => window.__dapError || ''")
            if error:
                raise RenderError(f"a chart could not be drawn: {error}")
            return page.pdf(
                format="A4",
                landscape=landscape,
                print_background=True,
                display_header_footer=True,
                header_template=_header_template(title),
                footer_template=_FOOTER,
                margin={"top": "16mm", "bottom": "14mm", "left": "12mm", "right": "12mm"},
            )
        except PlaywrightError as e:
            what = "the page" if not is_url else source
            raise RenderError(f"could not print {what} to PDF: {_first_line(e)}") from e
        finally:
            context.close()


_active: list[PdfRenderer] = []
_active_lock = threading.Lock()


def _default_chromium() -> str:
    from ..settings import Settings

    return Settings.from_env().chromium


def _offline(page: Page, url: str | None) -> None:
    """Only the page's own origin (and inline data) may load: this machine may be offline,
    and a report must not phone out; a blocked CDN fails fast instead of timing out."""
    from urllib.parse import urlsplit

    allowed = urlsplit(url).netloc if url else None

    def route(r: Any) -> None:
        target = urlsplit(r.request.url)
        if target.scheme in ("data", "blob", "about") or (allowed and target.netloc == allowed):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
