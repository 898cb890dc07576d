"""Time-series decomposition (statsmodels' STL or classical ``seasonal_decompose``).

The engine builds the series: the governed source bucketed by ``date_trunc(every, time)`` and
aggregated (``sum``, ``avg``, ``count``, ``min``, ``max``), so only one row per bucket comes
back, however many rows the table holds. Buckets with no rows are filled before decomposing
(0 for sums and counts, linear interpolation for the others) and the result says how many.

>>> d = decompose("orders", "order_ts", every="day", agg="count", session=s)  # doctest: +SKIP
>>> d.seasonal_strength, d.plot()                                             # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from ..sqlbuild import DIALECT, Params, is_not_null
from .errors import NotEnoughData, StatsError
from .results import Decomposition
from .source import Params as SourceParams
from .source import Queries, as_double, client, open_source

# Bucket → (default period: the usual seasonal cycle, pandas frequency of the buckets)
EVERY: dict[str, tuple[int | None, str]] = {
    "minute": (60, "min"),
    "hour": (24, "h"),
    "day": (7, "D"),
    "week": (52, "W-MON"),  # date_trunc('week', …) is the Monday
    "month": (12, "MS"),
    "quarter": (4, "QS"),
    "year": (None, "YS"),
}
AGGREGATES: dict[str, type[exp.Func]] = {
    "sum": exp.Sum,
    "avg": exp.Avg,
    "count": exp.Count,
    "min": exp.Min,
    "max": exp.Max,
}
METHODS = ("stl", "additive", "multiplicative")
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Series:
    """``agg(value)`` per bucket of ``time``, as the engine counted it, at a regular frequency."""

    values: Any  # a pandas Series on a DatetimeIndex, empty buckets filled
    every: str
    agg: str  # as people read it: "sum", "count of rows" …
    source: str
    filled: int  # buckets with no rows, filled in
    sql: str
    fetched_rows: int

    @property
    def time(self) -> tuple[datetime, ...]:
        return tuple(t.to_pydatetime() for t in self.values.index)


def bucketed(
    source: str,
    time: str,
    value: str | None,
    *,
    every: str,
    agg: str,
    session: Queries | None,
    params: SourceParams,
) -> Series:
    """The series of a governed source, one row per bucket computed in the engine.

    ``value=None`` counts rows. Only ``date_trunc(every, time)`` buckets come back, however many
    rows the table holds; buckets with no rows are filled (0 for sums and counts, linear
    interpolation for the others) and counted in ``filled``."""
    if every not in EVERY:
        raise StatsError(f"every must be one of {', '.join(EVERY)}, not {every!r}")
    if agg not in AGGREGATES:
        raise StatsError(f"agg must be one of {', '.join(AGGREGATES)}, not {agg!r}")
    if value is None and agg != "count":
        raise StatsError("without a value column the series counts rows: use agg='count'")
    session = client(session)
    src = open_source(source, session, params)
    stamp = src.column(time)
    type_ = src.type_of(time)
    if not (pa.types.is_timestamp(type_) or pa.types.is_date(type_)):
        raise StatsError(f"column {time!r} holds {type_}, not dates or times")
    if value is None:
        measure: exp.Expr = exp.Count(this=exp.Star())
    else:
        x = as_double(src.numeric(value))
        measure = AGGREGATES[agg](this=x)
    bound = Params(prefix="dap_stats_")
    bucket = exp.func("date_trunc", bound.bind(every), stamp.copy(), dialect=DIALECT)
    query = (
        src.select(exp.alias_(bucket, "t", quoted=True), exp.alias_(measure, "v", quoted=True))
        .where(is_not_null(stamp.copy()))
        .group_by(exp.Literal.number(1))
        .order_by(exp.Literal.number(1))
        .limit(MAX_POINTS + 1)
    )
    result = session.query(query.sql(dialect=DIALECT), {**src.params, **bound.values})
    if result.row_count > MAX_POINTS:
        raise StatsError(f"more than {MAX_POINTS:,} {every}s: use a coarser every=")
    values, filled = _regular(result.table, EVERY[every][1], agg)
    return Series(
        values=values,
        every=every,
        agg=agg if value is not None else "count of rows",
        source=src.written_short,
        filled=filled,
        sql=result.sql,
        fetched_rows=result.row_count,
    )


def season(every: str, period: int | None) -> int:
    """``period``, or the usual cycle of the bucket (7 days, 12 months, 24 hours …)."""
    if every not in EVERY:
        raise StatsError(f"every must be one of {', '.join(EVERY)}, not {every!r}")
    period = period if period is not None else EVERY[every][0]
    if period is None or isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise StatsError(f"period must be a whole number of {every}s, 2 or more: give period=")
    return period


def decompose(
    source: str,
    time: str,
    value: str | None = None,
    *,
    every: str = "day",
    agg: str = "sum",
    period: int | None = None,
    method: str = "stl",
    robust: bool = False,
    session: Queries | None = None,
    params: SourceParams = None,
) -> Decomposition:
    """Split ``agg(value)`` per ``every`` bucket of ``time`` into trend, seasonal and residual
    parts. ``value=None`` counts rows. ``period`` defaults to the usual cycle of the bucket (7
    days, 12 months, 24 hours …); ``method`` is ``stl`` (robust to outliers with ``robust``),
    or classical ``additive`` / ``multiplicative``."""
    if method not in METHODS:
        raise StatsError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    period = season(every, period)
    series = bucketed(source, time, value, every=every, agg=agg, session=session, params=params)
    if len(series.values) < 2 * period:
        raise NotEnoughData(
            f"{len(series.values)} {every}s of data: a decomposition with period {period} needs "
            f"at least {2 * period}"
        )
    parts = _split(series.values, period, method, robust)
    observed, trend, seasonal, resid = (np.asarray(p, dtype=np.float64) for p in parts)
    multiplicative = method == "multiplicative"
    return Decomposition(
        time=series.time,
        observed=tuple(float(v) for v in observed),
        trend=tuple(float(v) for v in trend),
        seasonal=tuple(float(v) for v in seasonal),
        resid=tuple(float(v) for v in resid),
        period=period,
        method={"stl": "STL", "additive": "classical additive"}.get(
            method, "classical multiplicative"
        ),
        every=every,
        agg=series.agg,
        source=series.source,
        filled=series.filled,
        trend_strength=_strength(trend, resid, multiplicative),
        seasonal_strength=_strength(seasonal, resid, multiplicative),
        sql=series.sql,
        fetched_rows=series.fetched_rows,
    )


def _regular(table: pa.Table, freq: str, agg: str) -> tuple[Any, int]:
    """The buckets as a pandas series at a regular frequency; empty buckets filled."""
    import pandas as pd

    frame = table.to_pandas()
    if frame.empty:
        raise NotEnoughData("the source has no rows with a time")
    series = pd.Series(
        pd.to_numeric(frame["v"], errors="coerce").to_numpy(dtype=float),
        index=pd.DatetimeIndex(pd.to_datetime(frame["t"])),
    )
    full = pd.date_range(series.index[0], series.index[-1], freq=freq)
    if len(full) == 0 or not series.index.isin(full).all():
        full = series.index.union(full)
    regular = series.reindex(full)
    missing = int(regular.isna().sum())
    if missing:
        regular = regular.fillna(0.0) if agg in ("sum", "count") else regular.interpolate("time")
        regular = regular.bfill().ffill()
    return regular, missing


def _split(series: Any, period: int, method: str, robust: bool) -> tuple[Any, Any, Any, Any]:
    from statsmodels.tsa.seasonal import STL, seasonal_decompose

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas frequency inference notes
        try:
            if method == "stl":
                fit = STL(series.to_numpy(), period=period, robust=robust).fit()
            else:
                fit = seasonal_decompose(
                    series.to_numpy(), model=method, period=period, extrapolate_trend="freq"
                )
        except ValueError as e:
            raise StatsError(f"cannot decompose the series: {e}") from None
    return series.to_numpy(), fit.trend, fit.seasonal, fit.resid


def _strength(part: Any, resid: Any, multiplicative: bool) -> float:
    """Hyndman & Athanasopoulos' strength: max(0, 1 − Var(R) / Var(part + R)), on logs for a
    multiplicative decomposition."""
    if multiplicative:
        if (part <= 0).any() or (resid <= 0).any():
            return math.nan
        part, resid = np.log(part), np.log(resid)
    total = float(np.var(part + resid))
    if total == 0:
        return 0.0
    return max(0.0, 1.0 - float(np.var(resid)) / total)
