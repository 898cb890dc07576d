"""Hypothesis tests equal scipy's and statsmodels' on the same data: on samples directly, and
on a governed source from the engine's sufficient statistics (to 1e-9 relative)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportions_ztest

import dap_kernel as dap
from dap_kernel import stats
from dap_kernel.stats import NotEnoughData, NotNumeric, StatsError, TestResult
from tests.stats.conftest import Data

REL = 1e-9


def group(frame: pl.DataFrame, name: str, column: str = "salary") -> np.ndarray:
    return frame.filter(pl.col("grp") == name)[column].drop_nulls().to_numpy().astype(float)


def same(result: TestResult, reference: object) -> None:
    assert result.statistic == pytest.approx(reference.statistic, rel=REL)  # type: ignore[attr-defined]
    assert result.pvalue == pytest.approx(reference.pvalue, rel=REL, abs=1e-300)  # type: ignore[attr-defined]


# -- on samples -------------------------------------------------------------------------------


def test_the_contract_form_welch_on_two_samples() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 40), rng.normal(0.5, 2, 55)

    result = dap.stats.ttest(a, b, equal_var=False)

    reference = sps.ttest_ind(a, b, equal_var=False)
    same(result, reference)
    assert result.df == pytest.approx(reference.df)
    low, high = reference.confidence_interval()
    assert result.ci == pytest.approx((low, high))
    assert result.test == "Welch t-test" and result.estimate == pytest.approx(a.mean() - b.mean())


def test_samples_may_be_series_arrays_or_lists_with_nulls() -> None:
    a = pl.Series([1.0, 2.5, None, 3.0, 4.5])
    b = [2.0, None, 3.5, 5.0, 6.0, float("nan")]

    result = stats.ttest(a, b)

    same(result, sps.ttest_ind([1.0, 2.5, 3.0, 4.5], [2.0, 3.5, 5.0, 6.0]))
    assert [g.n for g in result.groups] == [4, 4]


def test_one_sample_paired_mannwhitney_anova_chi2_proportions() -> None:
    rng = np.random.default_rng(4)
    a, b, c = rng.normal(0, 1, 30), rng.normal(0.4, 1, 30), rng.normal(1, 1, 25)

    same(stats.ttest(a, popmean=0.2), sps.ttest_1samp(a, 0.2))
    same(stats.ttest(a, b, paired=True), sps.ttest_rel(a, b))
    same(stats.ttest(a, b, alternative="less"), sps.ttest_ind(a, b, alternative="less"))
    same(stats.mannwhitney(a, c), sps.mannwhitneyu(a, c))
    same(stats.anova(a, b, c), sps.f_oneway(a, b, c))
    same(stats.chisquare([18, 22, 30, 30]), sps.chisquare([18, 22, 30, 30]))
    table = [[12, 30, 8], [20, 25, 15]]
    chi2 = stats.chi2_contingency(table)
    same(chi2, sps.chi2_contingency(table))
    assert chi2.df == 2 and chi2.observed == ((12, 30, 8), (20, 25, 15))
    z = stats.proportions_ztest([45, 60], [300, 310])
    z_ref, p_ref = proportions_ztest(np.array([45, 60]), np.array([300, 310]))
    assert (z.statistic, z.pvalue) == pytest.approx((z_ref, p_ref), rel=REL)
    assert z.estimate == pytest.approx(45 / 300 - 60 / 310)


# -- on a governed source, from sufficient statistics ----------------------------------------


def test_welch_and_student_from_per_group_statistics(data: Data) -> None:
    a, b = group(data.frame, "a"), group(data.frame, "b")
    session = data.session()

    welch = stats.ttest_by("people", "salary", "grp", groups=("a", "b"), session=session)
    student = stats.ttest_by(
        "people", "salary", "grp", groups=("a", "b"), equal_var=True, session=session
    )

    reference = sps.ttest_ind(a, b, equal_var=False)
    same(welch, reference)
    assert welch.df == pytest.approx(reference.df, rel=REL)
    assert welch.ci == pytest.approx(tuple(reference.confidence_interval()), rel=1e-9)
    same(student, sps.ttest_ind(a, b))
    assert welch.fetched_rows == 3  # one row per group: the values stayed in the engine
    assert "VARIANCE(" in welch.sql


def test_one_sample_and_paired_from_the_engine(data: Data) -> None:
    session = data.session()
    before = data.frame["before"].to_numpy()
    after = data.frame["after"].to_numpy()

    mean = stats.ttest_mean("people", "before", 10.0, session=session)
    paired = stats.ttest_paired("people", "after", "before", session=session)
    one_sided = stats.ttest_paired(
        "people", "after", "before", alternative="greater", session=session
    )

    same(mean, sps.ttest_1samp(before, 10.0))
    assert mean.ci == pytest.approx(
        tuple(np.array(sps.ttest_1samp(before, 10.0).confidence_interval()) - 10.0), rel=1e-9
    )
    same(paired, sps.ttest_rel(after, before))
    same(one_sided, sps.ttest_rel(after, before, alternative="greater"))
    assert paired.fetched_rows == 1


def test_anova_chi2_proportions_mannwhitney_from_the_engine(data: Data) -> None:
    session = data.session()
    frame = data.frame
    groups = [group(frame, g) for g in ("a", "b", "c")]

    same(stats.anova_by("people", "salary", "grp", session=session), sps.f_oneway(*groups))

    crosstab = (
        frame.group_by("grp", "region").len().pivot(on="region", index="grp", values="len")
    ).sort("grp")
    observed = crosstab.select("APAC", "EMEA").to_numpy()
    chi2 = stats.chi2_by("people", "grp", "region", session=session)
    same(chi2, sps.chi2_contingency(observed))
    assert chi2.row_labels == ("a", "b", "c") and chi2.column_labels == ("APAC", "EMEA")

    counts = [int(frame.filter(pl.col("grp") == g)["churned"].sum()) for g in ("a", "c")]
    sizes = [frame.filter(pl.col("grp") == g).height for g in ("a", "c")]
    z = stats.proportions_by("people", "churned", "grp", groups=("a", "c"), session=session)
    assert (z.statistic, z.pvalue) == pytest.approx(
        proportions_ztest(np.array(counts), np.array(sizes)), rel=REL
    )

    u = stats.mannwhitney_by("people", "salary", "grp", groups=("b", "c"), session=session)
    same(u, sps.mannwhitneyu(groups[1], groups[2]))
    assert u.fetched_rows == groups[1].size + groups[2].size  # ranks need the values


def test_test_results_show_and_plot(data: Data) -> None:
    session = data.session()
    for result in (
        stats.ttest_by("people", "salary", "grp", groups=("a", "b"), session=session),
        stats.chi2_by("people", "grp", "region", session=session),
        stats.proportions_by("people", "churned", "grp", groups=("a", "b"), session=session),
    ):
        page = result._repr_html_()
        assert "p-value" in page and result.test in page
        assert isinstance(result.plot(), go.Figure)


def test_bad_input_gives_one_clear_typed_error(data: Data) -> None:
    session = data.session()
    with pytest.raises(NotNumeric, match="'grp'.*not numbers"):
        stats.ttest_by("people", "grp", "region", session=session)
    with pytest.raises(NotEnoughData, match="group 'zz' of 'grp' has no rows"):
        stats.ttest_by("people", "salary", "grp", groups=("a", "zz"), session=session)
    with pytest.raises(StatsError, match="3 group"):
        stats.ttest_by("people", "salary", "grp", session=session)  # which two?
    with pytest.raises(NotEnoughData, match="group 'one' of 'g' has 1 non-null value"):
        stats.ttest_by(
            "SELECT salary, CASE WHEN id = 1 THEN 'one' ELSE grp END AS g FROM people",
            "salary",
            "g",
            groups=("a", "one"),
            session=session,
        )
    with pytest.raises(StatsError, match="0/1"):
        stats.proportions_by("people", "score", "grp", groups=("a", "b"), session=session)
    with pytest.raises(NotNumeric):
        stats.ttest(["a", "b", "c"], [1, 2, 3])
    with pytest.raises(NotEnoughData, match="at least 2"):
        stats.ttest([1.0], [2.0, 3.0])
    with pytest.raises(NotEnoughData):
        stats.ttest([], [2.0, 3.0])
    with pytest.raises(StatsError, match="alternative"):
        stats.ttest([1, 2, 3], [2, 3, 4], alternative="bigger")
    with pytest.raises(StatsError, match="as long as"):
        stats.ttest([1, 2, 3], [2, 3], paired=True)
