"""Plotly figures of statistics, from plain numbers (the result types call these).

Figures take figures, not result objects, so this module depends on nothing of ``dap.stats``;
each returns a ``plotly.graph_objects.Figure`` a notebook shows and the export can render.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

_TEMPLATE = "plotly_white"


def boxes(
    names: Sequence[str],
    low: Sequence[float | None],
    q1: Sequence[float | None],
    median: Sequence[float | None],
    q3: Sequence[float | None],
    high: Sequence[float | None],
    mean: Sequence[float | None],
    title: str,
) -> go.Figure:
    """One box per column from quantiles computed in the engine (no row is plotted)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, name in enumerate(names):
        fig.add_trace(
            go.Box(
                name=name,
                lowerfence=[low[i]],
                q1=[q1[i]],
                median=[median[i]],
                q3=[q3[i]],
                upperfence=[high[i]],
                mean=[mean[i]],
                boxpoints=False,
            )
        )
    fig.update_layout(title=title, template=_TEMPLATE, showlegend=False)
    return fig


def bars(edges: Sequence[float], counts: Sequence[int], title: str, x_title: str) -> go.Figure:
    """A histogram drawn from bin edges and counts."""
    import plotly.graph_objects as go

    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    fig = go.Figure(go.Bar(x=centres, y=list(counts), width=widths, marker_line_width=0))
    fig.update_layout(
        title=title, template=_TEMPLATE, bargap=0.02, xaxis_title=x_title, yaxis_title="rows"
    )
    return fig


def heatmap(
    labels_x: Sequence[str],
    labels_y: Sequence[str],
    values: Sequence[Sequence[float | None]],
    title: str,
    *,
    symmetric: bool = False,
) -> go.Figure:
    """A matrix (correlations, a contingency table) with its values written in the cells."""
    import plotly.graph_objects as go

    text = [["" if v is None else f"{v:.3g}" for v in row] for row in values]
    heat = go.Heatmap(
        x=list(labels_x),
        y=list(labels_y),
        z=[list(row) for row in values],
        text=text,
        texttemplate="%{text}",
        colorscale="RdBu" if symmetric else "Blues",
        zmid=0 if symmetric else None,
        zmin=-1 if symmetric else None,
        zmax=1 if symmetric else None,
    )
    fig = go.Figure(heat)
    fig.update_layout(title=title, template=_TEMPLATE, yaxis_autorange="reversed")
    return fig


def intervals(
    labels: Sequence[str],
    estimates: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    title: str,
    *,
    horizontal: bool = False,
    reference: float | None = None,
) -> go.Figure:
    """Estimates with confidence intervals (group means, regression coefficients)."""
    import plotly.graph_objects as go

    plus = [h - e for e, h in zip(estimates, high, strict=True)]
    minus = [e - lo for e, lo in zip(estimates, low, strict=True)]
    error = {"type": "data", "array": plus, "arrayminus": minus}
    if horizontal:
        trace = go.Scatter(x=list(estimates), y=list(labels), mode="markers", error_x=error)
    else:
        trace = go.Scatter(x=list(labels), y=list(estimates), mode="markers", error_y=error)
    fig = go.Figure(trace)
    if reference is not None:
        if horizontal:
            fig.add_vline(x=reference, line_dash="dot")
        else:
            fig.add_hline(y=reference, line_dash="dot")
    fig.update_layout(title=title, template=_TEMPLATE)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


def components(
    time: Sequence[datetime], series: Sequence[tuple[str, Sequence[float]]], title: str
) -> go.Figure:
    """Stacked panels sharing one time axis (observed, trend, seasonal, residual)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=len(series), cols=1, shared_xaxes=True, subplot_titles=[n for n, _ in series]
    )
    for i, (name, values) in enumerate(series, start=1):
        fig.add_trace(go.Scatter(x=list(time), y=list(values), name=name, mode="lines"), i, 1)
    fig.update_layout(title=title, template=_TEMPLATE, showlegend=False, height=180 * len(series))
    return fig


def forecast_band(
    history: tuple[Sequence[datetime], Sequence[float]],
    paths: Sequence[
        tuple[str, Sequence[datetime], Sequence[float], Sequence[float], Sequence[float]]
    ],
    title: str,
    *,
    actual: tuple[Sequence[datetime], Sequence[float]] | None = None,
) -> go.Figure:
    """The history as a line, each forecast as a line in its shaded interval, and (for a
    backtest) the outcomes the forecasts are judged against as points."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scatter(x=list(history[0]), y=list(history[1]), name="history", mode="lines")
    )
    for name, time, mean, low, high in paths:
        fig.add_trace(
            go.Scatter(
                x=[*time, *reversed(time)],
                y=[*high, *reversed(low)],
                fill="toself",
                line={"width": 0},
                opacity=0.25,
                name=f"{name} interval",
                hoverinfo="skip",
            )
        )
        fig.add_trace(go.Scatter(x=list(time), y=list(mean), name=name, mode="lines"))
    if actual is not None:
        fig.add_trace(
            go.Scatter(x=list(actual[0]), y=list(actual[1]), name="outcome", mode="markers")
        )
    fig.update_layout(title=title, template=_TEMPLATE)
    return fig
