"""Forecasts of a governed series: a known weekly pattern is forecast to within its noise, the
intervals cover about as often as they claim (and a backtest measures it), ARIMA and the naive
baseline agree with statsmodels fitted directly, and bad arguments give one clear error."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

from dap_kernel import stats
from dap_kernel.session import Workspace
from dap_kernel.stats import NotEnoughData, StatsError

PATTERN = np.array([10.0, 12.0, 14.0, 13.0, 11.0, 30.0, 25.0])
START = datetime(2025, 1, 6)  # a Monday
NOISE = 2.0


def truth(days: int) -> np.ndarray:
    """The noise-free daily total: a slow trend plus the weekly pattern."""
    d = np.arange(days)
    return 100 + 0.2 * d + PATTERN[d % 7]


def sales(workspace: Workspace, days: int = 210, seed: int = 3, name: str = "sales") -> np.ndarray:
    """``main.<name>``: two sales a day whose daily total is ``truth`` plus normal noise."""
    rng = np.random.default_rng(seed)
    daily = truth(days) + rng.normal(0, NOISE, days)
    times, amounts = [], []
    for d in range(days):
        for h in (9, 15):
            times.append(START + timedelta(days=d, hours=h))
            amounts.append(daily[d] / 2)
    workspace.catalog.create_table(
        f"main.{name}", pl.DataFrame({"ts": times, "amount": amounts}), owner="tester"
    )
    return daily


def test_a_weekly_pattern_is_forecast_with_honest_intervals(workspace: Workspace) -> None:
    days = 210
    sales(workspace, days)
    session = workspace.session()

    f = stats.forecast("sales", "ts", "amount", every="day", horizon=28, session=session)

    assert f.fetched_rows == days and len(f.history) == days  # one row per day came back
    assert f.model.startswith("ETS(") and f.model.endswith(",A) period 7") and f.period == 7
    assert f.time[0] == START + timedelta(days=days) and len(f.time) == 28
    expected = truth(days + 28)[days:]
    assert np.abs(np.array(f.mean) - expected).mean() < 2 * NOISE
    low, high = np.array(f.lower), np.array(f.upper)
    assert (low < np.array(f.mean)).all() and (np.array(f.mean) < high).all()
    # 95 % intervals around a noise of sd 2: about ±4 wide at the first step, wider later.
    assert 2.5 < (high[0] - low[0]) / 2 < 7 and high[-1] - low[-1] >= high[0] - low[0]
    weekday_peak = int(np.argmax(f.mean[:7]))
    assert f.time[weekday_peak].weekday() == 5  # Saturday holds the 30
    assert f.to_frame().columns == ["time", "forecast", "lower", "upper"]
    assert isinstance(f.plot(), go.Figure) and "ETS(" in f._repr_html_()


def test_the_backtest_reports_accuracy_and_coverage(workspace: Workspace) -> None:
    daily = sales(workspace, 280)
    session = workspace.session()

    bt = stats.backtest(
        "sales", "ts", "amount", every="day", horizon=14, folds=6, level=0.9, session=session
    )

    assert len(bt.folds) == 6 and all(len(f.time) == 14 for f in bt.folds)
    assert bt.folds[-1].time[-1] == START + timedelta(days=279)
    assert np.allclose([a for f in bt.folds for a in f.actual], daily[-84:])
    errors = np.array([a - m for f in bt.folds for a, m in zip(f.actual, f.mean, strict=True)])
    assert bt.mae == pytest.approx(np.abs(errors).mean())
    assert bt.rmse == pytest.approx(np.sqrt((errors**2).mean()))
    inside = [
        lo <= a <= hi
        for f in bt.folds
        for a, lo, hi in zip(f.actual, f.lower, f.upper, strict=True)
    ]
    assert bt.coverage == pytest.approx(np.mean(inside))
    # Honest 90 % intervals on 84 outcomes: coverage well away from both 0.5 and 1 is expected.
    assert 0.75 <= bt.coverage <= 1.0
    # The model knows the trend, the seasonal naive forecast does not.
    assert bt.mae < bt.baseline_mae and bt.mase is not None and bt.mase < 1
    frame = bt.to_frame()
    assert frame.height == 84 and frame["covered"].mean() == pytest.approx(bt.coverage)
    assert isinstance(bt.plot(), go.Figure) and "interval coverage" in bt._repr_html_()


def test_over_confident_intervals_show_in_the_coverage(workspace: Workspace) -> None:
    """A level of 0.2 claims little: the backtest must say the intervals held about that
    rarely, not report a coverage that cannot fail."""
    sales(workspace, 280)
    bt = stats.backtest(
        "sales", "ts", "amount", horizon=14, folds=6, level=0.2, session=workspace.session()
    )
    assert bt.coverage < 0.45


def test_arima_and_naive_match_statsmodels_and_numpy(workspace: Workspace) -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    daily = sales(workspace, 140)
    session = workspace.session()

    arima = stats.forecast("sales", "ts", "amount", method="arima", horizon=7, session=session)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SARIMAX(daily, order=(0, 1, 1), seasonal_order=(0, 1, 1, 7)).fit(disp=False)
    frame = ref.get_forecast(7).summary_frame(alpha=0.05)
    assert arima.model == "ARIMA(0,1,1)(0,1,1)[7]"
    assert np.allclose(arima.mean, frame["mean"], rtol=1e-6)
    assert np.allclose(arima.upper, frame["mean_ci_upper"], rtol=1e-6)

    naive = stats.forecast("sales", "ts", "amount", method="naive", horizon=10, session=session)
    assert np.allclose(naive.mean, np.concatenate([daily[-7:], daily[-7:-4]]))
    sd = np.std(daily[7:] - daily[:-7], ddof=1)
    assert (naive.upper[0] - naive.mean[0]) == pytest.approx(1.959964 * sd, rel=1e-5)
    assert (naive.upper[8] - naive.mean[8]) == pytest.approx(1.959964 * sd * np.sqrt(2), rel=1e-5)


def test_counts_and_short_series(workspace: Workspace) -> None:
    sales(workspace, 12, name="short")
    session = workspace.session()

    counted = stats.forecast("short", "ts", every="day", agg="count", horizon=3, session=session)
    assert counted.history == (2.0,) * 12 and np.allclose(counted.mean, 2.0, atol=1e-3)
    assert counted.period is None and "fitted without a season" in counted.notes[0]

    with pytest.raises(NotEnoughData, match="need at least"):
        stats.backtest("short", "ts", "amount", horizon=7, folds=2, session=session)
    with pytest.raises(StatsError, match="method must be"):
        stats.forecast("short", "ts", "amount", method="prophet", session=session)
    with pytest.raises(StatsError, match="horizon must be"):
        stats.forecast("short", "ts", "amount", horizon=0, session=session)
    with pytest.raises(StatsError, match="level must be"):
        stats.forecast("short", "ts", "amount", level=95, session=session)
    with pytest.raises(StatsError, match="every must be"):
        stats.forecast("short", "ts", "amount", every="fortnight", session=session)
    with pytest.raises(StatsError, match="folds must be"):
        stats.backtest("short", "ts", "amount", folds=0, session=session)
