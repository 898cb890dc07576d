"""The MIME bundle of a displayed result: the DAP result type plus an HTML fallback.

Only the first page travels in the bundle (it is saved with the notebook); the handle names the
result in the kernel's :class:`~.pages.ResultPages`, which serves the other pages to the grid.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .columns import column_view, json_page
from .html import result_html

MIME = "application/vnd.dap.result+json"
VERSION = 1
PAGE_ROWS = 200
PAGE_CELLS = 20_000  # a wide result gets fewer rows in its first page


def first_page_rows(frame: pl.DataFrame, page_rows: int = PAGE_ROWS) -> int:
    width = max(1, frame.width)
    return max(1, min(page_rows, PAGE_CELLS // width, frame.height)) if frame.height else 0


def result_bundle(
    frame: pl.DataFrame, handle: str | None, *, page_rows: int = PAGE_ROWS
) -> dict[str, Any]:
    """``{MIME: …, "text/html": …}`` for ``frame``; ``handle`` is None when no kernel serves
    further pages (the grid then shows the first page and says so)."""
    columns = [column_view(series) for series in frame.iter_columns()]
    rows = first_page_rows(frame, page_rows)
    page = frame.head(rows)
    data = {
        "version": VERSION,
        "handle": handle,
        "row_count": frame.height,
        "page_size": rows,
        "columns": [c.to_json() for c in columns],
        "rows": json_page(page),
    }
    return {MIME: data, "text/html": result_html(page, columns, frame.height)}
