"""Governed export to CSV, Excel and PDF: ``dap.export(df_or_sql, "xlsx", "sales.xlsx")``.

SQL goes through the caller's governed session, so an export holds exactly the rows and masked
columns its caller may read. Files are written next to their target and renamed into place only
once complete, so a failed export never leaves half a file, and an existing file is kept unless
``overwrite=True``.

- CSV streams record batches through Arrow's writer (nothing is converted row by row), in a form
  polars reads back identically: nulls empty, empty strings ``""``, ISO 8601 timestamps.
- Excel keeps types (numbers, dates, booleans), freezes a bold header with an autofilter, takes
  several sheets, and turns plotly figures into native Excel charts over the data they plot.
- PDF is an HTML report printed by headless chromium: header and footer with the title, the
  time and "page X of Y", tables whose header row repeats on every page, charts as images.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DapError

if TYPE_CHECKING:
    import xlsxwriter.format
    import xlsxwriter.workbook
    import xlsxwriter.worksheet
    from playwright.sync_api import Browser, Page, Playwright

    from .client import DapClient

__all__ = [
    "EXCEL_MAX_COLUMNS",
    "EXCEL_MAX_ROWS",
    "FORMATS",
    "ExportError",
    "ExportTooLarge",
    "Exported",
    "PdfRenderer",
    "RenderError",
    "content_type",
    "export",
    "export_dashboard_pdf",
    "export_file",
    "export_pdf_html",
    "figure_table",
    "report_html",
]

FORMATS = ("csv", "xlsx", "pdf")
_ALIASES = {"excel": "xlsx", "xls": "xlsx"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
PDF_MAX_ROWS = 5_000  # a printed table longer than this helps nobody: CSV or Excel is the tool
CSV_BATCH_ROWS = 65_536
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


class ExportError(DapError):
    """An export that cannot be made as asked (unknown format, existing file, bad input)."""

    code = "export_error"
    http_status = 400


class ExportTooLarge(ExportError):
    code = "export_too_large"
    http_status = 400


class RenderError(DapError):
    """Chromium is missing, failed, or the page did not finish drawing: DAP's environment."""

    code = "render_failed"
    http_status = 500


Data: TypeAlias = pl.DataFrame | pa.Table | str


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the file, its format and the number of data rows in it."""

    path: Path
    format: str
    rows: int


# -- public API -----------------------------------------------------------------------------


def export(
    data: Data | None,
    to: str,
    path: str | Path,
    *,
    title: str = "",
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    session: DapClient | None = None,
    sheets: Mapping[str, Data] | None = None,
    charts: Sequence[Any] = (),
    description: str = "",
    overwrite: bool = False,
    max_pdf_rows: int = PDF_MAX_ROWS,
) -> Path:
    """Write ``data`` (a polars DataFrame, an Arrow table, or governed SQL) as CSV, xlsx or PDF.

    ``sheets`` adds named sheets to an Excel file (or sections to a PDF); ``charts`` are plotly
    figures: native charts in Excel, images in a PDF. ``description`` (e.g. the filters of a
    dashboard) is printed under the title. Returns the path written.
    """
    return export_file(
        data,
        to,
        path,
        title=title,
        params=params,
        session=session,
        sheets=sheets,
        charts=charts,
        description=description,
        overwrite=overwrite,
        max_pdf_rows=max_pdf_rows,
    ).path


def export_file(
    data: Data | None,
    to: str,
    path: str | Path,
    *,
    title: str = "",
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    session: DapClient | None = None,
    sheets: Mapping[str, Data] | None = None,
    charts: Sequence[Any] = (),
    description: str = "",
    overwrite: bool = False,
    max_pdf_rows: int = PDF_MAX_ROWS,
) -> Exported:
    """:func:`export`, also telling how many rows were written (the CLI and REST report it)."""
    fmt = normalize_format(to)
    target = _target(path, overwrite)
    charts = list(charts)
    sources: dict[str, Data] = {}
    if data is not None:
        sources[title or "Data"] = data
    for name, frame in (sheets or {}).items():
        sources[str(name)] = frame
    if not sources and not charts:
        raise ExportError("nothing to export: give data, sheets or charts")
    if fmt == "csv":
        if len(sources) > 1:
            raise ExportError(
                "a CSV file holds one table: export the sheets one by one, or to xlsx"
            )
        if sources:
            source = next(iter(sources.values()))
            batches = _batches(source, params, session)
        else:
            if len(charts) != 1:
                raise ExportError("a CSV file holds one table: export one chart at a time")
            batches = iter(figure_table(charts[0]).to_arrow().to_batches())
        with _atomic(target, overwrite) as tmp:
            rows = write_csv(batches, tmp)
        return Exported(target, fmt, rows)

    limit = EXCEL_MAX_ROWS if fmt == "xlsx" else max_pdf_rows
    tables = {
        name: _table(source, params, session, limit=limit + 1) for name, source in sources.items()
    }
    if fmt == "xlsx":
        with _atomic(target, overwrite) as tmp:
            rows = write_xlsx(tables, tmp, title=title, description=description, charts=charts)
        return Exported(target, fmt, rows)
    page = report_html(
        tables,
        title=title,
        description=_describe(description, params),
        charts=charts,
        max_rows=max_pdf_rows,
    )
    landscape = any(t.num_columns > 6 for t in tables.values())
    export_pdf_html(
        page,
        target,
        title=title or "DAP export",
        overwrite=overwrite,
        landscape=landscape,
        chromium=_chromium(session),
    )
    return Exported(target, fmt, sum(min(t.num_rows, max_pdf_rows) for t in tables.values()))


def normalize_format(to: str) -> str:
    fmt = _ALIASES.get(to.lower().lstrip("."), to.lower().lstrip("."))
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {to!r}: use csv, xlsx or pdf")
    return fmt


def content_type(fmt: str) -> str:
    """The HTTP media type of an export format."""
    return CONTENT_TYPES[normalize_format(fmt)]


# -- inputs ---------------------------------------------------------------------------------


def _client(session: DapClient | None) -> DapClient:
    if session is not None:
        return session
    from .client import connect

    return connect(channel="python")


def _chromium(session: DapClient | None) -> str | None:
    workspace = getattr(session, "workspace", None)
    settings = getattr(workspace, "settings", None)
    return getattr(settings, "chromium", None)


def _table(
    data: Data,
    params: Mapping[str, Any] | Sequence[Any] | None,
    session: DapClient | None,
    *,
    limit: int | None = None,
) -> pa.Table:
    """An Arrow table of ``data``; SQL runs governed, asking for at most ``limit`` rows."""
    if isinstance(data, str):
        return _client(session).query(data, params, limit=limit).table
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    raise ExportError(
        f"cannot export a {type(data).__name__}: give a polars DataFrame, an Arrow table or SQL"
    )


def _batches(
    data: Data,
    params: Mapping[str, Any] | Sequence[Any] | None,
    session: DapClient | None,
) -> Iterator[pa.RecordBatch]:
    if isinstance(data, pa.RecordBatchReader):
        yield from data
        return
    table = _table(data, params, session)
    if table.num_columns == 0:
        raise ExportError("the result has no columns to export")
    yield from table.to_batches(max_chunksize=CSV_BATCH_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]


def _describe(description: str, params: Mapping[str, Any] | Sequence[Any] | None) -> str:
    """The filter line of a report: the caller's words, else the bound parameters."""
    if description or not params:
        return description
    if isinstance(params, Mapping):
        return "Filters: " + ", ".join(f"{k} = {v}" for k, v in params.items())
    return "Parameters: " + ", ".join(str(v) for v in params)


# -- files: no overwrite by accident, no partial files ----------------------------------------


def _target(path: str | Path, overwrite: bool) -> Path:
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{target} is a folder: give a file name")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists: choose another name or pass overwrite=True")
    if not target.parent.is_dir():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExportError(f"cannot create the folder {target.parent}: {e.strerror}") from e
    return target


@contextmanager
def _atomic(target: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary file beside ``target``, moved into place only if the block succeeds."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _publish(tmp, target, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if someone created the file meanwhile: nothing clobbered
    except FileExistsError:
        raise ExportError(
            f"{target} already exists: choose another name or pass overwrite=True"
        ) from None
    except OSError:  # no hard links on this file system
        if target.exists():
            raise ExportError(f"{target} already exists: pass overwrite=True") from None
        os.replace(tmp, target)


def _write_bytes(content: bytes, target: Path, overwrite: bool) -> None:
    with _atomic(target, overwrite) as tmp:
        tmp.write_bytes(content)


# -- CSV ------------------------------------------------------------------------------------


def write_csv(batches: Iterable[pa.RecordBatch], path: Path) -> int:
    """Stream record batches into a CSV file; returns the number of rows written."""
    import pyarrow.csv as pacsv

    writer: pacsv.CSVWriter | None = None
    rows = 0
    options = pacsv.WriteOptions(quoting_style="needed", quoting_header="needed")
    try:
        for batch in batches:
            ready = _csv_ready(batch)
            if writer is None:
                writer = pacsv.CSVWriter(str(path), ready.schema, write_options=options)
            writer.write_batch(ready)
            rows += batch.num_rows
    except pa.ArrowException as e:
        raise ExportError(f"cannot write the CSV: {e}") from e
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ExportError("the result has no columns to export")
    return rows


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns in a form CSV readers agree on: ISO 8601 times, JSON for nested values."""
    columns = [_csv_column(col) for col in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _csv_column(col: pa.Array) -> pa.Array:
    typ = col.type
    if pa.types.is_dictionary(typ):
        return _csv_column(col.cast(typ.value_type))
    if pa.types.is_timestamp(typ):
        if typ.tz is not None:  # one offset for every row: UTC, written with a Z
            col = col.cast(pa.timestamp(typ.unit, tz="UTC"))
        text = pc.cast(col, pa.string())
        return pc.replace_substring(text, " ", "T", max_replacements=1)
    if pa.types.is_duration(typ):
        return pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())
    if pa.types.is_nested(typ):
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()],
            pa.string(),
        )
    return col


# -- Excel ----------------------------------------------------------------------------------


@dataclass
class _Formats:
    header: xlsxwriter.format.Format
    title: xlsxwriter.format.Format
    note: xlsxwriter.format.Format
    date: xlsxwriter.format.Format
    datetime: xlsxwriter.format.Format
    time: xlsxwriter.format.Format
    duration: xlsxwriter.format.Format
    decimals: dict[int, xlsxwriter.format.Format] = field(default_factory=dict)


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


Writer = Callable[[int, int, Any], object]


def _cell_writer(
    sheet: xlsxwriter.worksheet.Worksheet,
    typ: pa.DataType,
    workbook: xlsxwriter.workbook.Workbook,
    formats: _Formats,
) -> Writer:
    """How one column's values become cells: numbers as numbers, times as Excel dates."""
    if pa.types.is_dictionary(typ):
        return _cell_writer(sheet, typ.value_type, workbook, formats)
    if pa.types.is_boolean(typ):
        return cast(Writer, sheet.write_boolean)
    if pa.types.is_integer(typ):

        def write_int(row: int, col: int, value: int) -> object:
            if -(2**53) < value < 2**53:
                return sheet.write_number(row, col, value)
            return sheet.write_string(row, col, str(value))  # beyond a double's exact range

        return write_int
    if pa.types.is_floating(typ):
        return cast(Writer, sheet.write_number)
    if pa.types.is_decimal(typ):
        scale = max(0, min(int(typ.scale), 15))
        fmt = formats.decimals.get(scale)
        if fmt is None:
            fmt = workbook.add_format({"num_format": "0." + "0" * scale if scale else "0"})
            formats.decimals[scale] = fmt
        decimal_format = fmt

        def write_decimal(row: int, col: int, value: Decimal) -> object:
            return sheet.write_number(row, col, float(value), decimal_format)

        return write_decimal
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        fmt = formats.datetime if pa.types.is_timestamp(typ) else formats.date
        date_format = fmt

        def write_when(row: int, col: int, value: dt.date) -> object:
            if value.year < 1900:  # before Excel's calendar: keep the exact text
                return sheet.write_string(row, col, value.isoformat())
            return sheet.write_datetime(row, col, cast(dt.datetime, value), date_format)

        return write_when
    if pa.types.is_time(typ):

        def write_time(row: int, col: int, value: dt.time) -> object:
            return sheet.write_datetime(row, col, cast(dt.datetime, value), formats.time)

        return write_time
    if pa.types.is_duration(typ):

        def write_duration(row: int, col: int, value: dt.timedelta) -> object:
            return sheet.write_datetime(row, col, cast(dt.datetime, value), formats.duration)

        return write_duration
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return cast(Writer, sheet.write_string)

    def write_text(row: int, col: int, value: Any) -> object:
        text = value.hex() if isinstance(value, bytes) else json.dumps(value, default=str)
        return sheet.write_string(row, col, text)

    return write_text


def _width(typ: pa.DataType, name: str, sample: list[Any]) -> float:
    if pa.types.is_timestamp(typ):
        longest = 19
    elif pa.types.is_date(typ):
        longest = 10
    else:
        longest = max((len(str(v)) for v in sample if v is not None), default=0)
    return float(min(max(len(name) + 3, longest + 1, 6), 60))  # +3: the autofilter button


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


# -- plotly figures → tables and native Excel charts -------------------------------------------

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_CATEGORY_KINDS = ("column", "bar", "line", "area")


@dataclass
class _Series:
    name: str
    kind: str  # column, bar, line, area, scatter, pie
    subtype: str | None
    x_col: int
    y_col: int
    color: str | None = None


@dataclass
class _ChartPlan:
    title: str
    x_title: str
    y_title: str
    columns: list[tuple[str, list[Any]]]
    series: list[_Series]
    note: str = ""


def figure_table(figure: Any) -> pl.DataFrame:
    """The data a plotly figure plots, as one table (what its Excel chart is drawn from)."""
    plan = _chart_plan(figure)
    names = _unique([name for name, _ in plan.columns])
    return pl.DataFrame(
        {name: values for name, (_, values) in zip(names, plan.columns, strict=True)},
        strict=False,
    )


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _values(seq: Any) -> list[Any]:
    """Trace data (numpy arrays, tuples, lists) as Python values; ISO date strings as dates."""
    if seq is None:
        return []
    tolist = getattr(seq, "tolist", None)
    dtype = getattr(seq, "dtype", None)
    if tolist is not None and dtype is not None and getattr(dtype, "kind", "") == "M":
        seq = seq.astype("datetime64[us]")
    values = list(tolist() if tolist is not None else seq)
    out: list[Any] = [v.item() if hasattr(v, "item") else v for v in values]
    if out and all(isinstance(v, str) and _ISO_TIME.match(v) for v in out if v is not None):
        parsed = [None if v is None else dt.datetime.fromisoformat(v) for v in out]
        if all(v is None or v.time() == dt.time() for v in parsed) and all(
            v is None or len(str(raw)) == 10 for v, raw in zip(parsed, out, strict=True)
        ):
            return [None if v is None else v.date() for v in parsed]
        return parsed
    return out


def _text(value: Any) -> str:
    text = getattr(value, "text", value)
    return "" if text is None else str(text)


def _trace_kind(trace: Any, layout: Any) -> tuple[str, str | None]:
    kind = trace.type
    stacked = getattr(layout, "barmode", None) in ("stack", "relative")
    if kind == "bar":
        return ("bar" if trace.orientation == "h" else "column"), ("stacked" if stacked else None)
    if kind == "funnel":
        return "bar", None
    if kind in ("histogram", "waterfall"):  # a waterfall's steps, as plain columns
        return "column", None
    if kind in ("scatter", "scattergl"):
        if trace.stackgroup:
            return "area", "stacked"
        if trace.fill in ("tozeroy", "tonexty"):
            return "area", None
        mode = trace.mode or "lines"
        if "lines" in mode:
            x = _values(trace.x)
            numeric = bool(x) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in x
            )
            if numeric:
                return "scatter", "straight_with_markers" if "markers" in mode else "straight"
            return "line", None
        return "scatter", None
    if kind == "pie":
        return ("doughnut" if trace.hole else "pie"), None
    return "", None


def _color(trace: Any) -> str | None:
    marker = getattr(trace, "marker", None)
    color = getattr(marker, "color", None)
    if isinstance(color, str) and color.startswith("#"):
        return color
    line = getattr(trace, "line", None)
    color = getattr(line, "color", None)
    return color if isinstance(color, str) and color.startswith("#") else None


def _chart_plan(figure: Any) -> _ChartPlan:
    """Lay a figure's traces out as columns and say which columns each series plots."""
    traces = list(getattr(figure, "data", None) or [])
    if not traces:
        raise ExportError("the chart has no data to export")
    layout = figure.layout
    title = _text(layout.title)
    x_title = _text(getattr(layout.xaxis, "title", None))
    y_title = _text(getattr(layout.yaxis, "title", None))
    kind, _ = _trace_kind(traces[0], layout)
    if kind in ("pie", "doughnut"):
        trace = traces[0]
        totals: dict[Any, float] = {}
        labels = _values(trace.labels)
        values = _values(trace.values) or [1] * len(labels)
        for label, value in zip(labels, values, strict=False):
            totals[label] = totals.get(label, 0.0) + float(value or 0)
        pie = [("label", list(totals)), (trace.name or "value", list(totals.values()))]
        return _ChartPlan(title, "", "", pie, [_Series(trace.name or title, kind, None, 0, 1)])
    if kind == "scatter":
        columns: list[tuple[str, list[Any]]] = []
        series = []
        for i, trace in enumerate(traces):
            k, sub = _trace_kind(trace, layout)
            name = trace.name or (y_title if len(traces) == 1 else "") or f"series {i + 1}"
            columns.append((f"{name} {x_title or 'x'}", _values(trace.x)))
            columns.append((f"{name} {y_title or 'y'}", _values(trace.y)))
            if k == "scatter":
                series.append(_Series(name, k, sub, len(columns) - 2, len(columns) - 1))
        return _ChartPlan(title, x_title, y_title, columns, series)
    if kind in _CATEGORY_KINDS:
        return _category_plan(traces, layout, title, x_title, y_title)
    columns = []
    for i, trace in enumerate(traces):
        for axis in ("x", "y", "z"):
            values = _values(getattr(trace, axis, None))
            if values and not isinstance(values[0], list):
                columns.append((f"{trace.name or f'trace {i + 1}'} {axis}", values))
    note = (
        f"Excel has no native chart like plotly's {traces[0].type!r}: the data is below; "
        "the PDF export shows the chart"
    )
    return _ChartPlan(title, x_title, y_title, columns, [], note=note)


def _category_plan(
    traces: list[Any], layout: Any, title: str, x_title: str, y_title: str
) -> _ChartPlan:
    """Bars, lines and areas share one category column: the union of their x values."""
    categories: dict[Any, None] = {}
    per_trace: list[tuple[_Series, dict[Any, Any]]] = []
    for i, trace in enumerate(traces):
        kind, subtype = _trace_kind(trace, layout)
        if kind not in _CATEGORY_KINDS:
            continue
        name = trace.name or (y_title if len(traces) == 1 else "") or f"series {i + 1}"
        if trace.type == "histogram":
            cats, vals = _histogram(trace)
        elif kind == "bar":  # horizontal: categories on y
            cats, vals = _values(trace.y), _values(trace.x)
        else:
            cats, vals = _values(trace.x), _values(trace.y)
            if not cats:
                cats = list(range(len(vals)))
        points: dict[Any, Any] = {}
        for cat, val in zip(cats, vals, strict=False):
            categories.setdefault(cat, None)
            if kind in ("column", "bar") and isinstance(val, (int, float)) and cat in points:
                points[cat] = points[cat] + val  # plotly stacks repeated bars: Excel gets the sum
            else:
                points[cat] = val
        per_trace.append((_Series(name, kind, subtype, 0, 0, _color(trace)), points))
    cat_title = y_title if per_trace and per_trace[0][0].kind == "bar" else x_title
    columns: list[tuple[str, list[Any]]] = [(cat_title or "category", list(categories))]
    series = []
    for s, points in per_trace:
        columns.append((s.name, [points.get(c) for c in categories]))
        s.y_col = len(columns) - 1
        series.append(s)
    if series and series[0].kind == "bar":
        x_title, y_title = y_title, x_title
    return _ChartPlan(title, x_title, y_title, columns, series)


def _histogram(trace: Any) -> tuple[list[Any], list[Any]]:
    import numpy as np

    raw = [v for v in _values(trace.x) if isinstance(v, (int, float))]
    if not raw:
        return [], []
    counts, edges = np.histogram(np.asarray(raw, dtype=float), bins=trace.nbinsx or "auto")
    labels = [f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(len(counts))]
    return labels, [int(c) for c in counts]


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


def _value_writer(sheet: xlsxwriter.worksheet.Worksheet, formats: _Formats) -> Writer:
    def write(row: int, col: int, value: Any) -> object:
        if isinstance(value, bool):
            return sheet.write_boolean(row, col, value)
        if isinstance(value, (int, float, Decimal)):
            return sheet.write_number(row, col, float(value))
        if isinstance(value, dt.datetime) and value.year >= 1900:
            return sheet.write_datetime(row, col, value, formats.datetime)
        if isinstance(value, dt.date) and value.year >= 1900:
            return sheet.write_datetime(row, col, cast(dt.datetime, value), formats.date)
        return sheet.write_string(row, col, str(value))

    return write


# -- PDF ------------------------------------------------------------------------------------

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
    from .settings import Settings

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


from ._modules import callable_module  # noqa: E402

callable_module(__name__, export)
