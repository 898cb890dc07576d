"""Excel export: one typed sheet per table (frozen bold header, autofilter), and one sheet
per plotly figure with a native Excel chart over the data it plots."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .errors import ExportError, ExportTooLarge
from .excel_cells import _cell_writer, _Formats, _value_writer, _width
from .figures import _chart_plan, _unique

if TYPE_CHECKING:
    import xlsxwriter.workbook
    import xlsxwriter.worksheet

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384


def write_xlsx(
    tables: Mapping[str, pa.Table],
    path: Path,
    *,
    title: str = "",
    description: str = "",
    charts: Sequence[Any] = (),
) -> int:
    """One sheet per table (typed cells, frozen bold header, autofilter), one per chart."""
    import xlsxwriter

    above = 1 + bool(title) + bool(description)  # header, title and description rows
    for name, table in tables.items():
        if table.num_rows + above > EXCEL_MAX_ROWS:
            raise ExportTooLarge(
                f"{name!s} has more rows than an Excel sheet holds ({EXCEL_MAX_ROWS:,}): "
                "export it to CSV instead"
            )
        if table.num_columns > EXCEL_MAX_COLUMNS:
            raise ExportTooLarge(
                f"{name!s} has {table.num_columns:,} columns, more than Excel's "
                f"{EXCEL_MAX_COLUMNS:,}: export it to CSV instead"
            )
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # rows go to disk as written: large sheets stay cheap
            "strings_to_numbers": False,
            "strings_to_formulas": False,  # a value "=1+1" stays text, never a formula
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
            "remove_timezone": True,
        },
    )
    formats = _Formats(
        header=workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#F2F2F2"}),
        title=workbook.add_format({"bold": True, "font_size": 14}),
        note=workbook.add_format({"italic": True, "font_color": "#595959"}),
        date=workbook.add_format({"num_format": "yyyy-mm-dd"}),
        datetime=workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        time=workbook.add_format({"num_format": "hh:mm:ss"}),
        duration=workbook.add_format({"num_format": "[h]:mm:ss"}),
    )
    used: set[str] = set()
    rows = 0
    try:
        for name, table in tables.items():
            sheet = workbook.add_worksheet(_sheet_name(name, used))
            rows += _write_sheet(
                workbook, sheet, table, formats, title=title, description=description
            )
        for number, figure in enumerate(charts, start=1):
            _write_chart_sheet(workbook, figure, number, formats, used)
        workbook.close()
    except ExportError:
        raise
    except Exception as e:  # xlsxwriter reports problems with its own exception types
        raise ExportError(f"cannot write the Excel file: {e}") from e
    return rows


def _sheet_name(name: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    base = re.sub(r"[\[\]:*?/\\]", " ", name).strip().strip("'")[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


def _write_sheet(
    workbook: xlsxwriter.workbook.Workbook,
    sheet: xlsxwriter.worksheet.Worksheet,
    table: pa.Table,
    formats: _Formats,
    *,
    title: str,
    description: str,
) -> int:
    header = 0
    if title:
        sheet.write_string(header, 0, title, formats.title)
        header += 1
    if description:
        sheet.write_string(header, 0, description, formats.note)
        header += 1
    names = table.column_names
    first = table.slice(0, 200)
    for col, (name, column) in enumerate(zip(names, first.columns, strict=True)):
        sheet.set_column(col, col, _width(column.type, name, column.to_pylist()))
    for col, name in enumerate(names):
        sheet.write_string(header, col, name, formats.header)
    writers = [_cell_writer(sheet, f.type, workbook, formats) for f in table.schema]
    row = header + 1
    for batch in table.to_batches(max_chunksize=10_000):
        values = [c.to_pylist() for c in batch.columns]
        for i in range(batch.num_rows):
            for col, writer in enumerate(writers):
                value = values[col][i]
                if value is not None:
                    writer(row, col, value)
            row += 1
    sheet.freeze_panes(header + 1, 0)
    if names:
        sheet.autofilter(header, 0, max(row - 1, header), len(names) - 1)
    return int(table.num_rows)


def _write_chart_sheet(
    workbook: xlsxwriter.workbook.Workbook,
    figure: Any,
    number: int,
    formats: _Formats,
    used: set[str],
) -> None:
    plan = _chart_plan(figure)
    name = _sheet_name(plan.title or f"Chart {number}", used)
    sheet = workbook.add_worksheet(name)
    columns = plan.columns
    top = 0
    if plan.note:
        sheet.write_string(0, 0, plan.note, formats.note)
        top = 1
    length = max((len(values) for _, values in columns), default=0)
    header_names = _unique([n for n, _ in columns])
    for col, (header, (_, values)) in enumerate(zip(header_names, columns, strict=True)):
        sheet.write_string(top, col, header, formats.header)
        sample = values[:200]
        width = max((len(str(v)) for v in sample if v is not None), default=0)
        sheet.set_column(col, col, float(min(max(len(header) + 2, width + 1, 8), 40)))
    writers = [_value_writer(sheet, formats) for _ in columns]
    for i in range(length):
        for col, (_, values) in enumerate(columns):
            if i < len(values) and values[i] is not None:
                writers[col](top + 1 + i, col, values[i])
    sheet.freeze_panes(top + 1, 0)
    if not plan.series:
        return
    first, last = top + 1, top + length
    primary = None
    charts: dict[str, Any] = {}
    for s in plan.series:
        key = f"{s.kind}:{s.subtype}"
        chart = charts.get(key)
        if chart is None:
            options = {"type": s.kind}
            if s.subtype:
                options["subtype"] = s.subtype
            chart = workbook.add_chart(options)
            charts[key] = chart
            if primary is None:
                primary = chart
            else:
                primary.combine(chart)
        spec: dict[str, Any] = {
            "name": s.name,
            "categories": [name, first, s.x_col, last, s.x_col],
            "values": [name, first, s.y_col, last, s.y_col],
        }
        if s.color and s.kind in ("column", "bar", "area"):
            spec["fill"] = {"color": s.color}
        elif s.color and s.kind == "line":
            spec["line"] = {"color": s.color}
        elif s.color and s.kind == "scatter":
            spec["marker"] = {"type": "circle", "fill": {"color": s.color}}
        if s.kind in ("pie", "doughnut"):
            spec["data_labels"] = {"percentage": True}
        chart.add_series(spec)
    assert primary is not None
    if plan.title:
        primary.set_title({"name": plan.title})
    if plan.series[0].kind not in ("pie", "doughnut"):
        if plan.x_title:
            primary.set_x_axis({"name": plan.x_title})
        if plan.y_title:
            primary.set_y_axis({"name": plan.y_title})
        if len(plan.series) == 1:
            primary.set_legend({"none": True})
    sheet.insert_chart(top, len(columns) + 1, primary, {"x_scale": 1.6, "y_scale": 1.6})
