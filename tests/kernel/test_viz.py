"""dap.chart: every kind draws the expected numbers, kinds are inferred, errors are one line."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pyarrow as pa
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import dap_kernel
from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.viz import CHART_TYPES, ChartError, chart, chart_type, to_image

SALES = pl.DataFrame(
    {
        "region": ["EMEA", "AMER", "APAC", "EMEA", "AMER"],
        "segment": ["retail", "retail", "retail", "b2b", "b2b"],
        "revenue": [10.0, 30.0, 5.0, 2.5, 4.0],
        "orders": [1, 3, 1, 1, 2],
    }
)
DAYS = [date(2024, 1, d) for d in (3, 1, 2, 1)]
DAILY = pl.DataFrame(
    {"day": DAYS, "visits": [30, 10, 20, 5], "channel": ["web", "web", "web", "app"]}
)


def meta(figure: go.Figure) -> dict[str, Any]:
    dap: dict[str, Any] = figure.layout.meta["dap"]
    return dap


def xs(trace: Any) -> list[Any]:
    return list(trace.x)


def ys(trace: Any) -> list[Any]:
    return list(trace.y)


# -- kinds --------------------------------------------------------------------------------------


def test_bar_sums_rows_per_category_biggest_first() -> None:
    figure = chart(SALES, "bar", x="region", y="revenue")
    (trace,) = figure.data
    assert trace.type == "bar"
    assert xs(trace) == ["AMER", "EMEA", "APAC"]
    assert ys(trace) == [34.0, 12.5, 5.0]
    assert list(figure.layout.xaxis.categoryarray) == ["AMER", "EMEA", "APAC"]
    assert figure.layout.title.text == "revenue by region"
    assert meta(figure) == {"kind": "bar", "x": "region", "y": "revenue", "color": None, "rows": 5}


def test_bar_folds_categories_beyond_top_into_other() -> None:
    frame = pl.DataFrame({"sku": [f"s{i:02d}" for i in range(35)], "units": list(range(35))})
    trace = chart(frame, "bar", x="sku", y="units").data[0]
    assert len(trace.x) == 31
    assert xs(trace)[:2] == ["s34", "s33"]
    assert xs(trace)[-1] == "other"
    assert ys(trace)[-1] == sum(range(5))  # s00..s04
    assert sum(ys(trace)) == sum(range(35))
    assert len(chart(frame, "bar", x="sku", y="units", top=None).data[0].x) == 35


def test_bar_with_color_counts_and_orientation() -> None:
    figure = chart(SALES, "bar", x="region", y="revenue", color="segment", barmode="stack")
    by_name = {t.name: dict(zip(t.x, t.y, strict=True)) for t in figure.data}
    assert by_name == {
        "b2b": {"AMER": 4.0, "EMEA": 2.5},
        "retail": {"AMER": 30.0, "EMEA": 10.0, "APAC": 5.0},
    }
    assert figure.layout.barmode == "stack"
    counted = chart(SALES, "bar", x="segment").data[0]
    assert (xs(counted), ys(counted), counted.name) == (["retail", "b2b"], [3, 2], "count")
    horizontal = chart(SALES, "bar", x="region", y="revenue", orientation="h")
    assert horizontal.data[0].orientation == "h"
    assert ys(horizontal.data[0]) == ["AMER", "EMEA", "APAC"]
    assert xs(horizontal.data[0]) == [34.0, 12.5, 5.0]
    assert horizontal.layout.yaxis.autorange == "reversed"


def test_bar_of_numeric_x_keeps_x_order() -> None:
    frame = pl.DataFrame({"year": [2025, 2023, 2024], "n": [1, 9, 5]})
    trace = chart(frame, "bar", x="year", y="n").data[0]
    assert (xs(trace), ys(trace)) == ([2023, 2024, 2025], [9, 5, 1])


def test_line_is_sorted_aggregated_and_split_by_color() -> None:
    figure = chart(DAILY, "line", x="day", y="visits")
    (trace,) = figure.data
    assert trace.mode == "lines"
    assert xs(trace) == [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]
    assert ys(trace) == [15, 20, 30]
    split = {t.name: ys(t) for t in chart(DAILY, "line", x="day", y="visits", color="channel").data}
    assert split == {"app": [5], "web": [10, 20, 30]}
    two = chart(SALES.with_row_index("i"), "line", x="i", y=["revenue", "orders"])
    assert [t.name for t in two.data] == ["revenue", "orders"]
    assert ys(two.data[1]) == [1, 3, 1, 1, 2]


def test_area_stacks() -> None:
    figure = chart(DAILY, "area", x="day", y="visits", color="channel")
    assert {t.stackgroup for t in figure.data} == {"one"}
    assert [t.name for t in figure.data] == ["app", "web"]


def test_line_beyond_max_points_is_thinned_with_a_note() -> None:
    start = datetime(2024, 1, 1)
    frame = pl.DataFrame(
        {"ts": [start + timedelta(minutes=i) for i in range(1000)], "v": list(range(1000))}
    )
    figure = chart(frame, "line", x="ts", y="v", max_points=100, title="load")
    trace = figure.data[0]
    assert len(trace.y) == 100
    assert ys(trace)[:3] == [0, 10, 20]  # every 10th point, in order
    assert figure.layout.title.text == "load (sampled 100 of 1,000 points)"
    assert meta(figure)["sampled"] == {"kept": 100, "total": 1000}
    assert len(chart(frame, "line", x="ts", y="v").data[0].y) == 1000


def test_scatter_points_colors_sizes_and_sampling() -> None:
    figure = chart(SALES, "scatter", x="orders", y="revenue")
    assert (xs(figure.data[0]), ys(figure.data[0])) == (
        [1, 3, 1, 1, 2],
        [10.0, 30.0, 5.0, 2.5, 4.0],
    )
    assert figure.data[0].mode == "markers"
    grouped = chart(SALES, "scatter", x="orders", y="revenue", color="segment")
    assert {t.name: ys(t) for t in grouped.data} == {"b2b": [2.5, 4.0], "retail": [10.0, 30.0, 5.0]}
    shaded = chart(SALES, "scatter", x="orders", y="revenue", color="revenue", size="orders")
    marker = shaded.data[0].marker
    assert list(marker.color) == [10.0, 30.0, 5.0, 2.5, 4.0] and marker.showscale
    assert list(marker.size) == [1, 3, 1, 1, 2]
    big = pl.DataFrame({"a": list(range(5000)), "b": [i * 2 for i in range(5000)]})
    sampled = chart(big, "scatter", x="a", y="b", max_points=500)
    points = list(zip(sampled.data[0].x, sampled.data[0].y, strict=True))
    assert len(points) == 500 and len(set(points)) == 500
    assert all(b == 2 * a for a, b in points)  # real rows, not invented ones
    assert "(sampled 500 of 5,000 points)" in sampled.layout.title.text


def test_long_series_are_numpy_arrays_with_the_same_values() -> None:
    n = 25_000
    frame = pl.DataFrame(
        {
            "ts": pl.datetime_range(
                datetime(2024, 1, 1),
                datetime(2024, 1, 1) + timedelta(seconds=n - 1),
                "1s",
                eager=True,
            ),
            "v": [float(i % 97) for i in range(n)],
        }
    )
    line = chart(frame, "line", x="ts", y="v").data[0]
    assert isinstance(line.y, np.ndarray) and line.y.tolist() == frame["v"].to_list()
    assert line.x[0] == np.datetime64("2024-01-01T00:00:00")
    dots = chart(frame.with_row_index("i"), "scatter", x="i", y="v")
    assert type(dots.data[0]).__name__ == "Scattergl"  # WebGL beyond 20k points
    assert dots.data[0].y.tolist() == frame["v"].to_list()


def test_scatter_hover_columns() -> None:
    trace = chart(SALES, "scatter", x="orders", y="revenue", hover="region").data[0]
    assert [row[0] for row in trace.customdata] == SALES["region"].to_list()
    assert "region=%{customdata[0]}" in trace.hovertemplate


def test_histogram_box_values() -> None:
    hist = chart(SALES, "histogram", x="revenue", nbins=5)
    assert hist.data[0].type == "histogram"
    assert xs(hist.data[0]) == [10.0, 30.0, 5.0, 2.5, 4.0]
    assert hist.data[0].nbinsx == 5
    summed = chart(SALES, "histogram", x="region", y="orders").data[0]
    assert summed.histfunc == "sum" and ys(summed) == [1, 3, 1, 1, 2]
    boxes = chart(SALES, "box", x="segment", y="revenue")
    assert xs(boxes.data[0]) == ["retail", "retail", "retail", "b2b", "b2b"]
    assert ys(boxes.data[0]) == [10.0, 30.0, 5.0, 2.5, 4.0]
    per_color = chart(SALES, "box", y="revenue", color="segment")
    assert {t.name: ys(t) for t in per_color.data} == {
        "b2b": [2.5, 4.0],
        "retail": [10.0, 30.0, 5.0],
    }


def test_heatmap_matrix() -> None:
    figure = chart(SALES, "heatmap", x="region", y="segment", z="revenue")
    trace = figure.data[0]
    assert list(trace.x) == ["AMER", "APAC", "EMEA"]
    assert list(trace.y) == ["b2b", "retail"]
    assert [list(row) for row in trace.z] == [[4.0, None, 2.5], [30.0, 5.0, 10.0]]
    assert meta(figure)["z"] == "revenue"
    counts = chart(SALES.select("region", "segment"), "heatmap", x="region", y="segment")
    assert [list(row) for row in counts.data[0].z] == [[1, None, 1], [1, 1, 1]]
    by_color = chart(SALES, "heatmap", x="region", y="segment", color="orders")
    assert [list(row) for row in by_color.data[0].z] == [[2, None, 1], [3, 1, 1]]


def test_pie_and_funnel() -> None:
    pie = chart(SALES, "pie", x="region", y="revenue", top=2, hole=0.4).data[0]
    assert list(pie.labels) == ["AMER", "EMEA", "other"]
    assert list(pie.values) == [34.0, 12.5, 5.0]
    assert pie.hole == 0.4
    steps = pl.DataFrame(
        {"stage": ["visit", "cart", "checkout", "visit"], "users": [900, 300, 120, 100]}
    )
    funnel = chart(steps, "funnel", x="stage", y="users").data[0]
    assert list(funnel.y) == ["visit", "cart", "checkout"]  # the data's order, not sorted
    assert list(funnel.x) == [1000, 300, 120]


def test_waterfall_adds_a_total() -> None:
    bridge = pl.DataFrame({"step": ["start", "sales", "returns"], "amount": [100, 40, -15]})
    trace = chart(bridge, "waterfall", x="step", y="amount").data[0]
    assert list(trace.x) == ["start", "sales", "returns", "Total"]
    assert list(trace.y) == [100, 40, -15, 125]
    assert list(trace.measure) == ["relative", "relative", "relative", "total"]
    given = bridge.with_columns(pl.Series("m", ["absolute", "relative", "relative"]))
    trace = chart(given, "waterfall", x="step", y="amount", measure="m").data[0]
    assert list(trace.measure) == ["absolute", "relative", "relative"]
    assert list(trace.x) == ["start", "sales", "returns"]
    with pytest.raises(
        ChartError, match="column 'step' has 'returns', 'sales', 'start'; use relative"
    ):
        chart(bridge, "waterfall", x="step", y="amount", measure="step")


def test_kpi_from_one_row_and_from_a_series() -> None:
    tile = chart(
        pl.DataFrame({"revenue": [120.0], "last_month": [100.0]}),
        "kpi",
        y="revenue",
        reference="last_month",
    )
    (indicator,) = tile.data
    assert indicator.type == "indicator" and indicator.mode == "number+delta"
    assert (indicator.value, indicator.delta.reference, indicator.delta.relative) == (
        120.0,
        100.0,
        True,
    )
    series = chart(DAILY, "kpi", x="day", y="visits", title="Visits")
    indicator, trend = series.data
    assert (indicator.value, indicator.delta.reference) == (30, 20)
    assert ys(trend) == [15, 20, 30] and trend.type == "scatter"
    assert series.layout.title.text == "Visits"
    plain = chart(pl.DataFrame({"n": [7]}))
    assert meta(plain)["kind"] == "kpi"
    assert plain.data[0].mode == "number" and plain.data[0].value == 7
    lower = chart(DAILY, "kpi", x="day", y="visits", lower_is_better=True, relative=False)
    assert lower.data[0].delta.increasing.color == "#ef4444"
    assert lower.data[0].delta.relative is False


def test_cohort_from_counts() -> None:
    counts = pl.DataFrame(
        {
            "cohort": ["2024-01", "2024-01", "2024-01", "2024-02", "2024-02"],
            "period": [0, 1, 2, 0, 1],
            "users": [200, 100, 50, 80, 20],
        }
    )
    figure = chart(counts, "cohort")
    trace = figure.data[0]
    assert list(trace.x) == [0, 1, 2] and list(trace.y) == ["2024-01", "2024-02"]
    assert [list(r) for r in trace.z] == [[1.0, 0.5, 0.25], [1.0, 0.25, None]]
    assert [list(r) for r in trace.customdata] == [[200, 100, 50], [80, 20, None]]
    assert meta(figure)["kind"] == "cohort" and meta(figure)["x"] == "period"
    renamed = counts.rename({"cohort": "month", "period": "age", "users": "n"})
    again = chart(renamed, "cohort", cohort="month", period="age", value="n").data[0]
    assert [list(r) for r in again.z] == [list(r) for r in trace.z]


def test_cohort_from_activity_rows() -> None:
    activity = pl.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3, 3, 4],
            "seen_at": [
                datetime(2024, 1, 3),
                datetime(2024, 2, 9),
                datetime(2024, 1, 20),
                datetime(2024, 3, 1),
                datetime(2024, 2, 2),
                datetime(2024, 3, 5),
                datetime(2024, 2, 28),
            ],
        }
    )
    trace = chart(activity, "cohort", user="user_id", time="seen_at").data[0]
    assert list(trace.y) == ["2024-01", "2024-02"]
    assert list(trace.x) == [0, 1, 2]
    # Jan: users 1, 2 at 0; 1 at +1; 2 at +2. Feb: users 3, 4 at 0; 3 at +1.
    assert [list(r) for r in trace.customdata] == [[2, 1, 1], [2, 1, None]]
    assert [list(r) for r in trace.z] == [[1.0, 0.5, 0.5], [1.0, 0.5, None]]
    weekly = chart(activity, "cohort", user="user_id", time="seen_at", grain="week").data[0]
    assert weekly.y[0] == "2024-01-01"  # the Monday of the first week
    signed_up = activity.with_columns(
        pl.when(pl.col("user_id") == 3)
        .then(pl.lit(date(2024, 1, 15)))
        .otherwise(pl.col("seen_at").min().over("user_id").dt.date())
        .alias("signup")
    )
    by_signup = chart(signed_up, "cohort", user="user_id", time="seen_at", first_seen="signup")
    # user 3 moves to the January cohort, active at +1 and +2
    assert [list(r) for r in by_signup.data[0].customdata] == [[2, 2, 2], [1, None, None]]
    with pytest.raises(ChartError, match="unknown grain 'fortnight'"):
        chart(activity, "cohort", user="user_id", time="seen_at", grain="fortnight")
    with pytest.raises(ChartError, match="a cohort chart takes either counts"):
        chart(activity, "cohort")


# -- registry, look, errors -------------------------------------------------------------------


@pytest.fixture
def custom_kind() -> Iterator[str]:
    name = "dots_test"

    @chart_type(name)
    def dots(
        frame: pl.DataFrame, *, x: Any, y: Any, color: Any, title: Any, **options: Any
    ) -> go.Figure:
        return go.Figure(
            go.Scatter(x=frame[x].to_list(), y=[options.get("level", 1)] * frame.height)
        )

    yield name
    CHART_TYPES.pop(name, None)


def test_custom_chart_type(custom_kind: str) -> None:
    figure = dap_kernel.chart(SALES, custom_kind, x="region", level=3)
    assert xs(figure.data[0]) == SALES["region"].to_list()
    assert ys(figure.data[0]) == [3] * 5
    assert meta(figure)["kind"] == custom_kind
    assert figure.layout.title.text == "count by region"
    assert figure.layout.autosize is True
    with pytest.raises(ChartError, match=f"chart type '{custom_kind}' is already registered"):
        chart_type(custom_kind)(lambda frame, **kw: go.Figure())
    chart_type(custom_kind, replace=True)(lambda frame, **kw: go.Figure(go.Bar(x=[1], y=[2])))
    assert chart(SALES, custom_kind, x="region").data[0].type == "bar"


def test_custom_chart_type_must_return_a_figure() -> None:
    chart_type("broken_test")(lambda frame, **kw: {"data": []})
    try:
        with pytest.raises(ChartError, match="returned dict, not a plotly Figure"):
            chart(SALES, "broken_test", x="region")
    finally:
        CHART_TYPES.pop("broken_test")


def test_unknown_kind_lists_known_kinds() -> None:
    with pytest.raises(ChartError) as caught:
        chart(SALES, "bars", x="region")
    message = str(caught.value)
    assert message.startswith("unknown chart kind 'bars'; did you mean 'bar'?")
    for kind in (
        "area",
        "bar",
        "box",
        "cohort",
        "funnel",
        "heatmap",
        "histogram",
        "kpi",
        "line",
        "pie",
        "scatter",
        "waterfall",
    ):
        assert kind in message
    assert isinstance(caught.value, DapError) and "\n" not in message


def test_unknown_columns_and_options_are_one_clear_error() -> None:
    with pytest.raises(ChartError) as caught:
        chart(SALES, "bar", x="regoin", y="revnue")
    assert str(caught.value) == (
        "no columns 'regoin', 'revnue' in the data; "
        "available columns: region, segment, revenue, orders"
    )
    with pytest.raises(
        ChartError, match="unknown option 'nbin' for a histogram chart; its options: .*nbins"
    ):
        chart(SALES, "histogram", x="revenue", nbin=4)
    with pytest.raises(ChartError, match="no column 'weight'"):
        chart(SALES, "scatter", x="orders", y="revenue", size="weight")
    with pytest.raises(
        ChartError, match="takes a polars DataFrame, a pyarrow Table or a SQL string, not list"
    ):
        chart([1, 2, 3])
    with pytest.raises(ChartError, match="a bar chart needs x="):  # no label column to take
        chart(SALES.select("revenue"), "bar")
    with pytest.raises(ChartError, match="cannot sum column 'segment' of type String"):
        chart(SALES, "bar", x="region", y="segment")
    counted = chart(SALES, "bar", x="region", y="segment", agg="count")
    assert ys(counted.data[0]) == [2, 2, 1]
    with pytest.raises(ChartError, match="unknown agg 'avg'"):
        chart(SALES, "bar", x="region", y="revenue", agg="avg")


def test_empty_frame_draws_no_data() -> None:
    for kind in (None, "bar", "line", "kpi", "cohort"):
        figure = chart(SALES.head(0), kind, x="region", y="revenue")
        assert [a.text for a in figure.layout.annotations] == ["no data"]
        assert len(figure.data) == 0
        assert meta(figure)["empty"] is True and meta(figure)["rows"] == 0
    with pytest.raises(ChartError, match="no column 'nope'"):
        chart(SALES.head(0), "bar", x="nope")


def test_arrow_and_lazy_inputs_and_dap_look() -> None:
    figure = chart(SALES.to_arrow(), "bar", x="region", y="revenue", title="")
    assert ys(figure.data[0]) == [34.0, 12.5, 5.0]
    assert figure.layout.title.text is None
    assert figure.layout.width is None and figure.layout.autosize is True
    template = figure.layout.template
    assert template.layout.colorway[0] == "#2563eb"
    assert "Inter" in template.layout.font.family
    lazy = chart(SALES.lazy(), "pie", x="segment")
    assert list(lazy.data[0].values) == [3, 2]
    assert isinstance(pa.table({"a": [1]}), pa.Table)


def test_decimal_and_null_values() -> None:
    frame = pl.DataFrame(
        {"region": ["EMEA", None, "EMEA"], "amount": ["1.50", "2.25", "3.00"]}
    ).with_columns(pl.col("amount").cast(pl.Decimal(10, 2)))
    trace = chart(frame, "bar", x="region", y="amount").data[0]
    assert xs(trace) == ["EMEA", "(blank)"]
    assert ys(trace) == [4.5, 2.25]


# -- governed SQL -------------------------------------------------------------------------------

REGION_SQL = "SELECT region, count(*) AS customers FROM customers GROUP BY region"


def test_sql_runs_as_the_session_user(governed: Workspace) -> None:
    everyone = chart(REGION_SQL, "bar", x="region", y="customers", session=governed.session())
    ann = chart(
        REGION_SQL, "bar", x="region", y="customers", session=governed.session(Principal("ann"))
    )
    assert set(everyone.data[0].x) == {"EMEA", "AMER", "APAC"}
    assert list(ann.data[0].x) == ["EMEA"]  # ann's row filter holds in charts too
    emea = dict(zip(everyone.data[0].x, everyone.data[0].y, strict=True))["EMEA"]
    assert list(ann.data[0].y) == [emea]


def test_sql_goes_through_dap_client_connect_with_bound_params(
    governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "dap_kernel.client.connect", lambda channel="python": governed.session(Principal("raj"))
    )
    figure = chart(
        "SELECT region, count(*) AS n FROM customers WHERE region <> :skip GROUP BY region",
        params={"skip": "x' OR '1'='1"},
    )
    assert meta(figure)["kind"] == "bar"
    assert list(figure.data[0].x) == ["APAC"]
    with pytest.raises(DapError, match="not allowed|refused|permission"):
        chart("SELECT * FROM read_csv('/etc/passwd')", session=governed.session())


# -- magic --------------------------------------------------------------------------------------


def test_magic_charts_a_variable(shell: InteractiveShell) -> None:
    shell.user_ns["sales"] = SALES
    figure = shell.run_line_magic(
        "dap", "chart sales --kind bar --x region --y revenue --title 'By region'"
    )
    assert isinstance(figure, go.Figure)
    assert ys(figure.data[0]) == [34.0, 12.5, 5.0]
    assert figure.layout.title.text == "By region"
    inferred = shell.run_line_magic("dap", "chart sales --x region --y revenue,orders")
    assert [t.name for t in inferred.data] == ["revenue", "orders"]
    assert shell.run_line_magic("dap", "chart sales --kind pie --x segment --name fig") is None
    assert list(shell.user_ns["fig"].data[0].values) == [3, 2]


def test_magic_charts_a_query_with_bound_variables(shell: InteractiveShell) -> None:
    shell.user_ns["status"] = "cancelled"
    figure = shell.run_cell_magic(
        "dap",
        "chart --kind bar --x channel --y n",
        "SELECT channel, count(*) AS n FROM orders WHERE status = :status GROUP BY channel",
    )
    expected = shell.run_line_magic(
        "dap",
        "sql SELECT channel, count(*) AS n FROM orders WHERE status = 'cancelled' GROUP BY channel",
    ).sort("n", descending=True)
    assert list(figure.data[0].x) == expected["channel"].to_list()
    assert list(figure.data[0].y) == expected["n"].to_list()


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("chart", None, "name a DataFrame variable"),
        ("chart nothing", None, "no variable named 'nothing'"),
        ("chart number", None, "number is a int, not a polars DataFrame"),
        ("chart sales --kind bars --x region", None, "unknown chart kind 'bars'"),
        ("chart sales --x nope", None, "no column 'nope'"),
        ("chart --kind bar", "   ", "no SQL given"),
        (
            "chart --kind bar",
            "SELECT * FROM orders WHERE status = :missing",
            "no Python variable named missing",
        ),
        ("chart --bogus", None, "unrecognized arguments"),
    ],
)
def test_magic_errors_are_usage_errors(
    shell: InteractiveShell, line: str, cell: str | None, message: str
) -> None:
    shell.user_ns.update(sales=SALES, number=3)
    with pytest.raises(UsageError, match=message):
        if cell is None:
            shell.run_line_magic("dap", line)
        else:
            shell.run_cell_magic("dap", line, cell)


def test_magic_help_and_kinds(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("dap", "help")
    assert "%dap chart VAR [--kind K]" in capsys.readouterr().out
    shell.run_line_magic("dap", "chart --kinds")
    assert "cohort, funnel, heatmap" in capsys.readouterr().out


# -- static export --------------------------------------------------------------------------------


def test_png_export_with_kaleido_and_debian_chromium() -> None:
    figure = chart(SALES, "bar", x="region", y="revenue")
    png = to_image(figure, width=640, height=360, scale=1, chromium="/usr/bin/chromium")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (640, 360)
    assert len(png) > 5_000  # drawn, not blank
    with pytest.raises(ChartError, match="no Chromium"):
        to_image(figure, chromium="/nonexistent/chromium")
