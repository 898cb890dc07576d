"""Governed exports: CSV, Excel and PDF (REST `export`).

The query runs as the caller, so the file holds exactly what they may read; the answer is the
file itself, ready for a browser download (``Content-Disposition: attachment``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from dap_kernel.export import CONTENT_TYPES, PDF_MAX_ROWS, ExportTooLarge, export_file

from ..api import Call, RawBody, router
from ..models import Params, Request


class ExportRequest(Request):
    sql: str = Field(min_length=1, max_length=1_000_000, description="One SELECT statement.")
    params: Params = Field(
        default=None, description="Values for `:name` (object) or `?`/`$1` (array) placeholders."
    )
    format: Literal["csv", "xlsx", "pdf"] = Field(description="The file format.")
    title: str = Field(default="", max_length=200, description="Sheet or report title.")
    description: str = Field(
        default="", max_length=2_000, description="Printed under the title (e.g. the filters)."
    )
    timeout: float | None = Field(
        default=None, gt=0, le=86_400, description="Seconds before the query is stopped."
    )


def filename(title: str, fmt: str) -> str:
    """A safe download name from the title: letters, digits, dashes."""
    stem = re.sub(r"[^\w.-]+", "-", title, flags=re.ASCII).strip("-.")[:80] or "export"
    return f"{stem}.{fmt}"


def disposition(name: str) -> str:
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"


@router.post(
    "export",
    body=ExportRequest,
    response=BaseModel,
    pool="query",
    scope="query",
    tag="export",
    errors=(400, 403, 404, 408, 429),
    alt_content=tuple(CONTENT_TYPES.values()),
)
def run_export(call: Call, body: ExportRequest) -> RawBody:
    """Run one governed SELECT and answer its result as a CSV, Excel or PDF file."""
    runtime = call.runtime
    most = min(runtime.max_rows, PDF_MAX_ROWS) if body.format == "pdf" else runtime.max_rows
    result = call.session.query(
        body.sql, body.params, limit=most + 1, timeout_s=runtime.timeout(body.timeout)
    )
    table = result.table
    if table.num_rows > most and body.format != "pdf":  # a PDF says itself it is cut short
        raise ExportTooLarge(
            f"the result has more than {most:,} rows, the most one REST export returns: "
            "narrow the query or run `dap export` where the data lives"
        )
    name = filename(body.title, body.format)
    with tempfile.TemporaryDirectory(prefix="dap-export-") as folder:
        done = export_file(
            table,
            body.format,
            Path(folder) / name,
            title=body.title,
            params=body.params,
            description=body.description,
            session=call.session,
            max_pdf_rows=most,
        )
        content = done.path.read_bytes()
    return RawBody(
        content,
        CONTENT_TYPES[body.format],
        headers={
            "Content-Disposition": disposition(name),
            "X-DAP-Row-Count": str(done.rows),
            "X-DAP-Tables": ",".join(result.tables),
        },
    )
