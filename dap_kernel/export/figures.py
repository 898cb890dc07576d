"""Plotly figures as tables: the data each trace plots, and which columns each series draws
(what an Excel chart is built from)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from .errors import ExportError

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_CATEGORY_KINDS = ("column", "bar", "line", "area")


@dataclass
class _Series:
    name: str
    kind: str  # column, bar, line, area, scatter, pie
    subtype: str | None
    x_col: int
    y_col: int
    color: str | None = None


@dataclass
class _ChartPlan:
    title: str
    x_title: str
    y_title: str
    columns: list[tuple[str, list[Any]]]
    series: list[_Series]
    note: str = ""


def figure_table(figure: Any) -> pl.DataFrame:
    """The data a plotly figure plots, as one table (what its Excel chart is drawn from)."""
    plan = _chart_plan(figure)
    names = _unique([name for name, _ in plan.columns])
    return pl.DataFrame(
        {name: values for name, (_, values) in zip(names, plan.columns, strict=True)},
        strict=False,
    )


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _values(seq: Any) -> list[Any]:
    """Trace data (numpy arrays, tuples, lists) as Python values; ISO date strings as dates."""
    if seq is None:
        return []
    tolist = getattr(seq, "tolist", None)
    dtype = getattr(seq, "dtype", None)
    if tolist is not None and dtype is not None and getattr(dtype, "kind", "") == "M":
        seq = seq.astype("datetime64[us]")
    values = list(tolist() if tolist is not None else seq)
    out: list[Any] = [v.item() if hasattr(v, "item") else v for v in values]
    if out and all(isinstance(v, str) and _ISO_TIME.match(v) for v in out if v is not None):
        parsed = [None if v is None else dt.datetime.fromisoformat(v) for v in out]
        if all(v is None or v.time() == dt.time() for v in parsed) and all(
            v is None or len(str(raw)) == 10 for v, raw in zip(parsed, out, strict=True)
        ):
            return [None if v is None else v.date() for v in parsed]
        return parsed
    return out


def _text(value: Any) -> str:
    text = getattr(value, "text", value)
    return "" if text is None else str(text)


def _trace_kind(trace: Any, layout: Any) -> tuple[str, str | None]:
    kind = trace.type
    stacked = getattr(layout, "barmode", None) in ("stack", "relative")
    if kind == "bar":
        return ("bar" if trace.orientation == "h" else "column"), ("stacked" if stacked else None)
    if kind == "funnel":
        return "bar", None
    if kind in ("histogram", "waterfall"):  # a waterfall's steps, as plain columns
        return "column", None
    if kind in ("scatter", "scattergl"):
        if trace.stackgroup:
            return "area", "stacked"
        if trace.fill in ("tozeroy", "tonexty"):
            return "area", None
        mode = trace.mode or "lines"
        if "lines" in mode:
            x = _values(trace.x)
            numeric = bool(x) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in x
            )
            if numeric:
                return "scatter", "straight_with_markers" if "markers" in mode else "straight"
            return "line", None
        return "scatter", None
    if kind == "pie":
        return ("doughnut" if trace.hole else "pie"), None
    return "", None


def _color(trace: Any) -> str | None:
    marker = getattr(trace, "marker", None)
    color = getattr(marker, "color", None)
    if isinstance(color, str) and color.startswith("#"):
        return color
    line = getattr(trace, "line", None)
    color = getattr(line, "color", None)
    return color if isinstance(color, str) and color.startswith("#") else None


def _chart_plan(figure: Any) -> _ChartPlan:
    """Lay a figure's traces out as columns and say which columns each series plots."""
    traces = list(getattr(figure, "data", None) or [])
    if not traces:
        raise ExportError("the chart has no data to export")
    layout = figure.layout
    title = _text(layout.title)
    x_title = _text(getattr(layout.xaxis, "title", None))
    y_title = _text(getattr(layout.yaxis, "title", None))
    kind, _ = _trace_kind(traces[0], layout)
    if kind in ("pie", "doughnut"):
        trace = traces[0]
        totals: dict[Any, float] = {}
        labels = _values(trace.labels)
        values = _values(trace.values) or [1] * len(labels)
        for label, value in zip(labels, values, strict=False):
            totals[label] = totals.get(label, 0.0) + float(value or 0)
        pie = [("label", list(totals)), (trace.name or "value", list(totals.values()))]
        return _ChartPlan(title, "", "", pie, [_Series(trace.name or title, kind, None, 0, 1)])
    if kind == "scatter":
        columns: list[tuple[str, list[Any]]] = []
        series = []
        for i, trace in enumerate(traces):
            k, sub = _trace_kind(trace, layout)
            name = trace.name or (y_title if len(traces) == 1 else "") or f"series {i + 1}"
            columns.append((f"{name} {x_title or 'x'}", _values(trace.x)))
            columns.append((f"{name} {y_title or 'y'}", _values(trace.y)))
            if k == "scatter":
                series.append(_Series(name, k, sub, len(columns) - 2, len(columns) - 1))
        return _ChartPlan(title, x_title, y_title, columns, series)
    if kind in _CATEGORY_KINDS:
        return _category_plan(traces, layout, title, x_title, y_title)
    columns = []
    for i, trace in enumerate(traces):
        for axis in ("x", "y", "z"):
            values = _values(getattr(trace, axis, None))
            if values and not isinstance(values[0], list):
                columns.append((f"{trace.name or f'trace {i + 1}'} {axis}", values))
    note = (
        f"Excel has no native chart like plotly's {traces[0].type!r}: the data is below; "
        "the PDF export shows the chart"
    )
    return _ChartPlan(title, x_title, y_title, columns, [], note=note)


def _category_plan(
    traces: list[Any], layout: Any, title: str, x_title: str, y_title: str
) -> _ChartPlan:
    """Bars, lines and areas share one category column: the union of their x values."""
    categories: dict[Any, None] = {}
    per_trace: list[tuple[_Series, dict[Any, Any]]] = []
    for i, trace in enumerate(traces):
        kind, subtype = _trace_kind(trace, layout)
        if kind not in _CATEGORY_KINDS:
            continue
        name = trace.name or (y_title if len(traces) == 1 else "") or f"series {i + 1}"
        if trace.type == "histogram":
            cats, vals = _histogram(trace)
        elif kind == "bar":  # horizontal: categories on y
            cats, vals = _values(trace.y), _values(trace.x)
        else:
            cats, vals = _values(trace.x), _values(trace.y)
            if not cats:
                cats = list(range(len(vals)))
        points: dict[Any, Any] = {}
        for cat, val in zip(cats, vals, strict=False):
            categories.setdefault(cat, None)
            if kind in ("column", "bar") and isinstance(val, (int, float)) and cat in points:
                points[cat] = points[cat] + val  # plotly stacks repeated bars: Excel gets the sum
            else:
                points[cat] = val
        per_trace.append((_Series(name, kind, subtype, 0, 0, _color(trace)), points))
    cat_title = y_title if per_trace and per_trace[0][0].kind == "bar" else x_title
    columns: list[tuple[str, list[Any]]] = [(cat_title or "category", list(categories))]
    series = []
    for s, points in per_trace:
        columns.append((s.name, [points.get(c) for c in categories]))
        s.y_col = len(columns) - 1
        series.append(s)
    if series and series[0].kind == "bar":
        x_title, y_title = y_title, x_title
    return _ChartPlan(title, x_title, y_title, columns, series)


def _histogram(trace: Any) -> tuple[list[Any], list[Any]]:
    import numpy as np

    raw = [v for v in _values(trace.x) if isinstance(v, (int, float))]
    if not raw:
        return [], []
    counts, edges = np.histogram(np.asarray(raw, dtype=float), bins=trace.nbinsx or "auto")
    labels = [f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(len(counts))]
    return labels, [int(c) for c in counts]
