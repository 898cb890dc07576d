"""KPI tile: one big number, its change against a previous value, and a small trend line.

Accepted shapes:

* one row: ``y`` is the value; ``reference=`` a number or the name of a column of that row
  holding the previous value (no reference → just the number);
* a series: rows ordered by ``x`` (a date, usually; rows with the same x are summed): the value
  is the last point, the reference the one before (or ``reference=``), and the whole series is
  drawn as a sparkline under the number.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from .columns import Columns, as_list, column_kind, require_columns, values
from .errors import ChartError
from .kinds import axis_values, layout
from .registry import chart_type
from .shaping import aggregate
from .theme import COLORWAY, NEGATIVE, POSITIVE


@chart_type("kpi")
def kpi(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    reference: float | str | None = None,
    relative: bool = True,
    format: str | None = None,
    prefix: str = "",
    suffix: str = "",
    lower_is_better: bool = False,
    agg: str = "sum",
) -> go.Figure:
    """The tile; ``relative=False`` shows the change as a difference instead of a percentage."""
    ys = as_list(y)
    if not ys:
        numeric = [c for c in frame.columns if column_kind(frame.schema[c]) == "numeric"]
        if len(numeric) != 1:
            raise ChartError("a kpi chart needs y= (the column holding the number)")
        ys = numeric
    if len(ys) > 1:
        raise ChartError("a kpi chart shows one y column")
    measure = ys[0]
    if column_kind(frame.schema[measure]) != "numeric":
        raise ChartError(f"a kpi chart needs a numeric y; {measure!r} is {frame.schema[measure]}")
    if x is not None:
        series, _ = aggregate(frame, [x], [measure], agg)
        series = series.sort(x, nulls_last=True)
    else:
        series = frame
    trend = values(series[measure])
    value = _plain(trend[-1])
    previous = _plain(_reference(frame, reference, trend))
    indicator = go.Indicator(
        mode="number+delta" if previous is not None else "number",
        value=value,
        number={"prefix": prefix, "suffix": suffix, "font": {"size": 48}},
        domain={"x": [0, 1], "y": [0.38 if len(trend) > 1 else 0.0, 1]},
    )
    if format:
        indicator.number.valueformat = format
    if previous is not None:
        up, down = POSITIVE, NEGATIVE
        if lower_is_better:
            up, down = down, up
        indicator.delta = {
            "reference": previous,
            "relative": relative,
            "valueformat": ".1%" if relative else (format or ",.4~g"),
            "increasing": {"color": up},
            "decreasing": {"color": down},
        }
    figure = go.Figure(indicator)
    if len(trend) > 1:
        figure.add_trace(
            go.Scatter(
                x=axis_values(series, x) if x is not None else list(range(len(trend))),
                y=trend,
                mode="lines",
                fill="tozeroy",
                line={"color": COLORWAY[0], "width": 2},
                hoverinfo="x+y",
                name=measure,
            )
        )
        figure.update_xaxes(visible=False, domain=[0, 1])
        figure.update_yaxes(visible=False, domain=[0, 0.3])
    else:
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
    figure = layout(figure, title, showlegend=False)
    figure.update_layout(meta={"dap": {"value": value, "reference": previous}})
    return figure


def _plain(value: Any) -> Any:
    """A Python number for the indicator and the metadata, not a numpy scalar."""
    return value.item() if hasattr(value, "item") else value


def _reference(frame: pl.DataFrame, reference: float | str | None, trend: list[Any]) -> Any:
    if isinstance(reference, str):
        require_columns(frame, [reference])
        return values(frame[reference])[-1]
    if reference is not None:
        return reference
    return trend[-2] if len(trend) > 1 else None
