"""The HTML the cards show: escaped text, a table that scrolls in its box, a download link,
a chart for the template's plotly.js, and the buttons the template's script forwards to the
kernel.

Plain strings (no widgets), shared by the dashboard builder and Explore. Every value is escaped
here; what a card shows is the viewer's own query result and nothing more.
"""

from __future__ import annotations

import base64
import html
import json
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


PLOT_NOTE = "Chart: drawn by the dashboard page; in a notebook it is shown under the cards."


def plot_div(figure: dict[str, Any], height: int, label: str) -> str:
    """A chart the template draws with plotly.js: the figure (data, layout, config) in an
    attribute, no script; the template's script draws every such div as it appears. Until then
    (or where no script draws it: a notebook preview, a page without plotly.js) the box says
    why it is empty instead of staying blank."""
    return (
        f"<div class='dap-plot' style='height:{int(height)}px' role='img' "
        f"aria-label='{_esc(label)}' data-dap-figure='{_esc(json.dumps(figure))}'>"
        f"<span class='dap-plot-note'>{_esc(PLOT_NOTE)}</span></div>"
    )


def action_button(
    label: str, action: str, arg: Any = "", *, classes: str = "", title: str = ""
) -> str:
    """A button the template's script sends to the kernel as ``{action, card, arg}``."""
    return (
        f"<button type='button' class='{_esc(classes)}' data-dap-action='{_esc(action)}' "
        f"data-dap-arg='{_esc(arg)}' title='{_esc(title or label)}'>{_esc(label)}</button>"
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
