"""Governed export: CSV read back exactly, Excel re-read with openpyxl, PDFs read with
pdftotext and pypdf, governance (row filters, refusals) and the CLI and magic front doors."""

from __future__ import annotations

import datetime as dt
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import pyarrow as pa
import pypdf
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import dap_kernel as dap
from dap_kernel import export as export_module
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.export import (
    ExportError,
    ExportTooLarge,
    PdfRenderer,
    export,
    export_dashboard_pdf,
    export_file,
    export_pdf_html,
    figure_table,
)
from dap_kernel.export import excel as excel_module
from dap_kernel.export import to_csv as csv_module
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings
from tests.conftest import make_governed

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"
CUSTOMERS = "SELECT customer_id, name, email, region FROM main.customers ORDER BY customer_id"


@pytest.fixture(scope="module")
def renderer() -> Iterator[PdfRenderer]:
    """One chromium for every PDF of this module (export functions pick it up while open)."""
    with PdfRenderer("/usr/bin/chromium") as shared:
        yield shared


def as_user(ws: Workspace, name: str) -> Session:
    return ws.session(Principal(name=name, source="test"))


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def written(folder: Path) -> list[str]:
    """Files an export left in ``folder`` (the workspace's home aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name != "dap-home")


def hostile_frame() -> pl.DataFrame:
    utc = dt.UTC
    return pl.DataFrame(
        {
            "id": [1, None, 3, 9_007_199_254_740_993, -5],
            "text": ["a,b", "", None, 'he said "hi"', "line1\nline2\r\nline3"],
            "unicode": ["ünïcödé", "😀 emoji", "中文", "  padded  ", "=1+1"],
            "number": [1.5, None, 0.1 + 0.2, 1e300, -2.5e-12],
            "amount": [
                Decimal("12.30"),
                None,
                Decimal("-0.01"),
                Decimal("99999999.99"),
                Decimal(0),
            ],
            "ts": [
                dt.datetime(2024, 1, 1, 6, 37, 19, 123456),
                None,
                dt.datetime(1999, 12, 31),
                dt.datetime(1970, 1, 1),
                dt.datetime(2038, 1, 19, 3, 14, 7),
            ],
            "ts_utc": [
                dt.datetime(2024, 1, 1, 6, 37, 19, tzinfo=utc),
                dt.datetime(2000, 2, 29, 23, 59, 59, 999999, tzinfo=utc),
                None,
                dt.datetime(1970, 1, 1, tzinfo=utc),
                dt.datetime(2030, 6, 1, 12, tzinfo=utc),
            ],
            "day": [dt.date(2024, 2, 29), None, dt.date(1, 1, 1), dt.date(9999, 12, 31), None],
            "flag": [True, None, False, True, False],
            "digits": ["007", "1e5", "NaN", "null", "true"],
        },
        schema_overrides={"amount": pl.Decimal(10, 2)},
    )


# -- CSV ------------------------------------------------------------------------------------


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    frame = hostile_frame()
    path = export(frame, "csv", tmp_path / "hostile.csv")
    back = pl.read_csv(path, schema=frame.schema)
    assert back.equals(frame)
    assert back["text"].to_list() == frame["text"].to_list()  # "" stays "", null stays null
    text = path.read_text(encoding="utf-8")
    assert "2024-01-01T06:37:19.123456" in text  # ISO 8601
    assert "2024-01-01T06:37:19.000000Z" in text
    # Without a schema, polars still reads the times as times.
    guessed = pl.read_csv(path, try_parse_dates=True)
    assert guessed.schema["ts"] == pl.Datetime("us")
    assert guessed["ts_utc"].to_list() == frame["ts_utc"].to_list()


def test_csv_keeps_instants_of_other_time_zones(tmp_path: Path) -> None:
    noon = dt.datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    berlin = pl.DataFrame({"at": [noon]}, schema={"at": pl.Datetime("us", "Europe/Berlin")})
    assert berlin["at"].to_list() == [noon]
    path = export(berlin, "csv", tmp_path / "tz.csv")
    assert "2024-07-01T10:00:00.000000Z" in path.read_text()
    back = pl.read_csv(path, try_parse_dates=True)
    assert back["at"].dt.convert_time_zone("Europe/Berlin").to_list() == berlin["at"].to_list()


def test_csv_of_arrow_table_and_empty_result(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([1, 2], pa.int32()), "y": pa.array(["a", None])})
    assert export(table, "csv", tmp_path / "t.csv").read_text() == '"x","y"\n1,"a"\n2,\n'
    empty = pl.DataFrame(schema={"a": pl.Int64, "b": pl.String})
    done = export_file(empty, "csv", tmp_path / "empty.csv")
    assert done.rows == 0 and done.path.read_text() == '"a","b"\n'


def test_csv_of_a_large_sql_result_is_streamed(
    demo_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    original = csv_module._csv_ready

    def counting(batch: pa.RecordBatch) -> pa.RecordBatch:
        batches.append(batch.num_rows)
        return original(batch)

    monkeypatch.setattr(csv_module, "_csv_ready", counting)
    sql = (
        "SELECT o.order_id, o.order_ts, c.customer_id, c.name "
        "FROM main.orders o CROSS JOIN main.customers c"
    )
    done = export_file(sql, "csv", tmp_path / "big.csv", session=demo_workspace.session())
    assert done.rows == 2_000 * 200 == 400_000
    assert len(batches) > 1 and max(batches) <= export_module.CSV_BATCH_ROWS
    assert pl.scan_csv(done.path).select(pl.len()).collect().item() == 400_000


def test_existing_files_are_kept_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("precious")
    frame = pl.DataFrame({"a": [1]})
    with pytest.raises(ExportError, match="already exists"):
        export(frame, "csv", target)
    assert target.read_text() == "precious"
    export(frame, "csv", target, overwrite=True)
    assert target.read_text() == '"a"\n1\n'


def test_bad_requests_are_clear_errors(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1]})
    with pytest.raises(ExportError, match="unknown export format 'docx'"):
        export(frame, "docx", tmp_path / "x.docx")
    with pytest.raises(ExportError, match="cannot export a dict"):
        export({"a": 1}, "csv", tmp_path / "x.csv")
    with pytest.raises(ExportError, match="one table"):
        export(frame, "csv", tmp_path / "x.csv", sheets={"b": frame})
    with pytest.raises(ExportError, match="is a folder"):
        export(frame, "csv", tmp_path)
    assert written(tmp_path) == []


def test_callable_module() -> None:
    assert dap.export is export_module
    assert callable(dap.export)


# -- governance -----------------------------------------------------------------------------


def test_row_filtered_user_exports_only_their_rows(governed: Workspace, tmp_path: Path) -> None:
    ann = as_user(governed, "ann")
    path = export(CUSTOMERS, "csv", tmp_path / "ann.csv", session=ann)
    rows = pl.read_csv(path)
    assert rows.height > 0
    assert set(rows["region"]) == {"EMEA"}
    assert rows.equals(ann.sql(CUSTOMERS))
    everyone = governed.session().sql(CUSTOMERS)
    assert rows.height < everyone.height
    assert not set(rows["email"]) & set(everyone["email"])  # masked
    raj = export(CUSTOMERS, "xlsx", tmp_path / "raj.xlsx", session=as_user(governed, "raj"))
    sheet = openpyxl.load_workbook(raj).worksheets[0]
    assert {r[3] for r in sheet.iter_rows(min_row=2, values_only=True)} == {"APAC"}


def test_refused_query_writes_no_file(governed: Workspace, tmp_path: Path) -> None:
    bob = as_user(governed, "bob")
    for fmt in ("csv", "xlsx", "pdf"):
        with pytest.raises(QueryRefused):
            export(CUSTOMERS, fmt, tmp_path / f"bob.{fmt}", session=bob)
    with pytest.raises(DapError):
        export("SELECT * FROM read_csv('/etc/passwd')", "csv", tmp_path / "x.csv", session=bob)
    assert written(tmp_path) == []


def test_parameters_are_bound(demo_workspace: Workspace, tmp_path: Path) -> None:
    sql = "SELECT customer_id, region FROM main.customers WHERE region = :r"
    hostile = "EMEA' OR '1'='1"
    done = export_file(
        sql, "csv", tmp_path / "p.csv", params={"r": hostile}, session=demo_workspace.session()
    )
    assert done.rows == 0
    done = export_file(
        sql, "csv", tmp_path / "q.csv", params={"r": "APAC"}, session=demo_workspace.session()
    )
    assert done.rows > 0 and set(pl.read_csv(done.path)["region"]) == {"APAC"}


# -- Excel ----------------------------------------------------------------------------------


def test_xlsx_has_typed_cells_frozen_header_filter_and_sheets(tmp_path: Path) -> None:
    frame = hostile_frame()
    second = pl.DataFrame({"customer": ["Ann", "Raj"], "orders": [3, 5]})
    path = export(
        frame, "xlsx", tmp_path / "book.xlsx", title="Orders", sheets={"Customers": second}
    )
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Orders", "Customers"]
    sheet = book["Orders"]
    assert sheet["A1"].value == "Orders" and sheet["A1"].font.b
    header = [c.value for c in sheet[2]]
    assert header == frame.columns
    assert all(c.font.b for c in sheet[2])
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref == "A2:J7"
    first = [c.value for c in sheet[3]]
    assert first[0] == 1 and isinstance(first[0], int)
    assert first[1] == "a,b"
    assert first[3] == 1.5
    assert first[4] == pytest.approx(12.3) and sheet["E3"].number_format == "0.00"
    assert sheet["F3"].is_date and first[5] == dt.datetime(2024, 1, 1, 6, 37, 19, 123000)
    assert sheet["H3"].is_date and first[7] == dt.datetime(2024, 2, 29)
    assert first[8] is True
    assert sheet["B4"].value == "" or sheet["B4"].value is None  # empty string cell
    assert sheet["C7"].value == "=1+1" and sheet["C7"].data_type == "s"  # text, not a formula
    assert sheet["H5"].value == "0001-01-01"  # before Excel's calendar: exact text
    assert sheet["A6"].value == "9007199254740993"  # beyond a double: exact text
    assert sheet.column_dimensions["B"].width > 8
    customers = book["Customers"]
    assert [[c.value for c in row] for row in customers.iter_rows(min_row=2)] == [
        ["customer", "orders"],
        ["Ann", 3],
        ["Raj", 5],
    ]


def chart_figures() -> list[go.Figure]:
    sales = pl.DataFrame(
        {
            "region": ["EMEA", "APAC", "EMEA", "AMER"],
            "channel": ["web", "web", "store", "web"],
            "revenue": [10.0, 20.0, 30.0, 40.0],
        }
    )
    days = pl.DataFrame(
        {
            "day": [dt.date(2024, 1, d) for d in (1, 2, 3)] * 2,
            "kind": ["a"] * 3 + ["b"] * 3,
            "value": [1, 3, 2, 4, 5, 6],
        }
    )
    return [
        px.bar(sales, x="region", y="revenue", color="channel", title="Revenue by region"),
        px.line(days, x="day", y="value", color="kind", title="Trend"),
        px.area(days, x="day", y="value", color="kind", title="Stacked"),
        px.pie(sales, names="region", values="revenue", title="Share"),
        px.scatter(sales, x="revenue", y="revenue", color="channel", title="Scatter"),
        px.bar(sales, x="revenue", y="region", orientation="h", title="Horizontal"),
        px.histogram(pl.DataFrame({"v": [1, 2, 2, 3, 3, 3]}), x="v", nbins=3, title="Histogram"),
    ]


def test_xlsx_charts_are_native_with_their_data(tmp_path: Path) -> None:
    figures = chart_figures()
    path = export(None, "xlsx", tmp_path / "charts.xlsx", charts=figures)
    book = openpyxl.load_workbook(path)
    expected = {
        "Revenue by region": ("barChart", 2, "col"),
        "Trend": ("lineChart", 2, None),
        "Stacked": ("areaChart", 2, None),
        "Share": ("pieChart", 1, None),
        "Scatter": ("scatterChart", 2, None),
        "Horizontal": ("barChart", 1, "bar"),
        "Histogram": ("barChart", 1, "col"),
    }
    assert book.sheetnames == list(expected)
    for name, (tag, series, direction) in expected.items():
        charts = book[name]._charts
        assert len(charts) == 1, name
        assert charts[0].tagname == tag, name
        assert len(charts[0].series) == series, name
        if direction:
            assert charts[0].barDir == direction
    bars = book["Revenue by region"]
    assert [[c.value for c in row] for row in bars.iter_rows(max_col=3)] == [
        ["region", "web", "store"],
        ["EMEA", 10, 30],
        ["APAC", 20, None],
        ["AMER", 40, None],
    ]
    assert bars._charts[0].grouping == "stacked"  # plotly express stacks colours
    trend = book["Trend"]
    assert trend["A2"].is_date and trend["A2"].value == dt.datetime(2024, 1, 1)
    share = book["Share"]
    assert [[c.value for c in row] for row in share.iter_rows(min_row=2, max_col=2)] == [
        ["EMEA", 40],
        ["APAC", 20],
        ["AMER", 40],
    ]
    histogram = book["Histogram"]
    assert sum(r[1] for r in histogram.iter_rows(min_row=2, max_col=2, values_only=True)) == 6


def test_figure_data_exports_to_csv(tmp_path: Path) -> None:
    figure = chart_figures()[0]
    assert figure_table(figure).columns == ["region", "web", "store"]
    path = export(None, "csv", tmp_path / "fig.csv", charts=[figure])
    assert pl.read_csv(path)["web"].to_list() == [10.0, 20.0, 40.0]


def test_xlsx_limit_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(excel_module, "EXCEL_MAX_ROWS", 10)
    frame = pl.DataFrame({"a": list(range(20))})
    with pytest.raises(ExportTooLarge, match="export it to CSV instead"):
        export(frame, "xlsx", tmp_path / "big.xlsx")
    assert written(tmp_path) == []


def test_xlsx_limit_on_sql_asks_for_no_more_than_fits(
    demo_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(excel_module, "EXCEL_MAX_ROWS", 100)
    with pytest.raises(ExportTooLarge, match="more rows than an Excel sheet holds"):
        export(
            "SELECT * FROM main.orders",
            "xlsx",
            tmp_path / "o.xlsx",
            session=demo_workspace.session(),
        )
    assert written(tmp_path) == []


# -- PDF ------------------------------------------------------------------------------------


def test_pdf_report_has_title_numbers_pages_header_and_footer(
    renderer: PdfRenderer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    sql = (
        "SELECT order_id, customer_id, channel, status FROM main.orders "
        "WHERE channel = :channel ORDER BY order_id"
    )
    session = demo_workspace.session()
    expected = session.sql(sql, {"channel": "web"})
    chart = px.bar(
        expected.group_by("status").len().sort("status"), x="status", y="len", title="By status"
    )
    path = export(
        sql,
        "pdf",
        tmp_path / "orders.pdf",
        title="Web orders report",
        params={"channel": "web"},
        session=session,
        charts=[chart],
    )
    text = pdf_text(path)
    pages = pypdf.PdfReader(path).pages
    assert len(pages) > 1
    assert text.count("Web orders report") >= len(pages)  # the page header, on every page
    assert f"page 1 of {len(pages)}" in text and f"page {len(pages)} of {len(pages)}" in text
    assert "generated " in text and " UTC" in text
    assert "Filters: channel = web" in text
    first, last = expected.row(0), expected.row(-1)
    assert str(first[0]) in text and str(last[0]) in text
    assert f"{expected.height:,} rows" in text
    second_page = pages[1].extract_text()
    assert "order_id" in second_page and "customer_id" in second_page  # header row repeats
    assert len(pages[0].images) >= 1  # the chart, as an image


def test_pdf_table_is_cut_with_a_note(renderer: PdfRenderer, tmp_path: Path) -> None:
    frame = pl.DataFrame({"n": list(range(1, 51)), "square": [i * i for i in range(1, 51)]})
    path = export(frame, "pdf", tmp_path / "cut.pdf", title="Squares", max_pdf_rows=20)
    text = pdf_text(path)
    assert "Showing the first 20 rows" in text
    assert "400" in text and "2500" not in text


def test_pdf_of_html_waits_for_plotly(renderer: PdfRenderer, tmp_path: Path) -> None:
    import plotly.io as pio

    figure = go.Figure(
        go.Bar(x=["alpha", "beta"], y=[3, 7]), layout={"title": "Drawn by plotly.js"}
    )
    page = pio.to_html(figure, include_plotlyjs=True, full_html=True)
    path = export_pdf_html(page, tmp_path / "html.pdf", title="Dashboard export")
    text = pdf_text(path)
    assert "Dashboard export" in text and "page 1 of " in text
    assert "Drawn by plotly.js" in text and "alpha" in text  # the chart drew before printing
    with pytest.raises(ExportError, match="already exists"):
        export_pdf_html(page, path, title="again")


class _Dashboard(http.server.BaseHTTPRequestHandler):
    """A page that draws late and shows the viewer named by their cookie."""

    def do_GET(self) -> None:
        viewer = (self.headers.get("Cookie") or "viewer=nobody").split("=", 1)[1]
        body = (
            "<html><body><h1>Live dashboard</h1><div id='grid'></div><script>"
            "setTimeout(() => { const d = document.createElement('div'); d.className = 'ready';"
            f"d.textContent = 'numbers for {viewer}: 4217';"
            "document.getElementById('grid').appendChild(d); }, 700);</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_dashboard_pdf_from_a_live_url(renderer: PdfRenderer, tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dashboard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/voila/render/sales.ipynb"
        path = export_dashboard_pdf(
            url,
            tmp_path / "dash.pdf",
            title="Sales dashboard",
            cookies={"viewer": "ann"},
            wait_selector=".ready",
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    text = pdf_text(path)
    assert "Sales dashboard" in text and "Live dashboard" in text
    assert "numbers for ann: 4217" in text


def test_missing_chromium_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DapError, match="no chromium at /nowhere/chromium"):
        export_pdf_html("<p>x</p>", tmp_path / "x.pdf", title="t", chromium="/nowhere/chromium")
    assert list(tmp_path.iterdir()) == []


# -- front doors ----------------------------------------------------------------------------


def _cli(*args: str, home: Path, user: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": user})
    return subprocess.run([DAP, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def governed_home(demo_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "cli-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    ws.close()
    return home


def test_cli_exports_as_the_user(governed_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "ann.csv"
    sql = "SELECT customer_id, region FROM main.customers WHERE region <> :not_region"

    def export_as_ann(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli("export", "--sql", sql, *args, home=governed_home, user="ann")

    result = export_as_ann("--to", "csv", str(target), "--param", "not_region=APAC")
    assert result.returncode == 0, result.stderr
    rows = pl.read_csv(target)
    assert result.stdout.strip() == f"exported {rows.height} rows to {target}"
    assert rows.height > 0 and set(rows["region"]) == {"EMEA"}
    again = export_as_ann("--to", "csv", str(target), "-p", "not_region=x")
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    xlsx = export_as_ann(str(tmp_path / "ann.xlsx"), "-p", "not_region=x")
    assert xlsx.returncode == 0, xlsx.stderr
    assert openpyxl.load_workbook(tmp_path / "ann.xlsx").worksheets[0]["A1"].value == "customer_id"


def test_cli_refusal_is_one_line_and_writes_nothing(governed_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "bob.csv"
    result = _cli(
        "export", "--sql", CUSTOMERS, "--to", "csv", str(target), home=governed_home, user="bob"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("bob", ".bob"))]


def test_magic_exports_frames_figures_and_sheets(
    shell: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["df"] = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    shell.user_ns["fig"] = chart_figures()[0]
    shell.user_ns["book"] = {"One": shell.user_ns["df"], "Two": shell.user_ns["df"].head(1)}
    shell.run_line_magic("dap", f"export df --to csv {tmp_path / 'df.csv'}")
    assert f"exported 2 rows to {tmp_path / 'df.csv'}" in capsys.readouterr().out
    assert pl.read_csv(tmp_path / "df.csv").equals(shell.user_ns["df"])
    shell.run_line_magic("dap", f"export fig --to xlsx {tmp_path / 'fig.xlsx'}")
    assert len(openpyxl.load_workbook(tmp_path / "fig.xlsx").worksheets[0]._charts) == 1
    shell.run_line_magic("dap", f"export book {tmp_path / 'book.xlsx'} --title 'Two sheets'")
    assert openpyxl.load_workbook(tmp_path / "book.xlsx").sheetnames == ["One", "Two"]
    for line, message in [
        ("export nothing --to csv x.csv", "no variable named 'nothing'"),
        ("export df --to docx x.docx", "invalid choice"),
        (f"export df --to csv {tmp_path / 'df.csv'}", "already exists"),
        ("export df", "the following arguments are required"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("dap", line)
    shell.run_line_magic("dap", "help")
    assert "%dap export VAR --to csv|xlsx|pdf PATH" in capsys.readouterr().out
