"""The printable HTML report behind a PDF export: title, filters, charts, then each table
(charts are drawn by the inlined plotly.js and swapped for images before printing)."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

PDF_MAX_ROWS = 5_000  # a printed table longer than this helps nobody: CSV or Excel is the tool

_REPORT_CSS = """

body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10px;
       color: #222; margin: 0; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
h2 { font-size: 13px; margin: 14px 0 4px 0; }
p.description { color: #555; margin: 0 0 10px 0; }
p.note { color: #666; font-style: italic; margin: 4px 0 10px 0; }
.chart { break-inside: avoid; margin: 0 0 12px 0; }
.chart img { width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 8.5px; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th { background: #f2f2f2; text-align: left; border-bottom: 1px solid #999; }
th, td { padding: 2px 4px; vertical-align: top; overflow-wrap: anywhere; }
tbody tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; white-space: nowrap; }
"""

# Draw each figure with the inlined plotly.js, then swap it for a PNG: the PDF gets images,
# and the page tells Playwright when it is done (or why it failed).
_REPORT_JS = """
window.__dapReady = false;
(async () => {
  for (const holder of document.querySelectorAll('.chart[data-figure]')) {
    const spec = JSON.parse(document.getElementById(holder.dataset.figure).textContent);
    const div = document.createElement('div');
    holder.appendChild(div);
    const layout = Object.assign({}, spec.layout || {}, {width: 1000, height: 460});
    await Plotly.newPlot(div, spec.data || [], layout, {staticPlot: true, displayModeBar: false});
    const url = await Plotly.toImage(div, {format: 'png', width: 1000, height: 460, scale: 2});
    const img = document.createElement('img');
    await new Promise((done) => { img.onload = done; img.onerror = done; img.src = url; });
    Plotly.purge(div);
    holder.replaceChild(img, div);
  }
  window.__dapReady = true;
})().catch((e) => { window.__dapError = String(e); });
"""


def report_html(
    tables: Mapping[str, pa.Table],
    *,
    title: str = "",
    description: str = "",
    charts: Sequence[Any] = (),
    max_rows: int = PDF_MAX_ROWS,
) -> str:
    """A printable HTML report: title, description (filters), charts, then each table."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title or 'DAP export')}</title>",
        f"<style>{_REPORT_CSS}</style>",
    ]
    if charts:
        from plotly.offline import get_plotlyjs

        parts.append(f"<script>{get_plotlyjs()}</script>")
    parts.append("</head><body>")
    if title:
        parts.append(f"<h1>{html.escape(title)}</h1>")
    if description:
        parts.append(f"<p class='description'>{html.escape(description)}</p>")
    for i, figure in enumerate(charts):
        spec = figure.to_json() if hasattr(figure, "to_json") else json.dumps(figure)
        spec = spec.replace("</", "<\\/")  # a string inside cannot close the script element
        parts.append(
            f"<script type='application/json' id='figure-{i}'>{spec}</script>"
            f"<div class='chart' data-figure='figure-{i}'></div>"
        )
    several = len(tables) > 1
    for name, table in tables.items():
        if several:
            parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(_html_table(table, max_rows))
    if charts:
        parts.append(f"<script>{_REPORT_JS}</script>")
    parts.append("</body></html>")
    return "".join(parts)


def _html_table(table: pa.Table, max_rows: int) -> str:
    shown = table.slice(0, max_rows)
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    out = ["<table><thead><tr>"]
    out.extend(f"<th>{html.escape(name)}</th>" for name in table.column_names)
    out.append("</tr></thead><tbody>")
    for batch in shown.to_batches(max_chunksize=2_000):
        columns = [c.to_pylist() for c in batch.columns]
        for i in range(batch.num_rows):
            out.append("<tr>")
            for col, values in enumerate(columns):
                css = " class='num'" if numeric[col] else ""
                out.append(f"<td{css}>{html.escape(_cell_text(values[i]))}</td>")
            out.append("</tr>")
    out.append("</tbody></table>")
    if table.num_rows > max_rows:
        out.append(
            f"<p class='note'>Showing the first {max_rows:,} rows: the full result is longer. "
            "Export it to CSV or Excel for every row.</p>"
        )
    else:
        out.append(
            f"<p class='note'>{table.num_rows:,} row{'s' if table.num_rows != 1 else ''}</p>"
        )
    return "".join(out)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)
