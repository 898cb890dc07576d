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

from .._modules import callable_module
from .api import export, export_file
from .errors import ExportError, ExportTooLarge, RenderError
from .excel import EXCEL_MAX_COLUMNS, EXCEL_MAX_ROWS
from .excel import write_xlsx as write_xlsx
from .excel_cells import Writer as Writer
from .figures import figure_table
from .formats import CONTENT_TYPES as CONTENT_TYPES
from .formats import FORMATS, Exported, content_type
from .formats import Data as Data
from .formats import normalize_format as normalize_format
from .pdf import export_dashboard_pdf, export_pdf_html
from .renderer import CHROMIUM_ARGS as CHROMIUM_ARGS
from .renderer import PdfRenderer
from .report import PDF_MAX_ROWS as PDF_MAX_ROWS
from .report import report_html
from .to_csv import CSV_BATCH_ROWS as CSV_BATCH_ROWS
from .to_csv import write_csv as write_csv

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


callable_module(__name__, export)
