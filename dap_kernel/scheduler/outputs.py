"""The report files of a run: the executed notebook as ipynb, HTML and PDF, made offline.

A scheduled run ends with an executed notebook (papermill's output). What its readers get is
made from it here, without network access: nbconvert's HTML pulls require.js, MathJax and
mermaid from CDNs, which fails on an offline server and phones out from a mailbox, so the
report template drops them (math stays as its TeX source). Charts reach the report as PNG
images: an interactive plotly output (HTML + script) would draw nothing offline or in a mail
reader, so an output that has a PNG shows the PNG, a plotly figure without one is drawn to PNG
here, and a chart that cannot be drawn says so instead of leaving an empty box.

Whatever HTML the notebook produced is the owner's code's, and the report goes to other
people's mailboxes and browsers: it is sanitised (no scripts, no event handlers, images only
from inline data) so a report cannot run code or load trackers where it is opened.

:func:`failed_cell` reads why a run failed, as the text its owner will read in an alert.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DapError
from .model import DASHBOARD_METADATA

FORMATS = ("ipynb", "html", "pdf")
SOURCE_LINES = 40  # lines of the failing cell's source shown in an alert
TRACEBACK_LINES = 40  # lines of its traceback (the tail: where it failed)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_PAPERMILL_CELLS = ("papermill-error-cell-tag", "injected-parameters", "dap-parameters")
_ERROR_AT = re.compile(r"An Exception was encountered at .*?In \[(\d+)\]")
_CHART_MIMES = (
    "text/html",
    "application/javascript",
    "application/vnd.plotly.v1+json",
    "application/vnd.jupyter.widget-view+json",
)
_PLOTLY = "application/vnd.plotly.v1+json"
_WIDGET = "application/vnd.jupyter.widget-view+json"
_NOT_DRAWN = (
    "[a chart that cannot be shown in a static report: show it with "
    'pio.renderers.default = "plotly_mimetype+png"]'
)

# The lab template without anything fetched from a CDN (require.js, MathJax, mermaid, widgets).
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>.jp-InputArea pre, .jp-OutputArea pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.jp-RenderedImage img { max-width: 100%; height: auto; }</style>
{%- endblock extra_css -%}
"""


class OutputError(DapError):
    """A report that cannot be made as asked: an unknown format, an unreadable notebook."""

    code = "report_output_error"
    http_status = 400


@dataclass(frozen=True)
class FailedCell:
    """Where and why a run failed, as its owner reads it in an alert.

    ``index`` is the cell's position (from 0) in the owner's notebook: the cells papermill
    added (parameters, error banners) are not counted, so it points at the cell to fix.
    """

    index: int
    execution_count: int | None
    source: str
    ename: str
    evalue: str
    traceback: str


def render_outputs(
    executed: Path,
    formats: Sequence[str],
    out_dir: Path,
    *,
    title: str,
    chromium: str | None = None,
) -> dict[str, Path]:
    """Write the report files of an executed notebook into ``out_dir``; {format: file}.

    Each file appears complete or not at all (written beside, then renamed). Files are named
    after ``title`` (made safe as a file name). A PDF failure raises the renderer's
    :class:`~dap_kernel.export.errors.RenderError` (chromium missing or failing).
    """
    wanted = _formats(formats)
    nb = _read(executed)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _slug(title)
    made: dict[str, Path] = {}
    if "ipynb" in wanted:
        target = out_dir / f"{stem}.ipynb"
        with _atomic(target) as tmp:
            shutil.copyfile(executed, tmp)
        made["ipynb"] = target
    if "html" in wanted or "pdf" in wanted:
        page = report_html(nb, title=title, chromium=chromium)
        if "html" in wanted:
            target = out_dir / f"{stem}.html"
            with _atomic(target) as tmp:
                tmp.write_text(page, encoding="utf-8")
            made["html"] = target
        if "pdf" in wanted:
            from ..export.pdf import export_pdf_html

            made["pdf"] = export_pdf_html(
                page, out_dir / f"{stem}.pdf", title=title, overwrite=True, chromium=chromium
            )
    return {fmt: made[fmt] for fmt in wanted}


def report_html(nb: Any, *, title: str, chromium: str | None = None) -> str:
    """The report page of an executed notebook (an nbformat node): self-contained, no script."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    nb.metadata["title"] = title
    page = bool(nb.metadata.get("dap", {}).get(DASHBOARD_METADATA))
    _static_charts(nb, chromium, page=page)
    _parameters_table(nb)
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        # A dashboard's snapshot is its page as a viewer sees it: outputs only.
        exclude_input=page,
        exclude_input_prompt=page,
        exclude_output_prompt=page,
        template_file="dap_report.html.j2",
        extra_loaders=[DictLoader({"dap_report.html.j2": _TEMPLATE})],
        sanitize_html=True,
        embed_images=True,
        exclude_anchor_links=True,
        filters={"clean_html": clean_html},
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


def failed_cell(executed: Path) -> FailedCell | None:
    """The first cell that failed in an executed notebook, or None if none did.

    An error output marks it; else papermill's own marks (a cell flagged as the exception, or
    the "An Exception was encountered at In [n]" banner), e.g. when the kernel died.
    """
    nb = _read(executed)
    cells = list(_owner_cells(nb))
    for index, cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return _failed(index, cell, output)
    for index, cell in cells:
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return _failed(index, cell, None)
    count = _banner_count(nb)
    for index, cell in cells:
        if count is not None and cell.get("execution_count") == count:
            return _failed(index, cell, None)
    return None


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


# -- failure -------------------------------------------------------------------------------


def _owner_cells(nb: Any) -> Iterator[tuple[int, Any]]:
    """(index in the owner's notebook, cell) of the code cells, papermill's additions skipped."""
    index = -1
    for cell in nb.cells:
        if set(cell.get("metadata", {}).get("tags", [])) & set(_PAPERMILL_CELLS):
            continue
        index += 1
        if cell.get("cell_type") == "code":
            yield index, cell


def _banner_count(nb: Any) -> int | None:
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            found = _ERROR_AT.search(str(cell.get("source", "")))
            if found:
                return int(found.group(1))
    return None


def _failed(index: int, cell: Any, output: Any | None) -> FailedCell:
    if output is None:
        ename, evalue, trace = (
            "Error",
            "the run stopped in this cell (the kernel may have died)",
            "",
        )
    else:
        ename = strip_ansi(str(output.get("ename", "Error")))
        evalue = strip_ansi(str(output.get("evalue", "")))
        trace = strip_ansi("\n".join(str(t) for t in output.get("traceback", [])))
    return FailedCell(
        index=index,
        execution_count=cell.get("execution_count"),
        source=_head(str(cell.get("source", "")), SOURCE_LINES),
        ename=ename,
        evalue=evalue,
        traceback=_tail(trace, TRACEBACK_LINES),
    )


def _head(text: str, lines: int) -> str:
    rows = text.rstrip().splitlines()
    if len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join([*rows[:lines], f"… ({len(rows) - lines} more lines)"])


def _tail(text: str, lines: int) -> str:
    rows = text.rstrip().splitlines()
    if len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join([f"… ({len(rows) - lines} lines above)", *rows[-lines:]])


# -- the report page -----------------------------------------------------------------------


def _static_charts(nb: Any, chromium: str | None, *, page: bool = False) -> None:
    """Every chart output as a PNG: the PNG it has, one drawn from its plotly figure, or a
    line saying it cannot be shown (never an empty box where a script would have drawn).

    On a dashboard's ``page`` a widget is left out instead: it is the filter bar and the
    page's message channel, and the cards and charts are outputs of their own beside it."""
    to_draw: list[Any] = []
    for cell in nb.cells:
        if page and "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if _WIDGET not in o.get("data", {})]
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            if "image/png" in data:
                for mime in _CHART_MIMES:
                    data.pop(mime, None)
            elif _PLOTLY in data:
                to_draw.append(output)
            elif _WIDGET in data or _drawn_by_script(data.get("text/html", "")):
                output["data"] = {"text/plain": _NOT_DRAWN}
    if to_draw:
        _draw(to_draw, chromium)


def _drawn_by_script(value: Any) -> bool:
    """HTML that shows something only once its script ran: a plotly chart, or nothing left
    once the script is removed."""
    text = "".join(value) if isinstance(value, list) else str(value)
    lower = text.lower()
    return "<script" in lower and ("plotly" in lower or not clean_html(text).strip())


def _draw(outputs: list[Any], chromium: str | None) -> None:
    """Plotly figures (JSON) drawn to PNG with kaleido, one browser for all of them."""
    import base64

    import plotly.graph_objects as go

    from ..viz.images import to_images

    try:
        figures = [go.Figure(output["data"][_PLOTLY]) for output in outputs]
        images = to_images(figures, format="png", chromium=chromium)
    except (DapError, ValueError, RuntimeError, OSError):
        images = [b""] * len(outputs)
    for output, image in zip(outputs, images, strict=True):
        if image:
            output["data"] = {"image/png": base64.b64encode(image).decode("ascii")}
        else:
            output["data"] = {"text/plain": _NOT_DRAWN}


def _parameters_table(nb: Any) -> None:
    """A readable table of the run's parameters above papermill's injected-parameters cell
    (which stays: it is the code that ran)."""
    from nbformat.v4 import new_markdown_cell

    parameters = nb.metadata.get("papermill", {}).get("parameters") or {}
    where = next(
        (
            i
            for i, cell in enumerate(nb.cells)
            if "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        ),
        None,
    )
    if not parameters or where is None:
        return
    rows = "".join(
        f"<tr><td><code>{html.escape(str(name))}</code></td>"
        f"<td>{html.escape(_shown(value))}</td></tr>"
        for name, value in parameters.items()
    )
    table = f"<p><strong>Parameters of this run</strong></p>\n<table>{rows}</table>"
    cell = new_markdown_cell(table, metadata={"tags": ["dap-parameters"]})  # type: ignore[no-untyped-call]
    nb.cells.insert(where, cell)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


_TAGS = frozenset(
    {
        *("a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd"),
        *("del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2"),
        *("h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p"),
        *("pre", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table"),
        *("tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var"),
    }
)
_CELL_ATTRS = ("colspan", "rowspan", "align")
_DROPPED = re.compile(r"<(script|style|iframe|object|embed|template)\b.*?</\1\s*>", re.I | re.S)


def _attribute(tag: str, name: str, value: str) -> bool:
    """Which attributes survive: layout ones; links to the web; images only inline."""
    if name in ("class", "id", "title", "alt"):
        return True
    if tag in ("td", "th") and name in _CELL_ATTRS:
        return True
    if tag == "a" and name == "href":
        return value.startswith(("https://", "http://", "mailto:", "#"))
    if tag == "img" and name in ("width", "height"):
        return True
    return tag == "img" and name == "src" and value.startswith("data:image/")


_cleaner: Callable[[str], str] | None = None


def clean_html(element: Any) -> str:
    """Notebook HTML made safe to open anywhere: allowed tags and attributes only; scripts,
    styles and frames dropped with their content, other tags stripped to their text."""
    global _cleaner
    if _cleaner is None:
        import bleach

        _cleaner = bleach.Cleaner(
            tags=_TAGS,
            attributes=_attribute,
            protocols={"http", "https", "mailto", "data"},
            strip=True,
            strip_comments=True,
        ).clean
    text = element.decode() if isinstance(element, bytes) else str(element)
    return _cleaner(_DROPPED.sub("", text))


# -- files ---------------------------------------------------------------------------------


def _formats(formats: Sequence[str]) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    wanted: list[str] = []
    for fmt in formats:
        name = str(fmt).strip().lower()
        if name not in FORMATS:
            raise OutputError(
                f"unknown report format {str(fmt)[:40]!r}: choose among {', '.join(FORMATS)}"
            )
        if name not in wanted:
            wanted.append(name)
    if not wanted:
        raise OutputError(f"no report format given: choose among {', '.join(FORMATS)}")
    return wanted


def _read(executed: Path) -> Any:
    import nbformat

    try:
        return nbformat.read(executed, as_version=4)  # type: ignore[no-untyped-call]
    except FileNotFoundError:
        raise OutputError(f"no executed notebook at {executed}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:  # nbformat's errors are ValueErrors
        raise OutputError(f"{executed.name} is not a readable notebook: {_first_line(e)}") from e


def _slug(title: str) -> str:
    """A safe file name from a title: letters, digits, '-' and '_' only, never a path."""
    slug = re.sub(r"[^a-z0-9_]+", "-", title.strip().lower()).strip("-_")[:80].strip("-_")
    return slug or "report"


class _atomic:
    """A temporary file beside ``target``, renamed onto it only if the block succeeds."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp = target

    def __enter__(self) -> Path:
        fd, name = tempfile.mkstemp(
            dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".part"
        )
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            if kind is None:
                os.replace(self.tmp, self.target)
        finally:
            self.tmp.unlink(missing_ok=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
