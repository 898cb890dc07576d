"""Report files of a scheduled run: real papermill runs of small notebooks, rendered offline to
HTML (no CDN, charts as PNG, notebook HTML sanitised) and PDF (real chromium), and the failing
cell read back for the alert."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pypdf import PdfReader

from dap_kernel.export.errors import RenderError
from dap_kernel.scheduler.outputs import (
    FailedCell,
    OutputError,
    failed_cell,
    render_outputs,
    report_html,
)

CHROMIUM = "/usr/bin/chromium"

CHART = """\
import polars as pl
import plotly.graph_objects as go
import plotly.io as pio
pio.renderers.default = "plotly_mimetype+png"
sales = pl.DataFrame({"month": ["Jan", "Feb", "Mar"], "amount": [3, 1, 2]})
fig = go.Figure(go.Bar(x=sales["month"].to_list(), y=sales["amount"].to_list()))
fig.update_layout(title=f"Sales {region}", width=500, height=300)
fig.show()
"""

# What an analyst could make a report show to whoever opens it.
HOSTILE_OUTPUT = """\
from IPython.display import HTML, display
display(HTML('<b>bold words</b><script>alert("out")</script>'
             '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">click</a>'
             '<img src="https://tracker.example/pixel.png">'))
"""
HOSTILE_MARKDOWN = (
    "## Notes\n"
    '<script src="https://evil.example/x.js"></script>\n'
    '<iframe src="https://evil.example/frame"></iframe>\n'
    "Plain words stay."
)
# Charts that only a script would draw: HTML-only plotly, and plotly JSON without a PNG.
SCRIPTED_CHARTS = """\
from IPython.display import HTML, display
display(HTML('<div id="p1"></div><script>Plotly.newPlot("p1", [{"y": [1, 2]}])</script>'))
display({"application/vnd.plotly.v1+json": go.Figure(go.Scatter(y=[4, 5, 6])).to_plotly_json()},
        raw=True)
"""


def _notebook(path: Path, cells: list[Any]) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


def _run(source: Path, target: Path, **parameters: Any) -> Path:
    papermill.execute_notebook(
        str(source),
        str(target),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(source.parent),
    )
    return target


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def executed(work: Path) -> Path:
    source = _notebook(
        work / "sales.ipynb",
        [
            new_code_cell('region = "north"\nlimit = 3', metadata={"tags": ["parameters"]}),
            new_markdown_cell("# Sales report\nMonthly sales by region."),
            new_code_cell(CHART),
            new_code_cell("sales.head(limit)"),
            new_markdown_cell(HOSTILE_MARKDOWN),
            new_code_cell(HOSTILE_OUTPUT),
            new_code_cell(SCRIPTED_CHARTS),
        ],
    )
    return _run(source, work / "sales.out.ipynb", region="south-west", limit=2)


@pytest.fixture(scope="module")
def rendered(executed: Path, work: Path) -> dict[str, Path]:
    return render_outputs(
        executed, ["html", "pdf", "ipynb"], work / "out", title="Sales weekly", chromium=CHROMIUM
    )


@pytest.fixture(scope="module")
def page(rendered: dict[str, Path]) -> str:
    return rendered["html"].read_text(encoding="utf-8")


def test_every_format_is_written_complete_under_a_safe_name(
    rendered: dict[str, Path], executed: Path, work: Path
) -> None:
    assert list(rendered) == ["html", "pdf", "ipynb"]
    assert {p.name for p in rendered.values()} == {
        "sales-weekly.html",
        "sales-weekly.pdf",
        "sales-weekly.ipynb",
    }
    assert rendered["ipynb"].read_bytes() == executed.read_bytes()
    assert sorted(p.name for p in (work / "out").iterdir()) == sorted(
        p.name for p in rendered.values()
    )  # no temporary file left behind


def test_html_shows_the_run_parameters_readably(page: str) -> None:
    assert "Parameters of this run" in page
    assert re.search(r"<td><code>region</code></td>\s*<td>south-west</td>", page)
    assert re.search(r"<td><code>limit</code></td>\s*<td>2</td>", page)
    assert "Parameters" in page and "injected-parameters" in page  # papermill's cell stays


class _Elements(HTMLParser):
    """Every element of a page with its attributes (what a browser would act on; the shown
    source code of a cell is text, not elements)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k.lower(): v or "" for k, v in attrs}))


def _elements(page: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(page)
    return parser.found


def test_html_loads_nothing_from_the_network(page: str) -> None:
    elements = _elements(page)
    assert len(elements) > 100  # the parser did see the page
    assert [tag for tag, _ in elements if tag in ("script", "iframe", "object", "embed")] == []
    for tag, attrs in elements:
        for name in ("src", "href"):
            if tag != "a" and name in attrs:
                assert not re.match(r"\s*(https?:)?//", attrs[name], re.I), (tag, attrs)
    assert "cdnjs" not in page and "require.min.js" not in page


def test_charts_reach_the_html_as_png_images(page: str) -> None:
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', page)
    # the plotly_mimetype+png chart, and the JSON-only figure drawn to PNG here
    assert len(images) >= 2
    assert "Monthly sales by region." in page
    assert "<table" in page and "Feb" in page  # the polars frame, as a table
    # the HTML-only plotly chart cannot be drawn: it says so instead of an empty box
    assert "a chart that cannot be shown in a static report" in page


def test_notebook_html_cannot_run_script_or_load_trackers(page: str) -> None:
    assert "<b>bold words</b>" in page and "Plain words stay." in page  # the output is shown
    elements = _elements(page)
    for tag, attrs in elements:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "img" and "src" in attrs:  # the hostile images lost their src
            assert attrs["src"].startswith("data:image/"), attrs
        if tag == "a":
            assert not attrs.get("href", "").lower().startswith("javascript:"), attrs
    assert "evil.example" not in page  # the markdown's script and frame, gone with their URLs
    assert 'alert("out")</script>' not in page


def test_pdf_holds_the_notebook_text(rendered: dict[str, Path]) -> None:
    pdf = rendered["pdf"]
    assert pdf.read_bytes().startswith(b"%PDF")
    assert len(PdfReader(pdf).pages) >= 1
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Sales report" in text
    assert "Parameters of this run" in text and "south-west" in text
    assert "Sales weekly" in text  # the page header


def test_an_unknown_format_is_one_clear_line(executed: Path, work: Path) -> None:
    with pytest.raises(OutputError) as caught:
        render_outputs(executed, ["html", "docx"], work / "bad", title="x")
    assert "docx" in str(caught.value) and "\n" not in str(caught.value)
    assert not (work / "bad" / "x.html").exists()  # nothing made before the check


def test_a_failed_pdf_leaves_no_file(executed: Path, work: Path) -> None:
    out = work / "nochrome"
    with pytest.raises(RenderError):
        render_outputs(executed, ["pdf"], out, title="Sales", chromium="/nonexistent/chromium")
    assert list(out.iterdir()) == []


def test_a_title_cannot_name_a_path_outside_the_folder(executed: Path, work: Path) -> None:
    made = render_outputs(executed, ["ipynb"], work / "slug", title="../../etc/passwd")
    assert made["ipynb"].parent == work / "slug"
    assert made["ipynb"].name == "etc-passwd.ipynb"


@pytest.fixture(scope="module")
def failing(work: Path) -> Path:
    source = _notebook(
        work / "failing.ipynb",
        [
            new_code_cell('region = "north"', metadata={"tags": ["parameters"]}),
            new_markdown_cell("Setup"),
            new_code_cell("x = 1\nprint(x)"),
            new_code_cell('def check(r):\n    raise ValueError(f"no data for {r}")\ncheck(region)'),
            new_code_cell("print('never reached')"),
        ],
    )
    target = work / "failing.out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError):
        _run(source, target, region="atlantis")
    return target


def test_the_failed_cell_is_found_with_its_error(failing: Path) -> None:
    failed = failed_cell(failing)
    assert failed is not None
    assert failed.index == 3  # the owner's fourth cell: papermill's added cells not counted
    assert failed.execution_count == 4  # In [2] was the injected parameters
    assert failed.ename == "ValueError"
    assert failed.evalue == "no data for atlantis"
    assert "raise ValueError" in failed.source
    assert "\x1b" not in failed.traceback
    assert "ValueError: no data for atlantis" in failed.traceback
    assert "check(region)" in failed.traceback


def test_a_run_without_error_has_no_failed_cell(executed: Path) -> None:
    assert failed_cell(executed) is None


def test_a_failed_run_still_renders(failing: Path, work: Path) -> None:
    made = render_outputs(failing, ["html"], work / "failed-html", title="Failing")
    page = made["html"].read_text(encoding="utf-8")
    assert "no data for atlantis" in page
    assert "atlantis" in page and "Parameters of this run" in page


def test_papermills_banner_finds_a_cell_without_error_output(tmp_path: Path) -> None:
    # a kernel that died leaves no error output: papermill's banner says where it stopped
    nb = new_notebook(
        cells=[
            new_markdown_cell(
                "<span>An Exception was encountered at '<a href=\"#x\">In [2]</a>'.</span>",
                metadata={"tags": ["papermill-error-cell-tag"]},
            ),
            new_code_cell("a = 1", execution_count=1),
            new_code_cell("import os; os._exit(1)", execution_count=2),
        ]
    )
    path = tmp_path / "died.ipynb"
    nbformat.write(nb, path)
    failed = failed_cell(path)
    assert failed == FailedCell(
        index=1,
        execution_count=2,
        source="import os; os._exit(1)",
        ename="Error",
        evalue="the run stopped in this cell (the kernel may have died)",
        traceback="",
    )


def test_long_sources_and_tracebacks_are_trimmed(tmp_path: Path) -> None:
    source = "\n".join(f"line_{i} = {i}" for i in range(100))
    trace = [f"\x1b[31mframe {i}\x1b[0m" for i in range(200)]
    cell = new_code_cell(source, execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("error", ename="KeyError", evalue="'k'", traceback=trace)
    ]
    path = tmp_path / "long.ipynb"
    nbformat.write(new_notebook(cells=[cell]), path)
    failed = failed_cell(path)
    assert failed is not None
    lines = failed.source.splitlines()
    assert lines[0] == "line_0 = 0" and lines[-1] == "… (60 more lines)" and len(lines) == 41
    tb = failed.traceback.splitlines()
    assert tb[-1] == "frame 199" and tb[0] == "… (160 lines above)"
    assert "\x1b" not in failed.traceback


def test_not_a_notebook_is_an_output_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(OutputError):
        failed_cell(bad)
    with pytest.raises(OutputError):
        render_outputs(tmp_path / "missing.ipynb", ["html"], tmp_path, title="x")


def _widget_notebook(*, dashboard: bool) -> Any:
    nb = new_notebook(cells=[new_code_cell("secret_sauce = 42")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2},
                "text/plain": "VBox()",
            },
        ),
        nbformat.v4.new_output("display_data", data={"text/html": "<p>Revenue 11,303,000</p>"}),
    ]
    if dashboard:
        nb.metadata["dap"] = {"dashboard": "sales"}
    return nb


def test_a_dashboard_snapshot_is_its_page_without_code_or_widgets() -> None:
    """A scheduled snapshot of a dashboard: the cards, no code, and no 'cannot be shown' line
    where the filter bar widget was; an ordinary report keeps its code and says so."""
    page = report_html(_widget_notebook(dashboard=True), title="sales")
    assert "Revenue 11,303,000" in page
    assert "secret_sauce" not in page and "cannot be shown" not in page
    report = report_html(_widget_notebook(dashboard=False), title="report")
    assert "secret_sauce" in report and "cannot be shown" in report
