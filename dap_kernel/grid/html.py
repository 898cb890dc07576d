"""The HTML form of a result, for front ends without the DAP grid (Voilà, nbconvert, GitHub).

The same formatting as the grid (:func:`format_value`: thousands separators, the column's
decimals, never scientific notation; null shown as *null*), headers with type and sparkline,
inline styles only (an exported report has no DAP stylesheet), every value escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import polars as pl

from .columns import json_page

if TYPE_CHECKING:
    from .columns import ColumnView

HTML_ROWS = 50
NULL_HTML = '<span class="dap-null" style="color:#999;font-style:italic">null</span>'
_CELL = "padding:2px 8px;border-bottom:1px solid #e0e0e0;white-space:nowrap"
_NUMERIC = ("int", "float", "decimal")


def format_value(value: Any, column: ColumnView) -> str | None:
    """The text a cell shows, or None for null (shown as *null*, distinct from the text
    ``"null"``)."""
    if value is None:
        return None
    if column.kind in _NUMERIC and not isinstance(value, bool):
        return format_number(value, column.decimals, grouped=column.grouped)
    if column.kind == "bool":
        return "true" if value else "false"
    return str(value)


def format_number(value: Any, decimals: int | None, *, grouped: bool = True) -> str:
    """``11303000.0`` with 2 decimals → ``11,303,000.00``; exact for decimals and big integers
    (they arrive as text)."""
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    places = decimals if decimals is not None else max(0, -int(number.as_tuple().exponent))
    return f"{number:{',' if grouped else ''}.{places}f}"


def _sparkline_svg(spark: dict[str, Any] | None) -> str:
    if not spark:
        return ""
    counts = spark["counts"] if spark["kind"] == "histogram" else [n for _, n in spark["values"]]
    top = max(counts) or 1
    width = 4
    bars = "".join(
        f'<rect x="{i * width}" y="{16 - max(1, round(16 * n / top)) if n else 16}" '
        f'width="{width - 1}" height="{max(1, round(16 * n / top)) if n else 0}"/>'
        for i, n in enumerate(counts)
    )
    if spark["kind"] == "histogram":
        title = f"{spark['min']} … {spark['max']}"
    else:
        title = ", ".join(f"{label}: {n:,}" for label, n in spark["values"])
    if spark.get("sampled"):
        title += " (of an even sample of the rows)"
    return (
        f'<svg class="dap-sparkline" width="{width * len(counts)}" height="16" '
        f'style="display:block;fill:#6a9fd4"><title>{html.escape(title)}</title>{bars}</svg>'
    )


def result_html(page: pl.DataFrame, columns: Sequence[ColumnView], row_count: int) -> str:
    """A table of the first :data:`HTML_ROWS` rows of ``page`` and a line saying how many
    rows the result has."""
    shown = page.head(HTML_ROWS)
    head = "".join(
        f'<th style="{_CELL};text-align:{"right" if c.kind in _NUMERIC else "left"};'
        f'vertical-align:bottom">{html.escape(c.name)}'
        f'<div style="font-weight:normal;color:#777;font-size:85%">{html.escape(c.type)}</div>'
        f"{_sparkline_svg(c.sparkline)}</th>"
        for c in columns
    )
    body = []
    for row in json_page(shown):
        cells = []
        for value, column in zip(row, columns, strict=True):
            text = format_value(value, column)
            align = "right" if column.kind in _NUMERIC else "left"
            content = NULL_HTML if text is None else html.escape(text)
            cells.append(f'<td style="{_CELL};text-align:{align}">{content}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    rows = f"{row_count:,} row{'' if row_count == 1 else 's'}"
    note = rows if shown.height >= row_count else f"first {shown.height:,} of {rows}"
    return (
        '<div class="dap-result">'
        '<table class="dap-result-table" style="border-collapse:collapse;'
        'font-variant-numeric:tabular-nums">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<div class="dap-result-note" style="color:#777;font-size:85%">{note}</div></div>'
    )
