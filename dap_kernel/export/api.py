"""``export`` and ``export_file``: one call for every format, dispatched to its writer."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import dap_kernel.export.excel as excel  # read at call time: tests lower its limits

from .errors import ExportError
from .excel import write_xlsx
from .figures import figure_table
from .files import _atomic, _target
from .formats import Data, Exported, normalize_format
from .inputs import Exports, Queries, _chromium, _client, _describe, _table
from .pdf import export_pdf_html
from .report import PDF_MAX_ROWS, report_html
from .to_csv import _batches, write_csv

if TYPE_CHECKING:
    from ..session import Session

P = ParamSpec("P")


def export_file(
    data: Data | None,
    to: str,
    path: str | Path,
    *,
    title: str = "",
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    session: Exports | Session | None = None,
    sheets: Mapping[str, Data] | None = None,
    charts: Sequence[Any] = (),
    description: str = "",
    overwrite: bool = False,
    max_pdf_rows: int = PDF_MAX_ROWS,
) -> Exported:
    """:func:`export`, also telling how many rows were written (the CLI and REST report it).

    The export goes through the client's ``export``, which audits the file in-process as a copy
    of the rows it holds (a bare in-process session gets the same audit from
    :func:`write_audited_export`); :func:`write_export` does the writing.
    """
    options: dict[str, Any] = {
        "title": title,
        "params": params,
        "sheets": sheets,
        "charts": charts,
        "description": description,
        "overwrite": overwrite,
        "max_pdf_rows": max_pdf_rows,
    }
    if session is None or isinstance(session, Exports):  # a client: it writes and audits
        return _client(session).export(data, to, path, **options)
    return write_audited_export(session, data, to, path, **options)  # a session of this process


def write_export(
    data: Data | None,
    to: str,
    path: str | Path,
    *,
    session: Queries,
    title: str = "",
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    sheets: Mapping[str, Data] | None = None,
    charts: Sequence[Any] = (),
    description: str = "",
    overwrite: bool = False,
    max_pdf_rows: int = PDF_MAX_ROWS,
) -> Exported:
    """Write the file (SQL runs through ``session``); what a client's ``export`` calls."""
    fmt = normalize_format(to)
    read: list[str] = []
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
            batches = _batches(source, params, session, read)
        else:
            if len(charts) != 1:
                raise ExportError("a CSV file holds one table: export one chart at a time")
            batches = iter(figure_table(charts[0]).to_arrow().to_batches())
        with _atomic(target, overwrite) as tmp:
            rows = write_csv(batches, tmp)
        return Exported(target, fmt, rows, tuple(read))

    # Read at call time from excel, so the query asks for no more rows than a sheet holds.
    limit = excel.EXCEL_MAX_ROWS if fmt == "xlsx" else max_pdf_rows
    tables = {
        name: _table(source, params, session, limit=limit + 1, read=read)
        for name, source in sources.items()
    }
    if fmt == "xlsx":
        with _atomic(target, overwrite) as tmp:
            rows = write_xlsx(tables, tmp, title=title, description=description, charts=charts)
        return Exported(target, fmt, rows, tuple(read))
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
    rows = sum(min(t.num_rows, max_pdf_rows) for t in tables.values())
    return Exported(target, fmt, rows, tuple(read))


def write_audited_export(
    session: Session, data: Data | None, to: str, path: str | Path, **options: Any
) -> Exported:
    """:func:`write_export` through a session of this process, audited as a copy of the rows
    (``export``: format, path, rows, tables read): the in-process client's ``export``."""
    statement = f"export {to} to {path}" + (f": {data}" if isinstance(data, str) else "")
    with session.audit_change("export", statement=statement) as change:
        done = write_export(data, to, path, session=session, **options)
        change.rows = done.rows
        change.touch(*done.tables)
    return done


def _returning_path(write: Callable[P, Exported], doc: str) -> Callable[P, Path]:
    """``write`` returning only the path written: ``export`` and ``export_file`` then share one
    signature, so an option added to one cannot be left out of the other."""

    def export(*args: P.args, **kwargs: P.kwargs) -> Path:
        return write(*args, **kwargs).path

    export.__qualname__, export.__doc__ = "export", doc
    # help() and the notebook's tooltip show the options rather than (*args, **kwargs).
    export.__signature__ = inspect.signature(write).replace(return_annotation="Path")  # type: ignore[attr-defined]
    return export


export = _returning_path(
    export_file,
    """Write ``data`` (a polars DataFrame, an Arrow table, or governed SQL) as CSV, xlsx or PDF.

    ``sheets`` adds named sheets to an Excel file (or sections to a PDF); ``charts`` are plotly
    figures: native charts in Excel, images in a PDF. ``description`` (e.g. the filters of a
    dashboard) is printed under the title. Returns the path written.
    """,
)
