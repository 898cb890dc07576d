"""What people see of the catalog: ``dap catalog show``, ``%dap describe`` and ``%dap catalog``
print designed tables (aligned, thousands separators, ≈ for estimates, descriptions wrapped at
word boundaries, every value escaped) and stay usable as data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.catalog.views import TableDescription, TableListing
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"
LONG = (
    "Every order line with its product, the quantity bought, the unit price at the time of the "
    "order and the discount granted; revenue is quantity times unit price times one minus discount"
)


def build(ws: Workspace) -> None:
    n = 12_345
    frame = pl.DataFrame(
        {
            "line_id": list(range(n)),
            "sku": [f"sku-{i % 250:03d}" for i in range(n)],
            "note": ["<b>[bold]x</b>" if i % 2 else None for i in range(n)],
        }
    )
    ws.catalog.create_table(
        "main.lines",
        frame,
        description="Order lines <with> markup & [brackets]",
        owner="olga",
        tags=["retail", "fact"],
        column_descriptions={"line_id": "Line key", "sku": LONG},
        column_tags={"sku": ["product"]},
    )


@pytest.fixture
def exact(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(Settings(home=tmp_path / "exact", user="tester"))
    build(ws)
    yield ws
    ws.close()


@pytest.fixture
def estimated(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(Settings(home=tmp_path / "estimated", user="tester", exact_distinct_rows=1000))
    build(ws)
    yield ws
    ws.close()


def describe(ws: Workspace) -> TableDescription:
    return TableDescription(ws.session().describe("lines"))


def test_the_text_is_a_designed_table(exact: Workspace) -> None:
    text = describe(exact).text(width=120)
    lines = text.splitlines()
    assert lines[0] == "main.lines · delta · 12,345 rows · version 0"
    assert lines[1] == "Order lines <with> markup & [brackets]"  # printed, not interpreted
    assert lines[2] == "owner olga · tags retail, fact"
    # No frame dump: no dtype row, no quoted strings, no box of ┆.
    assert not re.search(r"\bstr\b|\bi64\b|┆|\"sku-", text)
    header = next(line for line in lines if line.startswith("column"))
    assert header.split() == [
        "column",
        "type",
        "nulls",
        "distinct",
        "min",
        "max",
        "tags",
        "description",
    ]
    row = next(line for line in lines if line.startswith("line_id"))
    assert row.split()[:6] == ["line_id", "BIGINT", "0", "12,345", "0", "12344"]
    # Counts are right-aligned under their header.
    assert row.index("12,345") + len("12,345") == header.index("distinct") + len("distinct")
    note = next(line for line in lines if line.startswith("note"))
    assert "6,173" in note and "<b>[bold]x</b>" in note
    # The long description is wrapped at word boundaries: every word whole, in order.
    assert whole_words_in_order(LONG, text)
    assert "≈" not in text and "not shown to you" not in text


def whole_words_in_order(sentence: str, text: str) -> bool:
    tokens = iter(text.split())
    return all(any(token == word for token in tokens) for word in sentence.split())


def test_narrow_terminals_get_descriptions_below_and_values_cut(exact: Workspace) -> None:
    text = describe(exact).text(width=70)
    assert max(len(line) for line in text.splitlines()) <= 75
    described = text.split("\n\n")[-1]
    assert described.splitlines()[0].split() == ["column", "description"]
    assert "Line key" in described and whole_words_in_order(LONG, described)


def test_estimates_are_marked_in_text_html_and_data(estimated: Workspace) -> None:
    view = describe(estimated)
    assert view.estimated
    row = next(line for line in view.text().splitlines() if line.startswith("line_id"))
    assert re.search(r"≈1[12],\d{3}", row)
    assert "estimated distinct count (HyperLogLog)" in view.text()
    page = view._repr_html_()
    assert re.search(r"<td[^>]*title=\"estimated \(HyperLogLog\)\">≈1[12],\d{3}</td>", page)
    frame = view.to_frame()
    assert frame["distinct_approx"].to_list() == [True, True, True]
    assert frame["distinct"].to_list()[2] == 1  # one distinct note, estimated all the same


def test_the_cli_shows_estimates_with_the_mark(estimated: Workspace) -> None:
    home = estimated.settings.home
    shown = subprocess.run(
        [DAP, "catalog", "show", "lines"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
        | {"DAP_HOME": str(home), "DAP_USER": "tester", "COLUMNS": "100"},
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "≈" in shown.stdout and "12,345 rows" in shown.stdout
    assert "┆" not in shown.stdout and max(len(x) for x in shown.stdout.splitlines()) <= 100


def test_html_is_escaped_and_formatted(exact: Workspace) -> None:
    page = describe(exact)._repr_html_()
    assert "<b>[bold]x</b>" not in page and "&lt;b&gt;[bold]x&lt;/b&gt;" in page
    assert "Order lines &lt;with&gt; markup &amp; [brackets]" in page
    assert "12,345 rows" in page and ">12,345</td>" in page and ">6,173</td>" in page
    assert "<code>BIGINT</code>" in page and ">product</span>" in page
    assert LONG in page  # never cut
    listing = TableListing(tuple(exact.session().visible_tables()))
    html = listing._repr_html_()
    assert "<b>main.lines</b>" in html and ">12,345</td>" in html and "1 table" in html
    assert listing.frame["rows"].to_list() == [12_345]


def test_the_magics_return_designed_objects_that_are_still_data(exact: Workspace) -> None:
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=exact.session))
    try:
        described = ip.run_line_magic("dap", "describe lines")
        listed = ip.run_line_magic("dap", "catalog fact")
        formats, _ = ip.display_formatter.format(described)
        listed_formats, _ = ip.display_formatter.format(listed)
    finally:
        InteractiveShell.clear_instance()
    assert isinstance(described, TableDescription) and isinstance(listed, TableListing)
    assert "<table" in formats["text/html"] and "12,345" in formats["text/html"]
    assert formats["text/plain"].startswith("main.lines · delta · 12,345 rows")
    assert "main.lines" in listed_formats["text/html"]
    assert "1 table matching 'fact'" in listed_formats["text/plain"]
    assert described["column"].to_list() == ["line_id", "sku", "note"]
    assert described.frame.columns == [
        "column",
        "type",
        "nulls",
        "distinct",
        "distinct_approx",
        "min",
        "max",
        "tags",
        "description",
    ]
    assert [c.name for c in described] == ["line_id", "sku", "note"] and len(described) == 3
    assert listed["table"].to_list() == ["main.lines"] and len(listed) == 1
    assert listed.to_frame().schema["rows"] == pl.Int64


def test_an_empty_listing_says_so(exact: Workspace) -> None:
    empty = TableListing((), term="nothing")
    assert empty.text() == "no tables matching 'nothing'"
    assert "0 tables matching" in empty._repr_html_()
