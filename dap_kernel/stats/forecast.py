"""Forecasting a governed time series, and backtesting the forecasts: ``dap.stats.forecast``.

The series is built in the engine exactly as :func:`~dap_kernel.stats.decompose` builds it (one
row per ``date_trunc`` bucket of the caller's governed rows), then fitted with statsmodels:

* ``ets`` (the default ``auto`` picks among these by AICc): exponential smoothing state-space
  models with additive errors, no/additive/damped trend, no/additive season
  (``statsmodels.tsa.exponential_smoothing.ets.ETSModel``), whose prediction intervals are
  analytic;
* ``arima``: seasonal ARIMA, the "airline" model (0,1,1)(0,1,1)ₘ when the series is seasonal and
  (1,1,1) otherwise (``SARIMAX``);
* ``naive``: the seasonal naive forecast (last season repeated), the baseline every backtest
  is compared with.

Why statsmodels and not statsforecast: statsmodels is already what ``dap.stats`` stands on, and
fits a few thousand points in tens of milliseconds; statsforecast compiles its models with numba
on first use (seconds to tens of seconds in every new kernel) for a speed that only pays off on
thousands of series at once.

:func:`backtest` refits at several origins (rolling origin, non-overlapping windows over the end
of the series) and reports accuracy (MAE, RMSE, MAPE, MASE) **and interval coverage**: how
often the outcome fell inside the interval, to read against the nominal level.

>>> f = forecast("orders", "order_ts", "amount", every="day", horizon=28)  # doctest: +SKIP
>>> f.plot(); backtest("orders", "order_ts", "amount", folds=4).coverage     # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NotEnoughData, StatsError
from .forecast_results import Backtest, Fold, Forecast
from .source import Params as SourceParams
from .source import Queries
from .timeseries import EVERY, Series, bucketed, season

METHODS = ("auto", "ets", "arima", "naive")
MIN_POINTS = 8
MAX_HORIZON = 10_000


@dataclass(frozen=True)
class _Fit:
    """A fitted model's forecast of ``horizon`` steps, as plain arrays."""

    model: str
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    aicc: float | None


def forecast(
    source: str,
    time: str,
    value: str | None = None,
    *,
    every: str = "day",
    agg: str = "sum",
    horizon: int | None = None,
    method: str = "auto",
    period: int | None = None,
    level: float = 0.95,
    session: Queries | None = None,
    params: SourceParams = None,
) -> Forecast:
    """Forecast ``agg(value)`` per ``every`` bucket of ``time`` for ``horizon`` buckets (one
    season by default) with ``level`` prediction intervals. ``value=None`` counts rows;
    ``period`` defaults to the usual cycle of the bucket (7 days, 12 months …)."""
    period, horizon = _check(every, method, period, horizon, level)
    series = bucketed(source, time, value, every=every, agg=agg, session=session, params=params)
    y = series.values.to_numpy(dtype=np.float64)
    usable, notes = _seasonal(len(y), period)
    fit = _fit(y, method, usable, horizon, level)
    future = _future(series, horizon)
    return Forecast(
        time=tuple(t.to_pydatetime() for t in future),
        mean=_floats(fit.mean),
        lower=_floats(fit.lower),
        upper=_floats(fit.upper),
        level=level,
        model=fit.model,
        period=usable,
        aicc=fit.aicc,
        filled=series.filled,
        notes=notes,
        **_history(series),
    )


def backtest(
    source: str,
    time: str,
    value: str | None = None,
    *,
    every: str = "day",
    agg: str = "sum",
    horizon: int | None = None,
    folds: int = 3,
    method: str = "auto",
    period: int | None = None,
    level: float = 0.95,
    session: Queries | None = None,
    params: SourceParams = None,
) -> Backtest:
    """Fit ``method`` at ``folds`` origins over the end of the series, forecast ``horizon``
    buckets from each and compare with what happened: accuracy and interval coverage, beside
    the seasonal naive forecast on the same folds."""
    period, horizon = _check(every, method, period, horizon, level)
    if isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= 100:
        raise StatsError("folds must be a whole number from 1 to 100")
    series = bucketed(source, time, value, every=every, agg=agg, session=session, params=params)
    y = series.values.to_numpy(dtype=np.float64)
    first = len(y) - folds * horizon
    if first < MIN_POINTS:
        raise NotEnoughData(
            f"{len(y)} {every}s of data: {folds} folds of {horizon} need at least "
            f"{folds * horizon + MIN_POINTS}"
        )
    usable, notes = _seasonal(first, period)
    times = series.values.index
    done: list[Fold] = []
    errors: list[np.ndarray] = []
    naive_errors: list[np.ndarray] = []
    covered = naive_covered = 0
    model = ""
    for origin in range(first, len(y), horizon):
        fit = _fit(y[:origin], method, usable, horizon, level)
        naive = _naive(y[:origin], usable, horizon, level)
        actual = y[origin : origin + horizon]
        model = fit.model
        errors.append(actual - fit.mean)
        naive_errors.append(actual - naive.mean)
        covered += int(((fit.lower <= actual) & (actual <= fit.upper)).sum())
        naive_covered += int(((naive.lower <= actual) & (actual <= naive.upper)).sum())
        done.append(
            Fold(
                origin=times[origin - 1].to_pydatetime(),
                time=tuple(t.to_pydatetime() for t in times[origin : origin + horizon]),
                actual=_floats(actual),
                mean=_floats(fit.mean),
                lower=_floats(fit.lower),
                upper=_floats(fit.upper),
            )
        )
    err = np.concatenate(errors)
    outcomes = y[first:]
    scale = _naive_scale(y[:first], usable)
    return Backtest(
        model=model,
        method=method,
        horizon=horizon,
        level=level,
        folds=tuple(done),
        mae=float(np.mean(np.abs(err))),
        rmse=float(math.sqrt(np.mean(err**2))),
        mape=None if (outcomes == 0).any() else float(np.mean(np.abs(err / outcomes))),
        mase=None if scale == 0 else float(np.mean(np.abs(err)) / scale),
        coverage=covered / len(err),
        baseline_mae=float(np.mean(np.abs(np.concatenate(naive_errors)))),
        baseline_coverage=naive_covered / len(err),
        notes=notes,
        **_history(series),
    )


# --------------------------------------------------------------------------------------------
# Checks


def _check(
    every: str, method: str, period: int | None, horizon: int | None, level: float
) -> tuple[int | None, int]:
    """The season length (None for yearly buckets without one) and the horizon, checked."""
    if method not in METHODS:
        raise StatsError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if every not in EVERY:
        raise StatsError(f"every must be one of {', '.join(EVERY)}, not {every!r}")
    usual = EVERY[every][0]
    checked = season(every, period) if period is not None or usual is not None else None
    if horizon is None:
        horizon = checked or 3
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not horizon >= 1:
        raise StatsError("horizon must be a whole number of buckets, 1 or more")
    if horizon > MAX_HORIZON:
        raise StatsError(f"horizon must be at most {MAX_HORIZON:,} buckets")
    if isinstance(level, bool) or not isinstance(level, float | int) or not 0 < level < 1:
        raise StatsError("level must be between 0 and 1, e.g. 0.95")
    return checked, horizon


def _seasonal(points: int, period: int | None) -> tuple[int | None, tuple[str, ...]]:
    """The season the fit may use: a seasonal model needs two full seasons and a few points."""
    if points < MIN_POINTS:
        raise NotEnoughData(f"{points} buckets of data: a forecast needs at least {MIN_POINTS}")
    if period is not None and points < 2 * period + 2:
        return None, (
            f"{points} buckets is less than two seasons of {period}: fitted without a season",
        )
    return period, ()


# --------------------------------------------------------------------------------------------
# Models


def _fit(y: np.ndarray, method: str, period: int | None, horizon: int, level: float) -> _Fit:
    if method == "naive":
        return _naive(y, period, horizon, level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the optimiser
        try:
            if method == "arima":
                return _arima(y, period, horizon, level)
            return _ets(y, period, horizon, level, choose=method == "auto")
        except (ValueError, np.linalg.LinAlgError) as e:
            raise StatsError(f"cannot fit the series: {e}") from None


def _ets(y: np.ndarray, period: int | None, horizon: int, level: float, *, choose: bool) -> _Fit:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(y)  # ETSModel's prediction summary needs an index (statsmodels 0.15)

    seasons: tuple[str | None, ...] = ("add", None) if period else (None,)
    trends: tuple[tuple[str | None, bool], ...] = ((None, False), ("add", False), ("add", True))
    candidates = (
        [(t, d, s) for s in seasons for t, d in trends]
        if choose
        else [("add", True, seasons[0])]  # Holt-Winters, damped: the usual robust choice
    )
    best: tuple[float, Any, str] | None = None
    for trend, damped, seasonal in candidates:
        fit = ETSModel(
            series,
            error="add",
            trend=trend,
            damped_trend=damped,
            seasonal=seasonal,
            seasonal_periods=period if seasonal else None,
        ).fit(disp=False)
        aicc = float(fit.aicc)
        if best is None or (math.isfinite(aicc) and (aicc < best[0] or not math.isfinite(best[0]))):
            name = "ETS(A,{},{})".format(
                "N" if trend is None else ("Ad" if damped else "A"), "A" if seasonal else "N"
            )
            best = (aicc, fit, name + (f" period {period}" if seasonal else ""))
    assert best is not None
    aicc, fit, name = best
    frame = fit.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(
        alpha=1 - level
    )
    return _from_frame(name, frame, "pi", aicc)


def _arima(y: np.ndarray, period: int | None, horizon: int, level: float) -> _Fit:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    if period:
        order, seasonal, name = (0, 1, 1), (0, 1, 1, period), f"ARIMA(0,1,1)(0,1,1)[{period}]"
    else:
        order, seasonal, name = (1, 1, 1), (0, 0, 0, 0), "ARIMA(1,1,1)"
    fit = SARIMAX(y, order=order, seasonal_order=seasonal).fit(disp=False)
    frame = fit.get_forecast(horizon).summary_frame(alpha=1 - level)
    return _from_frame(name, frame, "mean_ci", float(fit.aicc))


def _from_frame(name: str, frame: Any, bounds: str, aicc: float) -> _Fit:
    """A statsmodels prediction summary (``mean``, ``<bounds>_lower``, ``<bounds>_upper``)."""
    return _Fit(
        model=name,
        mean=frame["mean"].to_numpy(dtype=np.float64),
        lower=frame[f"{bounds}_lower"].to_numpy(dtype=np.float64),
        upper=frame[f"{bounds}_upper"].to_numpy(dtype=np.float64),
        aicc=aicc if math.isfinite(aicc) else None,
    )


def _naive(y: np.ndarray, period: int | None, horizon: int, level: float) -> _Fit:
    """The last season repeated (the last value without a season), with Hyndman &
    Athanasopoulos' intervals: residual sd × √(seasons ahead)."""
    from scipy.stats import norm

    m = period or 1
    steps = np.arange(horizon)
    mean = y[len(y) - m + steps % m]
    resid = y[m:] - y[:-m]
    sd = float(np.std(resid, ddof=1)) if len(resid) > 1 else 0.0
    half = float(norm.ppf(0.5 + level / 2)) * sd * np.sqrt(steps // m + 1)
    name = f"seasonal naive period {m}" if period else "naive"
    return _Fit(model=name, mean=mean, lower=mean - half, upper=mean + half, aicc=None)


def _naive_scale(y: np.ndarray, period: int | None) -> float:
    """MASE's denominator: the in-sample mean absolute error of the (seasonal) naive forecast."""
    m = period or 1
    if len(y) <= m:
        return 0.0
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def _future(series: Series, horizon: int) -> Any:
    import pandas as pd

    index = series.values.index
    freq = index.freq or EVERY[series.every][1]
    return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]


def _history(series: Series) -> dict[str, Any]:
    """What a forecast and a backtest both say of the series they were made from."""
    return {
        "history_time": series.time,
        "history": _floats(series.values.to_numpy(dtype=np.float64)),
        "every": series.every,
        "agg": series.agg,
        "source": series.source,
        "sql": series.sql,
        "fetched_rows": series.fetched_rows,
    }


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
