"""Regression equals statsmodels (and numpy's least squares) on the same rows; a series with a
known weekly pattern decomposes into that pattern; the series is bucketed in the engine."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
import statsmodels.formula.api as smf

from dap_kernel import stats
from dap_kernel.session import Workspace
from dap_kernel.stats import NotEnoughData, StatsError
from dap_kernel.stats.regression import formula_columns
from tests.stats.conftest import Data


def test_ols_matches_statsmodels_and_least_squares(data: Data) -> None:
    frame = data.frame.to_pandas()
    fit = stats.ols("bonus ~ salary + C(grp)", "people", session=data.session())
    reference = smf.ols("bonus ~ salary + C(grp)", frame).fit()

    assert fit.nobs == len(frame)
    for name, value in reference.params.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-9)
        assert fit.pvalues[name] == pytest.approx(reference.pvalues[name], rel=1e-6, abs=1e-300)
    assert fit.measure("R²") == pytest.approx(reference.rsquared, rel=1e-9)
    design = np.column_stack([np.ones(len(frame)), frame["salary"]])
    slope = np.linalg.lstsq(design, frame["bonus"], rcond=None)[0][1]
    simple = stats.ols("bonus ~ salary", "people", session=data.session())
    assert simple.params["salary"] == pytest.approx(slope, rel=1e-9)
    assert fit.fetched_rows == len(frame)
    assert "OLS Regression Results" in fit.summary()
    assert "salary" in fit._repr_html_() and isinstance(fit.plot(), go.Figure)
    assert fit.to_frame().height == len(reference.params)


def test_rows_with_a_missing_value_are_left_out(data: Data) -> None:
    fit = stats.ols("before ~ score", "people", session=data.session())

    assert fit.nobs == data.frame["score"].drop_nulls().len()


def test_logit_matches_statsmodels(data: Data) -> None:
    frame = data.frame.with_columns(pl.col("churned").cast(pl.Int64)).to_pandas()
    fit = stats.logit("churned ~ before + C(grp)", "people", session=data.session())
    reference = smf.logit("churned ~ before + C(grp)", frame).fit(disp=0)

    for name, value in reference.params.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-6)
    assert fit.measure("pseudo R² (McFadden)") == pytest.approx(reference.prsquared, rel=1e-6)
    assert fit.kind == "logit" and "z" in fit._repr_html_()


def test_only_the_columns_the_formula_names_are_pulled() -> None:
    columns = ["y", "x", "grp", "email", "x2"]
    assert formula_columns("y ~ x + C(grp) + np.log(x2)", columns) == ["y", "x", "grp", "x2"]
    assert formula_columns('y ~ Q("x")', columns) == ["y", "x"]
    with pytest.raises(StatsError, match="outcome ~ terms"):
        formula_columns("y + x", columns)


def test_a_bad_formula_is_one_clear_error(data: Data) -> None:
    with pytest.raises(StatsError, match="cannot fit"):
        stats.ols("bonus ~ salary + nosuch(salary)", "people", session=data.session())
    with pytest.raises(StatsError, match="names no column"):
        stats.ols("a ~ b", "people", session=data.session())
    with pytest.raises(StatsError, match="cannot fit"):
        stats.logit("salary ~ before", "people", session=data.session())  # not 0/1


def weekly(
    workspace: Workspace, days: int = 140, gap: int | None = None, name: str = "sales"
) -> np.ndarray:
    """Rows every 6 hours over ``days`` days whose daily sum has a trend and a weekly
    pattern; the day ``gap`` has no rows."""
    pattern = np.array([10.0, 12.0, 14.0, 13.0, 11.0, 30.0, 25.0])
    daily = np.array([100 + 0.5 * d + pattern[d % 7] for d in range(days)])
    start = datetime(2025, 1, 6)  # a Monday
    times, amounts = [], []
    for d in range(days):
        if d == gap:
            continue
        for h in range(4):
            times.append(start + timedelta(days=d, hours=6 * h))
            amounts.append(daily[d] / 4)
    workspace.catalog.create_table(
        f"main.{name}", pl.DataFrame({"ts": times, "amount": amounts}), owner="tester"
    )
    if gap is not None:
        daily[gap] = 0.0
    return daily


def test_a_weekly_pattern_is_recovered(workspace: Workspace) -> None:
    daily = weekly(workspace)
    session = workspace.session()

    d = stats.decompose("sales", "ts", "amount", every="day", session=session)

    assert d.period == 7 and d.filled == 0 and len(d.time) == len(daily)
    assert np.allclose(d.observed, daily)
    assert d.fetched_rows == len(daily)  # one row per day, not one per row (4 a day)
    seasonal = np.array(d.seasonal[14:-14])
    profile = np.array([seasonal[i::7].mean() for i in range(7)])
    expected = np.array([10.0, 12.0, 14.0, 13.0, 11.0, 30.0, 25.0])
    weekday = d.time[14].weekday()  # align the profile with Monday = 0
    profile = np.roll(profile, weekday)
    assert np.corrcoef(profile, expected - expected.mean())[0, 1] > 0.99
    assert d.seasonal_strength > 0.5
    assert np.allclose(
        np.array(d.observed), np.array(d.trend) + np.array(d.seasonal) + np.array(d.resid)
    )
    classical = stats.decompose(
        "sales", "ts", "amount", every="day", method="additive", session=session
    )
    assert classical.method == "classical additive" and not np.isnan(classical.trend).any()
    assert isinstance(d.plot(), go.Figure) and "seasonal strength" in d._repr_html_()
    counted = stats.decompose("sales", "ts", every="week", agg="count", period=4, session=session)
    assert counted.observed[0] == 28


def test_empty_buckets_are_filled_and_counted(workspace: Workspace) -> None:
    daily = weekly(workspace, gap=40, name="gappy")
    session = workspace.session()

    summed = stats.decompose("gappy", "ts", "amount", session=session)
    averaged = stats.decompose("gappy", "ts", "amount", agg="avg", session=session)

    assert summed.filled == averaged.filled == 1 and len(summed.time) == len(daily)
    assert summed.observed[40] == 0.0  # no sales that day
    assert averaged.observed[40] == pytest.approx(
        (averaged.observed[39] + averaged.observed[41]) / 2
    )  # interpolated


def test_decomposition_input_errors(workspace: Workspace) -> None:
    weekly(workspace, days=10)
    session = workspace.session()
    with pytest.raises(NotEnoughData, match="needs at least 14"):
        stats.decompose("sales", "ts", "amount", session=session)
    with pytest.raises(StatsError, match="every must be"):
        stats.decompose("sales", "ts", "amount", every="fortnight", session=session)
    with pytest.raises(StatsError, match="not dates or times"):
        stats.decompose("sales", "amount", "amount", session=session)
    with pytest.raises(StatsError, match="agg='count'"):
        stats.decompose("sales", "ts", session=session)
