"""The HTML the cards show: escaped text, a table that scrolls in its box, a download link.

Plain strings (no widgets), shared by the dashboard builder and Explore.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import polars as pl


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(frame: pl.DataFrame, formats: dict[str, str] | None = None) -> str:
    """A table that scrolls inside its own box (never the page), numbers right-aligned."""
    formats = formats or {}
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    head = "".join(
        f"<th class='{'num' if c in numeric else ''}' scope='col'>{_esc(c)}</th>"
        for c in frame.columns
    )
    rows = []
    for row in frame.iter_rows():
        cells = []
        for c, v in zip(frame.columns, row, strict=True):
            text = "" if v is None else formats[c].format(v) if c in formats else str(v)
            cells.append(f"<td class='{'num' if c in numeric else ''}'>{_esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<div class='dap-table-scroll' tabindex='0'><table class='dap-table'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


MIME = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def download_link(path: Path) -> str:
    """A link the template's script clicks once (the browser downloads the file)."""
    data = base64.b64encode(path.read_bytes()).decode()
    mime = MIME.get(path.suffix.lstrip("."), "application/octet-stream")
    return (
        f"<a class='dap-download-link' data-dap-auto='1' download='{_esc(path.name)}' "
        f"href='data:{mime};base64,{data}'>Download {_esc(path.name)}</a>"
    )
