"""The result grid's MIME bundle and page store: formats, nulls, first page only, handles."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.grid import MIME, ResultPages, result_bundle
from dap_kernel.grid import pages as pages_module
from dap_kernel.grid.bundle import PAGE_ROWS
from dap_kernel.grid.columns import column_view, float_decimals, json_page
from dap_kernel.grid.html import format_number
from dap_kernel.grid.pages import MAX_PAGE_ROWS, answer, frame_bundle, install
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace
from tests.payments import as_user


def money_frame(n: int = 1000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": list(range(n)),
            "revenue": [11_303_000.0 if i == 0 else round(i * 1.25, 2) for i in range(n)],
            "region": [None if i % 10 == 3 else ["EMEA", "AMER", "APAC"][i % 3] for i in range(n)],
        }
    )


def test_bundle_carries_the_first_page_only_and_counts_all_rows() -> None:
    frame = money_frame(1000)
    bundle = result_bundle(frame, "h1")
    data = bundle[MIME]
    assert data["row_count"] == 1000
    assert data["page_size"] == PAGE_ROWS == len(data["rows"])
    assert data["handle"] == "h1"
    assert data["rows"][0] == [0, 11303000.0, "EMEA"]
    # the saved bundle is small: the rest of the rows are not in it
    assert len(json.dumps(data)) < 20_000
    assert "999" not in {str(r[0]) for r in data["rows"]}


def test_a_wide_result_gets_fewer_rows_in_its_first_page() -> None:
    frame = pl.DataFrame({f"c{i}": list(range(500)) for i in range(400)})
    data = result_bundle(frame, None)[MIME]
    assert data["page_size"] == len(data["rows"]) == 50
    assert all(len(row) == 400 for row in data["rows"])


def test_columns_say_kind_type_decimals_and_grouping() -> None:
    frame = money_frame(50).with_columns(
        pl.Series("price", [Decimal("1234.50")] * 50, dtype=pl.Decimal(18, 2)),
        pl.Series("rate", [0.125] * 50),
        pl.Series("year", [2026] * 50),
        pl.Series("day", [dt.date(2026, 11, 3)] * 50),
        pl.Series("ok", [True] * 50),
    )
    columns = {c["name"]: c for c in result_bundle(frame, None)[MIME]["columns"]}
    assert columns["revenue"]["kind"] == "float" and columns["revenue"]["decimals"] == 2
    assert columns["revenue"]["grouped"] is True
    assert columns["price"]["kind"] == "decimal" and columns["price"]["decimals"] == 2
    assert columns["price"]["type"] == "Decimal(precision=18, scale=2)"
    assert columns["rate"]["decimals"] == 3
    assert columns["order_id"]["grouped"] is False and columns["year"]["grouped"] is False
    assert columns["region"]["kind"] == "string" and columns["region"]["nulls"] == 5
    assert columns["day"]["kind"] == "temporal" and columns["ok"]["kind"] == "bool"


def test_float_decimals_are_the_fewest_that_show_every_value() -> None:
    assert float_decimals(pl.Series([1.0, 2.0, 11303000.0])) == 0
    assert float_decimals(pl.Series([0.1 + 0.2, 1.5])) == 1
    assert float_decimals(pl.Series([1 / 3])) == 6
    assert float_decimals(pl.Series([None, float("nan")], dtype=pl.Float64)) == 0


def test_numbers_format_with_separators_and_never_scientific() -> None:
    assert format_number(11303000.0, 2) == "11,303,000.00"
    assert format_number(1.1303e7, 0) == "11,303,000"
    assert format_number(1e22, 0) == "10,000,000,000,000,000,000,000"
    assert format_number("12345678901234567890.10", 2) == "12,345,678,901,234,567,890.10"
    assert format_number(2026, 0, grouped=False) == "2026"
    assert format_number("NaN", 2) == "NaN"


def test_json_values_keep_exact_decimals_nulls_big_integers_and_nan() -> None:
    frame = pl.DataFrame(
        {
            "d": pl.Series([Decimal("0.10"), None], dtype=pl.Decimal(10, 2)),
            "big": [2**60, None],
            "f": [float("nan"), float("inf")],
            "t": [dt.datetime(2026, 11, 3, 14, 5), None],
            "s": ["null", None],
        }
    )
    rows = json_page(frame)
    assert rows[0] == ["0.10", str(2**60), "NaN", "2026-11-03 14:05:00", "null"]
    assert rows[1] == [None, None, "Infinity", None, None]
    json.dumps(rows, allow_nan=False)  # valid JSON: no NaN literal


def test_html_fallback_is_formatted_escaped_and_shows_null_distinctly() -> None:
    frame = pl.DataFrame(
        {"revenue": [11_303_000.0, 12.25], "name": ["<b>x</b>", None]},
    )
    page = result_bundle(frame, None)["text/html"]
    assert "11,303,000.00" in page and "12.25" in page
    assert "1.1303e7" not in page and "e+07" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert 'class="dap-null"' in page
    assert "Float64" in page and "<svg" in page
    assert "2 rows" in page


def test_sparklines_are_histograms_for_numbers_and_top_values_for_text() -> None:
    frame = money_frame(1000)
    numbers = column_view(frame["revenue"]).sparkline
    assert numbers is not None and numbers["kind"] == "histogram"
    assert sum(numbers["counts"]) == 1000 and len(numbers["counts"]) == 16
    text = column_view(frame["region"]).sparkline
    assert text is not None and text["kind"] == "top"
    assert {label for label, _ in text["values"]} == {"EMEA", "AMER", "APAC"}
    assert sum(n for _, n in text["values"]) + text["other"] == 900  # nulls not counted


def test_pages_are_served_by_handle_and_sorted_over_all_rows() -> None:
    pages = ResultPages()
    frame = money_frame(1000)
    handle = pages.register(frame)
    page = pages.page(handle, 500, 3)
    assert page["rows"] == json_page(frame.slice(500, 3)) and page["row_count"] == 1000
    top = pages.page(handle, 0, 2, [{"column": 1, "desc": True}])
    assert top["rows"][0][1] == 11303000.0  # the largest of all 1,000, not of a page
    assert top["rows"][1][1] == 1248.75
    by_region = pages.page(handle, 995, 5, [{"column": 2, "desc": False}])
    assert [r[2] for r in by_region["rows"]] == [None] * 5  # nulls last
    large = pages.register(money_frame(MAX_PAGE_ROWS + 10))
    assert len(pages.page(large, 0, 10**9)["rows"]) == MAX_PAGE_ROWS


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "page", "handle": "nope", "offset": 0, "limit": 10},
        {"op": "page", "handle": None, "offset": 0, "limit": 10},
        {"op": "page", "offset": -1, "limit": 10},
        {"op": "page", "offset": "0", "limit": 10},
        {"op": "page", "offset": 0, "limit": 10, "sort": [{"column": 9}]},
        {"op": "page", "offset": 0, "limit": 10, "sort": [{"column": 0, "desc": "yes"}]},
        {"op": "page", "offset": 0, "limit": 10, "sort": [{"column": 0, "sql": "x"}]},
        {"op": "drop", "offset": 0},
        "not an object",
    ],
)
def test_malformed_or_unknown_requests_get_an_error_and_no_rows(request_: Any) -> None:
    pages = ResultPages()
    handle = pages.register(money_frame(10))
    if isinstance(request_, dict):
        request_ = {"id": 7, "handle": handle, **request_}
    reply = answer(pages, request_)
    assert reply["ok"] is False and "rows" not in reply and reply["error"]


def test_results_expire_oldest_first_and_after_their_age() -> None:
    pages = ResultPages(keep=2)
    first, second, third = (pages.register(money_frame(5)) for _ in range(3))
    assert first not in pages and second in pages and third in pages
    aged = ResultPages(max_age=0.0)
    handle = aged.register(money_frame(5))
    reply = answer(aged, {"id": 1, "op": "page", "handle": handle, "offset": 0, "limit": 1})
    assert reply == {"id": 1, "ok": False, "error": "this result has expired: run the cell again"}


def test_csv_download_comes_in_chunks_of_whole_lines_with_one_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pages_module, "CSV_CHUNK_BYTES", 100)
    pages = ResultPages()
    frame = money_frame(50)
    handle = pages.register(frame)
    sort = [{"column": 1, "desc": True}]
    parts, offset = [], 0
    while offset is not None:
        reply = answer(
            pages, {"id": 2, "op": "csv", "handle": handle, "offset": offset, "sort": sort}
        )
        assert reply["ok"] and reply["csv"].endswith("\n")
        parts.append(reply["csv"])
        offset = reply["next"]
    assert len(parts) > 3
    assert "".join(parts) == frame.sort("revenue", descending=True).write_csv()
    again = answer(pages, {"id": 3, "op": "csv", "handle": handle, "offset": 7})
    assert again == {"id": 3, "ok": False, "error": "the download was interrupted: start it again"}


def test_a_download_is_an_audited_export_of_the_callers_rows(
    governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dap_kernel
    from dap_kernel.local import LocalClient
    from tests.kernel.test_audit_changes import newest

    ann = as_user(governed, "ann", channel="magic")
    monkeypatch.setattr(dap_kernel._client, "connect", lambda channel="python": LocalClient(ann))
    frame = ann.sql("SELECT customer_id, email FROM main.customers")
    pages = ResultPages(exporter=dap_kernel._audited_download)
    handle = pages.register(frame)
    reply = answer(pages, {"id": 1, "op": "csv", "handle": handle, "offset": 0})
    assert reply["ok"] and reply["next"] is None
    assert reply["csv"].count("\n") == frame.height + 1
    record = newest(governed, "export")
    assert (record.principal, record.decision, record.row_count) == ("ann", "allowed", frame.height)


def test_a_refused_download_says_why_in_one_line() -> None:
    from dap_kernel.errors import QueryRefused

    def refuse(frame: pl.DataFrame, path: Any) -> None:
        raise QueryRefused("exports are not allowed here")

    def crash(frame: pl.DataFrame, path: Any) -> None:
        raise RuntimeError("/secret/path internal detail")

    for exporter, message in (
        (refuse, "exports are not allowed here"),
        (crash, "the download failed"),
    ):
        pages = ResultPages(exporter=exporter)
        handle = pages.register(money_frame(5))
        reply = answer(pages, {"id": 1, "op": "csv", "handle": handle, "offset": 0})
        assert reply == {"id": 1, "ok": False, "error": message}


def test_a_shell_shows_frames_through_the_grid_with_a_handle_only_when_paged() -> None:
    shell = InteractiveShell.instance()
    try:
        install(shell)
        small, _ = shell.display_formatter.format(money_frame(10))
        assert MIME in small and small[MIME]["handle"] is None  # no kernel, nothing to page
        assert "shape: (10, 3)" in small["text/plain"]  # the plain form stays polars'
        big = frame_bundle(money_frame(1000), served=True)
        assert big[MIME]["handle"] and len(big[MIME]["rows"]) == PAGE_ROWS
    finally:
        InteractiveShell.clear_instance()


def test_a_governed_result_shows_masked_values_and_only_rows_the_caller_may_see(
    governed: Workspace,
) -> None:
    """The bundle is a copy saved in the notebook: ann's masked emails stay masked in it
    (rows, HTML, sparkline), and APAC customers she may not see are not in it."""
    raw = governed.session().sql("SELECT email, region FROM main.customers")
    shell = InteractiveShell.instance()
    try:
        shell.register_magics(
            DapMagics(shell=shell, session_factory=lambda: as_user(governed, "ann"))
        )
        install(shell)
        frame = shell.run_line_magic("dap", "sql SELECT email, region FROM main.customers")
        bundle, _ = shell.display_formatter.format(frame)
    finally:
        InteractiveShell.clear_instance()
    text = json.dumps(bundle[MIME]) + bundle["text/html"]
    emails = {e for e in raw["email"].to_list() if e}
    assert emails and not [e for e in emails if e in text]
    assert {row[1] for row in bundle[MIME]["rows"]} == {"EMEA"}
    assert "APAC" not in text


def test_dap_sql_in_a_notebook_turns_the_grid_on() -> None:
    import dap_kernel

    shell = InteractiveShell.instance()
    try:
        dap_kernel._grid_in_notebook()
        bundle, _ = shell.display_formatter.format(money_frame(3))
        assert MIME in bundle
    finally:
        InteractiveShell.clear_instance()


def test_columns_named_like_polars_helper_columns_are_shown() -> None:
    frame = pl.DataFrame({"count": [1, 2, 2], "n": ["a", "b", "b"], "bin": [0.5, 1.5, 2.5]})
    data = result_bundle(frame, None)[MIME]
    assert [c["sparkline"]["kind"] for c in data["columns"]] == ["histogram", "top", "histogram"]
    assert data["columns"][1]["sparkline"]["values"][0] == ("b", 2)


def test_a_frame_the_grid_cannot_show_falls_back_to_polars_own_forms() -> None:
    class Odd(pl.DataFrame):
        def iter_columns(self):  # type: ignore[override]
            raise RuntimeError("boom")

    assert frame_bundle(Odd({"a": [1]})) == {}


def test_a_large_column_is_judged_by_an_even_sample_not_by_its_head() -> None:
    from dap_kernel.grid.columns import STATS_ROWS

    ordered = pl.Series("n", range(4 * STATS_ROWS))  # sorted: its head is all small numbers
    spark = column_view(ordered).sparkline
    assert spark is not None and spark["sampled"] is True
    assert spark["max"] == str(4 * STATS_ROWS - 1)  # the true extremes, not the sample's
    counts = spark["counts"]
    assert max(counts) - min(counts) <= 1  # flat, as the whole column is
