"""The built-in chart kinds drawn with ``plotly.graph_objects`` from plain lists.

Each takes a non-empty polars frame whose named columns exist (``chart()`` checks both) and
returns an unstyled figure. Repeated keys are aggregated (``agg="sum"`` by default), so
``chart(orders, "bar", x="region", y="amount")`` draws revenue per region straight from rows.
A missing ``y`` means "count the rows".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl

from .columns import Columns, as_list, column_kind, labels, require_columns, values
from .errors import ChartError
from .registry import chart_type
from .shaping import (
    MAX_POINTS,
    aggregate,
    in_order,
    sample_rows,
    thin_rows,
    top_n,
    with_note,
)
from .theme import MUTED, NEGATIVE, POSITIVE, SEQUENTIAL, TOTAL

BLANK = "(blank)"


# -- helpers ----------------------------------------------------------------------------------


def need(kind: str, what: str, value: Any) -> None:
    if value is None or value == []:
        raise ChartError(f"a {kind} chart needs {what}")


def one_measure(kind: str, ys: Sequence[str], color: str | None) -> None:
    if color is not None and len(ys) > 1:
        raise ChartError(f"a {kind} chart takes color= with one y column, not {len(ys)}")


def is_category(frame: pl.DataFrame, column: str) -> bool:
    return column_kind(frame.schema[column]) in ("categorical", "other")


def axis_values(frame: pl.DataFrame, column: str) -> Any:
    """Text labels for a category column, values (list or numpy array) for dates and numbers."""
    if is_category(frame, column):
        return labels(frame[column], BLANK)
    return values(frame[column])


def groups(frame: pl.DataFrame, color: str | None) -> Iterator[tuple[str | None, pl.DataFrame]]:
    """``(label, rows)`` per value of ``color`` (sorted labels), or the whole frame once."""
    if color is None:
        yield None, frame
        return
    keyed = frame.with_columns(pl.col(color).cast(pl.String).fill_null(BLANK).alias("__group"))
    for label in sorted(keyed["__group"].unique().to_list()):
        yield label, keyed.filter(pl.col("__group") == label).drop("__group")


def measure_title(ys: Sequence[str], measures: Sequence[str]) -> str:
    return ", ".join(ys) if ys else measures[0]


def layout(figure: go.Figure, title: str | None, **fields: Any) -> go.Figure:
    figure.update_layout(title={"text": title} if title else None, **fields)
    return figure


def sampled_layout(
    figure: go.Figure, title: str | None, note: str, kept: int, total: int, **fields: Any
) -> go.Figure:
    """``layout`` for a chart that may draw a sample: the title carries the note and
    ``meta.dap.sampled`` the counts, so a reader never takes the sample for every row."""
    figure = layout(figure, with_note(title, note), **fields)
    if note:
        figure.update_layout(meta={"dap": {"sampled": {"kept": kept, "total": total}}})
    return figure


# -- bar, line, area ------------------------------------------------------------------------


@chart_type("bar")
def bar(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    agg: str = "sum",
    top: int | None = 30,
    sort: bool = True,
    other: str = "other",
    orientation: str = "v",
    barmode: str = "group",
) -> go.Figure:
    """Category bars sorted by value, the biggest ``top`` kept and the rest summed as ``other``
    (``sort=False`` keeps the data's order and every category). Numeric or date x: in x order."""
    need("bar", "x= (the categories)", x)
    assert x is not None
    ys = as_list(y)
    one_measure("bar", ys, color)
    data, measures = aggregate(frame, [x] if color is None else [x, color], ys, agg)
    order: list[str] | None = None
    if is_category(data, x):
        data = data.with_columns(pl.col(x).cast(pl.String).fill_null(BLANK))
        if sort:
            order, data = top_n(data, x, measures[0], top, other=other, by=color)
            data = in_order(data, x, order)
    else:
        data = data.sort(x, nulls_last=True)
    horizontal = orientation.lower().startswith("h")
    traces = []
    for group, part in groups(data, color):
        for measure in measures if color is None else measures[:1]:
            cats, nums = axis_values(part, x), values(part[measure])
            traces.append(
                go.Bar(
                    x=nums if horizontal else cats,
                    y=cats if horizontal else nums,
                    name=group if group is not None else measure,
                    orientation="h" if horizontal else "v",
                )
            )
    figure = go.Figure(traces)
    category_axis: dict[str, Any] = {"title": {"text": x}}
    if order is not None:
        category_axis.update(categoryorder="array", categoryarray=order)
    if order is not None or not is_category(data, x):
        category_axis["type"] = "category" if order is not None else "-"
    value_axis = {"title": {"text": measure_title(ys, measures)}}
    if horizontal:
        category_axis["autorange"] = "reversed"
    figure.update_xaxes(**(value_axis if horizontal else category_axis))
    figure.update_yaxes(**(category_axis if horizontal else value_axis))
    return layout(figure, title, barmode=barmode, showlegend=len(traces) > 1)


def _lines(
    kind: str,
    frame: pl.DataFrame,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    agg: str,
    max_points: int,
    markers: bool,
) -> go.Figure:
    need(kind, "x= (usually a date or time column)", x)
    assert x is not None
    ys = as_list(y)
    one_measure(kind, ys, color)
    data, measures = aggregate(frame, [x] if color is None else [x, color], ys, agg)
    data = data.sort(x, nulls_last=True)
    series = list(groups(data, color))
    budget = max(1, max_points // max(1, len(series) * len(measures))) if max_points > 0 else 0
    kept = total = 0
    traces = []
    for group, part in series:
        thinned, _ = thin_rows(part, budget)
        kept, total = kept + thinned.height, total + part.height
        for measure in measures if color is None else measures[:1]:
            trace = go.Scatter(
                x=axis_values(thinned, x),
                y=values(thinned[measure]),
                name=group if group is not None else measure,
                mode="lines+markers" if markers else "lines",
            )
            if kind == "area":
                trace.update(stackgroup="one", line={"width": 1.5})
            traces.append(trace)
    note = f"(sampled {kept:,} of {total:,} points)" if kept < total else ""
    figure = go.Figure(traces)
    figure.update_xaxes(title={"text": x})
    figure.update_yaxes(title={"text": measure_title(ys, measures)})
    return sampled_layout(
        figure, title, note, kept, total, showlegend=len(traces) > 1, hovermode="x"
    )


def _line_kind(kind: str, doc: str) -> Callable[..., go.Figure]:
    """Register chart kind ``kind`` drawn by ``_lines``: line and area take the same options and
    differ only in whether the series stack, so the signature is written once."""

    def draw(
        frame: pl.DataFrame,
        *,
        x: str | None,
        y: Columns,
        color: str | None,
        title: str | None,
        agg: str = "sum",
        max_points: int = MAX_POINTS,
        markers: bool = False,
    ) -> go.Figure:
        return _lines(kind, frame, x, y, color, title, agg, max_points, markers)

    draw.__name__ = draw.__qualname__ = kind
    draw.__doc__ = doc
    return chart_type(kind)(draw)


line = _line_kind(
    "line", "One line per y column (or per ``color`` value), in x order, repeated x aggregated."
)
area = _line_kind("area", "Stacked areas: a line chart whose series add up.")


# -- scatter, histogram, box ----------------------------------------------------------------

GL_AFTER = 20_000  # WebGL beyond this many points: SVG gets slow in the browser


@chart_type("scatter")
def scatter(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    size: str | None = None,
    hover: Columns = None,
    max_points: int = MAX_POINTS,
    opacity: float | None = None,
) -> go.Figure:
    """One point per row (a seeded random sample beyond ``max_points``). A numeric ``color``
    shades the points on a colour bar; a categorical one makes one trace per value."""
    need("scatter", "x= and y=", x)
    ys = as_list(y)
    need("scatter", "x= and y=", ys)
    assert x is not None
    one_measure("scatter", ys, color)
    extra = as_list(hover)
    require_columns(frame, [size, *extra])
    data, note = sample_rows(frame, max_points)
    numeric_color = color is not None and column_kind(data.schema[color]) == "numeric"
    trace_type = go.Scattergl if data.height > GL_AFTER else go.Scatter
    alpha = opacity if opacity is not None else (0.6 if data.height > 1_000 else 0.85)
    traces = []
    for group, part in groups(data, None if numeric_color else color):
        for measure in ys:
            marker: dict[str, Any] = {"opacity": alpha}
            if size is not None:
                peak = part[size].cast(pl.Float64).max()
                biggest = float(peak) if isinstance(peak, int | float) and peak > 0 else 1.0
                marker.update(
                    size=values(part[size]), sizemode="area", sizeref=2 * biggest / 28**2, sizemin=3
                )
            if numeric_color:
                assert color is not None
                marker.update(
                    color=values(part[color]),
                    colorscale=[list(s) for s in SEQUENTIAL],
                    showscale=True,
                    colorbar={"title": {"text": color}},
                )
            trace = trace_type(
                x=axis_values(part, x),
                y=values(part[measure]),
                mode="markers",
                name=group if group is not None else measure,
                marker=marker,
            )
            if extra:
                trace.update(
                    customdata=list(zip(*(values(part[c]) for c in extra), strict=True)),
                    hovertemplate="<br>".join(
                        [f"{x}=%{{x}}", f"{measure}=%{{y}}"]
                        + [f"{c}=%{{customdata[{i}]}}" for i, c in enumerate(extra)]
                    )
                    + "<extra></extra>",
                )
            traces.append(trace)
    figure = go.Figure(traces)
    figure.update_xaxes(title={"text": x})
    figure.update_yaxes(title={"text": ", ".join(ys)})
    return sampled_layout(
        figure, title, note, data.height, frame.height, showlegend=len(traces) > 1
    )


@chart_type("histogram")
def histogram(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    nbins: int | None = None,
    histnorm: str | None = None,
    barmode: str = "overlay",
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """The distribution of x; with a numeric ``y`` the bars sum y instead of counting rows."""
    need("histogram", "x= (a numeric column)", x)
    assert x is not None
    ys = as_list(y)
    if len(ys) > 1:
        raise ChartError("a histogram takes at most one y column (summed per bin)")
    data, note = sample_rows(frame, max_points)
    traces = []
    for group, part in groups(data, color):
        trace = go.Histogram(
            x=axis_values(part, x),
            name=group if group is not None else x,
            nbinsx=nbins,
            histnorm=histnorm,
        )
        if ys:
            trace.update(y=values(part[ys[0]]), histfunc="sum")
        if color is not None:
            trace.update(opacity=0.6 if barmode == "overlay" else 1.0)
        traces.append(trace)
    figure = go.Figure(traces)
    figure.update_xaxes(title={"text": x})
    figure.update_yaxes(title={"text": f"sum of {ys[0]}" if ys else histnorm or "count"})
    return sampled_layout(
        figure,
        title,
        note,
        data.height,
        frame.height,
        barmode=barmode,
        bargap=0.04,
        showlegend=len(traces) > 1,
    )


@chart_type("box")
def box(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    points: str | bool = "outliers",
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Distribution of each y (one box per x category when x is given)."""
    ys = as_list(y)
    if not ys and x is not None and column_kind(frame.schema[x]) == "numeric":
        ys, x = [x], None
    need("box", "y= (a numeric column)", ys)
    one_measure("box", ys, color)
    data, note = sample_rows(frame, max_points)
    traces = []
    for group, part in groups(data, color):
        for measure in ys if color is None else ys[:1]:
            trace = go.Box(
                y=values(part[measure]),
                name=group if group is not None else measure,
                boxpoints=points,
            )
            if x is not None:
                trace.update(x=axis_values(part, x))
            traces.append(trace)
    figure = go.Figure(traces)
    if x is not None:
        figure.update_xaxes(title={"text": x})
    figure.update_yaxes(title={"text": ", ".join(ys)})
    return sampled_layout(
        figure,
        title,
        note,
        data.height,
        frame.height,
        boxmode="group" if x is not None and len(traces) > 1 else "overlay",
        showlegend=len(traces) > 1 and x is not None,
    )


# -- heatmap, pie, funnel, waterfall ---------------------------------------------------------

TEXT_CELLS = 400  # write the value in each cell up to this many cells


def matrix(
    frame: pl.DataFrame, x: str, y: str, value: str
) -> tuple[list[Any], list[Any], list[list[Any]]]:
    """``(xs, ys, z)`` with ``z[row of y][column of x]``, ``None`` where there is no value."""
    xs = sorted(dict.fromkeys(axis_values(frame, x)), key=_sort_key)
    ys = sorted(dict.fromkeys(axis_values(frame, y)), key=_sort_key)
    cells = dict(
        zip(
            zip(axis_values(frame, y), axis_values(frame, x), strict=True),
            values(frame[value]),
            strict=True,
        )
    )
    z = [[cells.get((row, column)) for column in xs] for row in ys]
    return xs, ys, z


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


@chart_type("heatmap")
def heatmap(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    z: str | None = None,
    agg: str = "sum",
    text: bool | None = None,
) -> go.Figure:
    """x × y cells shaded by ``z`` (or ``color``, else the first other numeric column, else a
    row count), aggregated per cell."""
    ys = as_list(y)
    need("heatmap", "x= and y=", x)
    need("heatmap", "x= and y=", ys)
    assert x is not None
    row = ys[0]
    value = z or color
    if value is None:
        numeric = [
            c
            for c in frame.columns
            if c not in (x, row) and column_kind(frame.schema[c]) == "numeric"
        ]
        value = numeric[0] if numeric else None
    require_columns(frame, [value])
    data, measures = aggregate(frame, [x, row], [value] if value else [], agg)
    xs, rows, cells = matrix(data, x, row, measures[0])
    trace = go.Heatmap(
        x=xs,
        y=rows,
        z=cells,
        colorscale=[list(s) for s in SEQUENTIAL],
        colorbar={"title": {"text": measures[0]}},
        hoverongaps=False,
    )
    if text if text is not None else len(xs) * len(rows) <= TEXT_CELLS:
        trace.update(texttemplate="%{z:,.4~g}")
    figure = go.Figure(trace)
    figure.update_xaxes(title={"text": x}, type="category" if is_category(data, x) else "-")
    figure.update_yaxes(title={"text": row}, type="category" if is_category(data, row) else "-")
    figure = layout(figure, title)
    figure.update_layout(meta={"dap": {"z": measures[0]}})
    return figure


@chart_type("pie")
def pie(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    agg: str = "sum",
    top: int | None = 10,
    other: str = "other",
    hole: float = 0.0,
) -> go.Figure:
    """Slices of x (biggest first; beyond ``top`` summed as ``other``) sized by y or by count.
    ``hole=0.5`` makes a donut."""
    names = x or color
    need("pie", "x= (the slice labels)", names)
    assert names is not None
    ys = as_list(y)
    if len(ys) > 1:
        raise ChartError("a pie chart takes one y column")
    data, measures = aggregate(frame, [names], ys, agg)
    data = data.with_columns(pl.col(names).cast(pl.String).fill_null(BLANK))
    order, data = top_n(data, names, measures[0], top, other=other)
    amounts = dict(zip(data[names].to_list(), values(data[measures[0]]), strict=True))
    trace = go.Pie(
        labels=order,
        values=[amounts[label] for label in order],
        sort=False,
        direction="clockwise",
        hole=hole,
        textinfo="percent+label" if len(order) <= 8 else "percent",
        name=measures[0],
    )
    return layout(go.Figure(trace), title)


@chart_type("funnel")
def funnel(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    agg: str = "sum",
) -> go.Figure:
    """Stages (x, in the data's order) with their value (y, or row count), top to bottom."""
    need("funnel", "x= (the stages)", x)
    assert x is not None
    ys = as_list(y)
    if len(ys) > 1:
        raise ChartError("a funnel chart takes one y column")
    data, measures = aggregate(frame, [x] if color is None else [x, color], ys, agg)
    stages = list(dict.fromkeys(axis_values(data, x)))
    traces = []
    for group, part in groups(data, color):
        amounts = dict(zip(axis_values(part, x), values(part[measures[0]]), strict=True))
        present = [s for s in stages if s in amounts]
        traces.append(
            go.Funnel(
                y=present,
                x=[amounts[s] for s in present],
                name=group if group is not None else measures[0],
                textinfo="value+percent initial",
            )
        )
    figure = go.Figure(traces)
    figure.update_yaxes(categoryorder="array", categoryarray=stages, type="category")
    return layout(figure, title, showlegend=len(traces) > 1)


MEASURES = ("relative", "total", "absolute")


@chart_type("waterfall")
def waterfall(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    measure: str | None = None,
    total: str | None = "Total",
    agg: str = "sum",
) -> go.Figure:
    """Steps (x, in the data's order) that add y to a running total, ending in a ``total`` bar
    (``total=None`` for none). A ``measure`` column (relative | total | absolute per row) takes
    the rows as they are instead."""
    need("waterfall", "x= (the steps) and y= (the amounts)", x)
    ys = as_list(y)
    need("waterfall", "x= (the steps) and y= (the amounts)", ys)
    assert x is not None
    if len(ys) > 1:
        raise ChartError("a waterfall chart takes one y column")
    if measure is not None:
        require_columns(frame, [measure])
        kinds = [str(m).lower() if m is not None else "relative" for m in frame[measure].to_list()]
        wrong = sorted(set(kinds) - set(MEASURES))
        if wrong:
            raise ChartError(
                f"column {measure!r} has {', '.join(map(repr, wrong))}; use {', '.join(MEASURES)}"
            )
        steps, amounts = axis_values(frame, x), values(frame[ys[0]])
    else:
        data, _ = aggregate(frame, [x], ys, agg)
        steps, amounts = axis_values(data, x), values(data[ys[0]])
        kinds = ["relative"] * len(steps)
        if total:
            steps = [*steps, total]
            amounts = [*amounts, sum(a for a in amounts if a is not None)]
            kinds = [*kinds, "total"]
    trace = go.Waterfall(
        x=steps,
        y=amounts,
        measure=kinds,
        texttemplate="%{y:,.4~g}",
        textposition="outside",
        increasing={"marker": {"color": POSITIVE}},
        decreasing={"marker": {"color": NEGATIVE}},
        totals={"marker": {"color": TOTAL}},
        connector={"line": {"color": MUTED, "width": 1}},
        name=ys[0],
    )
    figure = go.Figure(trace)
    figure.update_xaxes(title={"text": x}, type="category")
    figure.update_yaxes(title={"text": ys[0]})
    return layout(figure, title, showlegend=False)
