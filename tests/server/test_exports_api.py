"""REST `export`: the file itself, governed as the caller, and JSON errors."""

from __future__ import annotations

import io
import subprocess

import openpyxl
import polars as pl

from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from tests.server.conftest import Api

CUSTOMERS = "SELECT customer_id, name, email, region FROM main.customers ORDER BY customer_id"


async def test_csv_download_holds_only_the_callers_rows(api: Api, governed: Workspace) -> None:
    reply = await api(
        "POST", "export", as_="ann", body={"sql": CUSTOMERS, "format": "csv", "title": "My rows"}
    )
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.headers["Content-Disposition"].startswith('attachment; filename="My-rows.csv"')
    rows = pl.read_csv(io.BytesIO(reply.raw))
    expected = governed.session(Principal(name="ann", source="test")).sql(CUSTOMERS)
    assert rows.equals(expected)
    assert set(rows["region"]) == {"EMEA"}
    assert reply.headers["X-DAP-Row-Count"] == str(expected.height)
    raj = await api("POST", "export", as_="raj", body={"sql": CUSTOMERS, "format": "csv"})
    assert set(pl.read_csv(io.BytesIO(raj.raw))["region"]) == {"APAC"}
    assert raj.headers["Content-Disposition"].startswith('attachment; filename="export.csv"')


async def test_xlsx_download_with_bound_parameters(api: Api) -> None:
    reply = await api(
        "POST",
        "export",
        as_="tester",
        body={
            "sql": "SELECT region, count(*) AS n FROM main.customers "
            "WHERE region = :r GROUP BY region",
            "params": {"r": "AMER"},
            "format": "xlsx",
            "title": "Customers per region",
        },
    )
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(reply.raw)).worksheets[0]
    assert sheet["A1"].value == "Customers per region"
    assert [c.value for c in sheet[2]] == ["region", "n"]
    assert sheet["A3"].value == "AMER" and isinstance(sheet["B3"].value, int)
    assert sheet.freeze_panes == "A3"


async def test_pdf_download(api: Api) -> None:
    reply = await api(
        "POST",
        "export",
        as_="ann",
        body={
            "sql": "SELECT customer_id, region FROM main.customers ORDER BY 1",
            "format": "pdf",
            "title": "EMEA customers",
            "description": "Region: as the viewer may see",
        },
    )
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "application/pdf"
    assert reply.raw.startswith(b"%PDF")
    text = subprocess.run(
        ["/usr/bin/pdftotext", "-", "-"], input=reply.raw, capture_output=True, check=True
    ).stdout.decode()
    assert "EMEA customers" in text and "Region: as the viewer may see" in text
    assert "page 1 of" in text and "APAC" not in text


async def test_refusals_and_mistakes_are_json_errors(api: Api) -> None:
    bob = await api("POST", "export", as_="bob", body={"sql": CUSTOMERS, "format": "csv"})
    assert bob.status == 403 and bob.body["error"] == "query_refused"
    wrong = await api("POST", "export", as_="ann", body={"sql": CUSTOMERS, "format": "docx"})
    assert wrong.status == 400 and wrong.body["error"] == "invalid_request"
    files = await api(
        "POST",
        "export",
        as_="ann",
        body={"sql": "SELECT * FROM read_csv('/etc/passwd')", "format": "csv"},
    )
    assert files.status in (403, 404) and "passwd" not in files.raw.decode().split("message")[0]
    nobody = await api("POST", "export", as_=None, body={"sql": CUSTOMERS, "format": "csv"})
    assert nobody.status == 401


async def test_openapi_documents_the_file_types(api: Api) -> None:
    doc = (await api("GET", "openapi.json")).body
    operation = doc["paths"]["/dap/api/v1/export"]["post"]
    assert operation["operationId"] == "run_export"
    assert set(operation["responses"]["200"]["content"]) == {
        "text/csv; charset=utf-8",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/pdf",
    }
    assert operation["x-dap-api-key-scope"] == "query"
