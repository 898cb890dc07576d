"""Cohort retention heatmap: one row per cohort, one column per period since it started, each
cell the share of the cohort still active.

Accepted shapes:

* **counts**: one row per (cohort, period) with the number of active members, e.g. from
  ``SELECT cohort, period, count(DISTINCT user_id) AS users …``. Columns named by
  ``cohort=`` (default ``"cohort"``), ``period=`` (default ``"period"``: 0, 1, 2 … periods since
  the cohort began) and ``value=`` (default: the one other numeric column). A cohort's size is
  its value at period 0 (its earliest period when 0 is missing).
* **activity**: raw rows of (member, activity time), with ``user=`` and ``time=`` naming the
  columns, ``first_seen=`` optionally the column of each member's start (default: the member's
  first activity) and ``grain=`` day | week | month (default) | quarter | year. Cohorts and
  periods are computed, counting distinct members.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from .columns import Columns, column_kind, require_columns
from .errors import ChartError
from .kinds import layout, matrix
from .registry import chart_type
from .theme import SEQUENTIAL

GRAINS = ("day", "week", "month", "quarter", "year")


@chart_type("cohort")
def cohort(
    frame: pl.DataFrame,
    *,
    x: str | None,
    y: Columns,
    color: str | None,
    title: str | None,
    cohort: str | None = None,
    period: str | None = None,
    value: str | None = None,
    user: str | None = None,
    time: str | None = None,
    first_seen: str | None = None,
    grain: str = "month",
) -> go.Figure:
    """Shares from 0 to 1 in ``z``, member counts in ``customdata``."""
    if user is not None or time is not None:
        counts = cohort_counts(frame, user=user, time=time, first_seen=first_seen, grain=grain)
        cohort, period, value = "cohort", "period", "users"
    else:
        cohort, period = cohort or "cohort", period or "period"
        if cohort not in frame.columns or period not in frame.columns:
            raise ChartError(
                "a cohort chart takes either counts (columns cohort, period and a count; name "
                "them with cohort=, period=, value=) or activity rows (user=, time=, "
                f"optional first_seen=); available columns: {', '.join(frame.columns)}"
            )
        value = value or _count_column(frame, cohort, period)
        require_columns(frame, [value])
        label = pl.col(cohort)
        if column_kind(frame.schema[cohort]) == "temporal":
            label = label.cast(pl.String)  # ISO text: sorts in time order, shows as written
        counts = frame.select(
            label,
            pl.col(period).cast(pl.Int64, strict=False),
            pl.col(value).cast(pl.Float64, strict=False),
        )
    shares = retention(counts, cohort, period, value)
    periods, cohorts, z = matrix(shares, period, cohort, "share")
    _, _, sizes = matrix(shares, period, cohort, value)
    trace = go.Heatmap(
        x=periods,
        y=cohorts,
        z=z,
        customdata=sizes,
        zmin=0,
        zmax=1,
        colorscale=[list(s) for s in SEQUENTIAL],
        colorbar={"title": {"text": "retained"}, "tickformat": ".0%"},
        hovertemplate=(
            f"{cohort} %{{y}}<br>{period} %{{x}}<br>%{{z:.1%}} retained"
            f"<br>%{{customdata:,}} {value}<extra></extra>"
        ),
        hoverongaps=False,
    )
    if len(periods) * len(cohorts) <= 400:
        trace.update(texttemplate="%{z:.0%}")
    figure = go.Figure(trace)
    figure.update_xaxes(title={"text": period}, type="category", side="top")
    figure.update_yaxes(title={"text": cohort}, type="category", autorange="reversed")
    figure = layout(figure, title, margin={"t": 104})  # room for the period axis on top
    figure.update_layout(meta={"dap": {"x": period, "y": cohort, "z": "share"}})
    return figure


def _count_column(frame: pl.DataFrame, cohort: str, period: str) -> str:
    numeric = [
        c
        for c in frame.columns
        if c not in (cohort, period) and column_kind(frame.schema[c]) == "numeric"
    ]
    if len(numeric) != 1:
        raise ChartError(
            "a cohort chart needs value= naming the count column "
            f"(numeric columns: {', '.join(numeric) or 'none'})"
        )
    return numeric[0]


def retention(counts: pl.DataFrame, cohort: str, period: str, value: str) -> pl.DataFrame:
    """Adds ``share``: each cell's value over its cohort's size (value at its first period)."""
    counts = counts.drop_nulls([cohort, period]).group_by([cohort, period]).agg(pl.col(value).sum())
    sizes = (
        counts.sort(period)
        .group_by(cohort, maintain_order=True)
        .agg(pl.col(value).first().alias("__size"))
    )
    return (
        counts.join(sizes, on=cohort)
        .with_columns(
            pl.when(pl.col("__size") > 0)
            .then(pl.col(value) / pl.col("__size"))
            .otherwise(None)
            .alias("share")
        )
        .drop("__size")
        .sort([cohort, period])
    )


def cohort_counts(
    frame: pl.DataFrame,
    *,
    user: str | None,
    time: str | None,
    first_seen: str | None = None,
    grain: str = "month",
) -> pl.DataFrame:
    """Activity rows → ``cohort`` (text label), ``period`` (int), ``users`` (distinct count)."""
    if user is None or time is None:
        raise ChartError("a cohort chart from activity rows needs user= and time=")
    require_columns(frame, [user, time, first_seen])
    if grain not in GRAINS:
        raise ChartError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")
    for column in (time, first_seen):
        if column is not None and column_kind(frame.schema[column]) != "temporal":
            raise ChartError(f"column {column!r} must hold dates or times for a cohort chart")
    active = _truncate(pl.col(time), grain)
    start = (
        _truncate(pl.col(first_seen), grain)
        if first_seen is not None
        else _truncate(pl.col(time).min().over(user), grain)
    )
    rows = frame.select(pl.col(user), active.alias("__active"), start.alias("__start")).drop_nulls()
    rows = rows.with_columns(_periods(pl.col("__start"), pl.col("__active"), grain).alias("period"))
    counts = (
        rows.filter(pl.col("period") >= 0)
        .group_by(["__start", "period"])
        .agg(pl.col(user).n_unique().cast(pl.Int64).alias("users"))
        .sort(["__start", "period"])
    )
    return counts.with_columns(_label(pl.col("__start"), grain).alias("cohort")).select(
        "cohort", "period", "users"
    )


def _truncate(column: pl.Expr, grain: str) -> pl.Expr:
    every = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}[grain]
    return column.dt.truncate(every).cast(pl.Date)


def _periods(start: pl.Expr, active: pl.Expr, grain: str) -> pl.Expr:
    if grain in ("day", "week"):
        days = (active - start).dt.total_days()
        return (days if grain == "day" else days // 7).cast(pl.Int64)
    per_year = {"month": 12, "quarter": 4, "year": 1}[grain]

    def index(column: pl.Expr) -> pl.Expr:
        year = column.dt.year().cast(pl.Int64) * per_year
        if grain == "month":
            return year + column.dt.month().cast(pl.Int64)
        if grain == "quarter":
            return year + column.dt.quarter().cast(pl.Int64)
        return year

    return index(active) - index(start)


def _label(start: pl.Expr, grain: str) -> pl.Expr:
    if grain == "quarter":
        return pl.format("{}-Q{}", start.dt.year(), start.dt.quarter())
    fmt: dict[str, Any] = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
    return start.dt.strftime(fmt[grain])
