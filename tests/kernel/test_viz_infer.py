"""Choosing a chart from the column types: the kind and the columns, when the caller names
neither, and the columns a named kind leaves out."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from dap_kernel.viz import chart, infer_kind
from tests.kernel.test_viz import DAILY, SALES, meta, ys


@pytest.mark.parametrize(
    ("frame", "x", "y", "expected"),
    [
        (DAILY, None, None, ("line", "day", "visits")),
        (SALES.select("region", "revenue"), None, None, ("bar", "region", "revenue")),
        (SALES, None, None, ("heatmap", "region", "segment")),
        (SALES.select("revenue", "orders"), None, None, ("scatter", "revenue", "orders")),
        (SALES.select("revenue"), None, None, ("histogram", "revenue", None)),
        (pl.DataFrame({"total": [3.5]}), None, None, ("kpi", None, "total")),
        (pl.DataFrame({"total": [3.5]}), None, "total", ("kpi", None, "total")),
        (SALES.head(1).select("region", "revenue"), None, None, ("bar", "region", "revenue")),
        (SALES.select("segment"), None, None, ("bar", "segment", None)),
        (SALES, "region", None, ("bar", "region", "revenue")),
        (SALES, "revenue", None, ("histogram", "revenue", None)),
        (SALES, "orders", "revenue", ("scatter", "orders", "revenue")),
        (SALES, "region", "segment", ("heatmap", "region", "segment")),
        (SALES, "revenue", "region", ("box", "region", "revenue")),
        (SALES, None, "revenue", ("bar", "region", "revenue")),
        (DAILY, None, "visits", ("line", "day", "visits")),
        (DAILY, "day", None, ("line", "day", "visits")),
        (SALES, "region", ["revenue", "orders"], ("bar", "region", ["revenue", "orders"])),
    ],
)
def test_infer_kind(frame: pl.DataFrame, x: str | None, y: Any, expected: tuple[Any, ...]) -> None:
    assert infer_kind(frame, x, y) == expected


def test_inferred_chart_uses_the_inferred_columns() -> None:
    figure = chart(SALES.select("region", "revenue"))
    assert meta(figure)["kind"] == "bar"
    assert ys(figure.data[0]) == [34.0, 12.5, 5.0]


def test_a_named_kind_gets_the_columns_it_leaves_out_as_inference_chooses_them() -> None:
    """``chart(sql, "bar")`` is a bar of the first label column against the first number (it
    failed with "a bar chart needs x=": a named kind turned inference off)."""
    frame = SALES.select("region", "revenue")
    bar = chart(frame, "bar")
    assert (meta(bar)["x"], meta(bar)["y"]) == ("region", "revenue")
    assert ys(bar.data[0]) == ys(chart(frame).data[0])
    pie = chart(frame, "pie")
    assert meta(pie)["x"] == "region" and meta(pie)["y"] == "revenue"
    histogram = chart(frame, "histogram")
    assert meta(histogram)["x"] == "revenue"  # of the number, not of the labels
    named = chart(frame, "bar", y="revenue")  # what is named is kept
    assert meta(named)["x"] == "region"
    counted = chart(frame, "bar", x="region")  # a named x alone: rows counted, as before
    assert meta(counted)["y"] is None and ys(counted.data[0]) == [2, 2, 1]
