"""The numbers of an analysis, checked against independent references.

* GrowthBook's stats engine (gbstats, github.com/growthbook/growthbook,
  ``packages/stats/tests``): its published worked examples for the t-test, proportions,
  CUPED, sequential intervals, the Bayesian chance to win and SRM, to gbstats' 5 decimals;
* scipy (``ttest_ind_from_stats``) and statsmodels (``proportions_ztest``, ``multipletests``,
  ``NormalIndPower``) to 1e-6 or better;
* for the delta method and CUPED, the same figures computed from the raw values with numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dap_kernel.experiments import power, sample_size
from dap_kernel.experiments import stats_engine as se
from dap_kernel.experiments.errors import ExperimentError, NotEnoughData

GB = 5e-6  # gbstats rounds its expected figures to 5 decimals


def close(x: float, want: float, tol: float = GB) -> bool:
    return abs(x - want) <= tol


# -- gbstats worked examples ------------------------------------------------------------------

# gbstats packages/stats/tests/frequentist/test_tests.py, TestTwoSidedTTest.setUp
GB_A = se.MeanStats(n=3407, sum=1396.87, sum_squares=52377.9767)
GB_B = se.MeanStats(n=3461, sum=2422.7, sum_squares=134698.29)


def test_gbstats_two_sided_ttest_relative() -> None:
    # gbstats frequentist/test_tests.py TestTwoSidedTTest.test_two_sided_ttest:
    # expected=0.70732, ci=(-0.03526, 1.44989), stddev 0.37879, pValue=0.06191
    e = se.effect(GB_A, GB_B, relative=True)
    low, high = e.interval()
    assert close(e.estimate, 0.70732) and close(e.se, 0.37879)
    assert close(low, -0.03526) and close(high, 1.44989)
    assert close(e.pvalue(), 0.06191)


def test_gbstats_two_sided_ttest_absolute() -> None:
    # gbstats TestTwoSidedTTest.test_two_sided_ttest_absolute:
    # expected=0.29, ci=(0.04538, 0.53462), stddev 0.12478, pValue=0.02016
    e = se.effect(GB_A, GB_B, relative=False)
    low, high = e.interval()
    assert close(e.estimate, 0.29) and close(e.se, 0.12478)
    assert close(low, 0.04538) and close(high, 0.53462)
    assert close(e.pvalue(), 0.02016)


def test_gbstats_proportions() -> None:
    # gbstats TestTwoSidedTTest.test_two_sided_ttest_binom: ProportionStatistic(14, 28) vs
    # (16, 30): expected=0.06667, ci=(-0.47767, 0.61101), stddev 0.2717, pValue=0.80707
    e = se.effect(se.ProportionStats(28, 14), se.ProportionStats(30, 16), relative=True)
    low, high = e.interval()
    assert close(e.estimate, 0.06667) and close(e.se, 0.2717)
    assert close(low, -0.47767) and close(high, 0.61101)
    assert close(e.pvalue(), 0.80707)


def test_gbstats_sequential_interval() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs (sequential_tuning_parameter=1000):
    # expected=0.50336, ci=(-0.55844, 1.56516), stddev 0.33341, pValue=1
    a = se.MeanStats(n=3000, sum=1396.87, sum_squares=52377.9767)
    e = se.effect(a, GB_B, relative=True)
    low, high = se.sequential_interval(e, tuning=1000)
    assert close(e.estimate, 0.50336) and close(e.se, 0.33341)
    assert close(low, -0.55844) and close(high, 1.56516)
    assert se.sequential_pvalue(e, tuning=1000) == 1.0


def test_gbstats_sequential_proportions() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs_prop (default tuning 5000):
    # expected=0.50386, ci=(0.40098, 0.60675), stddev 0.03386, pValue=0.0 (rounded)
    e = se.effect(se.ProportionStats(3000, 1396), se.ProportionStats(3461, 2422), relative=True)
    low, high = se.sequential_interval(e)
    assert close(e.estimate, 0.50386) and close(e.se, 0.03386)
    assert close(low, 0.40098) and close(high, 0.60675)
    assert se.sequential_pvalue(e) < 5e-6


def test_gbstats_cuped_sequential() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs_ra: RegressionAdjustedStatistic
    # with post/pre SampleMeanStatistics and post_pre_sum_of_products=1, theta pooled:
    # expected=0.50338, ci=(-0.50969, 1.51646), stddev 0.33341
    a = se.CupedStats(
        3000,
        post=se.MeanStats(3000, 1396.87, 52377.9767),
        pre=se.MeanStats(3000, 16.87, 527.9767),
        sum_products=1,
    )
    b = se.CupedStats(
        3461,
        post=se.MeanStats(3461, 2422.7, 134698.29),
        pre=se.MeanStats(3461, 22.7, 1348.29),
        sum_products=1,
    )
    a, b = se.cuped_pair(a, b)
    assert a.theta == b.theta != 0
    e = se.effect(a, b, relative=True)
    low, high = se.sequential_interval(e)
    assert close(e.estimate, 0.50338) and close(e.se, 0.33341)
    assert close(low, -0.50969) and close(high, 1.51646)


def test_gbstats_bayesian_chance_to_win() -> None:
    # gbstats packages/stats/tests/bayesian/test_tests.py, flat (improper) prior:
    # TestBinom.test_bayesian_binomial_ab_test: expected 0.04082, stddev 0.14725, ctw 0.60918
    e = se.effect(se.ProportionStats(100, 49), se.ProportionStats(100, 51), relative=True)
    assert close(e.estimate, 0.04082) and close(e.se, 0.14725)
    assert close(se.chance_to_beat_control(e), 0.60918)
    # TestNorm.test_bayesian_gaussian_ab_test: expected 0.05, stddev 0.03572, ctw 0.91923
    e = se.effect(se.MeanStats(10, 100, 1002.25), se.MeanStats(10, 105, 1111.5), relative=True)
    assert close(e.estimate, 0.05) and close(e.se, 0.03572)
    assert close(se.chance_to_beat_control(e), 0.91923)


def test_gbstats_srm() -> None:
    # gbstats packages/stats/tests/test_gbstats.py test_srm (growthbook commit 27d5413bc8,
    # "Generate Jupyter notebook of experiment results"): check_srm([1000, 1200], [0.5, 0.5])
    # rounds to 0.000020079 at 9 decimals
    assert abs(se.srm_pvalue([1000, 1200], [0.5, 0.5]) - 0.000020079) < 5e-10
    assert se.srm_pvalue([1000, 1200], [0.5, 0.5]) < 0.001  # flagged
    assert se.srm_pvalue([5000, 5010], [0.5, 0.5]) > 0.5


# -- scipy and statsmodels --------------------------------------------------------------------


def test_welch_equals_scipy_from_stats() -> None:
    from scipy import stats as sps

    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.normal(10, 3, int(rng.integers(20, 400)))
        y = rng.normal(10.5, 4, int(rng.integers(20, 400)))
        a = se.MeanStats(len(x), float(x.sum()), float((x**2).sum()))
        b = se.MeanStats(len(y), float(y.sum()), float((y**2).sum()))
        e = se.effect(a, b, relative=False)
        ref = sps.ttest_ind_from_stats(
            y.mean(), y.std(ddof=1), len(y), x.mean(), x.std(ddof=1), len(x), equal_var=False
        )
        assert e.estimate / e.se == pytest.approx(ref.statistic, abs=1e-6)
        assert e.pvalue() == pytest.approx(ref.pvalue, abs=1e-6)
        # the interval is scipy's too
        ci = sps.ttest_ind(y, x, equal_var=False).confidence_interval()
        assert e.interval() == pytest.approx((ci.low, ci.high), abs=1e-6)


def test_two_proportion_z_equals_statsmodels() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    for (sa, na), (sb, nb) in [
        ((120, 1000), (150, 1010)),
        ((14, 28), (16, 30)),
        ((5, 900), (9, 880)),
    ]:
        z, p = se.proportions_z(se.ProportionStats(na, sa), se.ProportionStats(nb, sb))
        ref_z, ref_p = proportions_ztest([sb, sa], [nb, na])
        assert z == pytest.approx(ref_z, abs=1e-6) and p == pytest.approx(ref_p, abs=1e-6)


@pytest.mark.parametrize("method,sm", [("holm", "holm"), ("bh", "fdr_bh")])
def test_corrections_equal_statsmodels(method: str, sm: str) -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    for size in (1, 2, 5, 12):
        ps = list(rng.uniform(0, 0.2, size))
        ps[0] = ps[-1]  # ties
        want = multipletests(ps, method=sm)[1]
        assert se.adjust(ps, method) == pytest.approx(list(want), abs=1e-12)
    assert math.isnan(se.adjust([0.01, math.nan, 0.04], "holm")[1])
    assert se.adjust([0.01, math.nan, 0.04], "holm")[2] == pytest.approx(0.04)
    with pytest.raises(ExperimentError):
        se.adjust([0.1], "bonferroni-ish")


def test_power_and_sample_size_equal_statsmodels() -> None:
    from statsmodels.stats.power import NormalIndPower

    ref = NormalIndPower()
    # mean metric: baseline 10, sd 5, a 20% lift is an effect size of 0.4
    assert power(100, 0.2, baseline=10, sd=5) == pytest.approx(
        ref.power(effect_size=0.4, nobs1=50, alpha=0.05), abs=1e-9
    )
    size = sample_size(0.2, baseline=10, sd=5)
    want = ref.solve_power(effect_size=0.4, alpha=0.05, power=0.8, ratio=1)
    assert size.per_variant == (math.ceil(want), math.ceil(want))
    # unequal split 30/70
    size = sample_size(2.0, baseline=10, sd=5, relative=False, weights=(0.3, 0.7))
    want = ref.solve_power(effect_size=0.4, alpha=0.05, power=0.8, ratio=0.7 / 0.3)
    assert size.per_variant[0] == pytest.approx(want, abs=1)
    # proportions: each arm at its own p(1-p); more units for a smaller lift
    small, big = (sample_size(m, baseline=0.1, kind="proportion") for m in (0.05, 0.1))
    assert small.total > 3 * big.total
    assert power(small.total, 0.05, baseline=0.1, kind="proportion") == pytest.approx(0.8, abs=1e-3)
    with pytest.raises(ExperimentError, match="standard deviation"):
        sample_size(0.1, baseline=3)
    with pytest.raises(ExperimentError, match="between 0 and 1"):
        sample_size(0.5, baseline=0.9, kind="proportion")


# -- delta method and CUPED from the raw values -------------------------------------------------


def test_ratio_delta_method_equals_linearisation() -> None:
    """Var(Σm/Σd) by the delta method = the variance of the linearised unit values
    ``(m − R·d) / mean(d)`` over n (the textbook identity), computed from the raw values."""
    rng = np.random.default_rng(5)
    d = rng.integers(1, 6, 4000).astype(float)
    m = d * rng.gamma(2, 10, 4000)
    s = se.RatioStats(
        4000,
        se.MeanStats(4000, m.sum(), (m**2).sum()),
        se.MeanStats(4000, d.sum(), (d**2).sum()),
        float((m * d).sum()),
    )
    r = m.sum() / d.sum()
    lin = (m - r * d) / d.mean()
    assert s.mean == pytest.approx(r, rel=1e-12)
    assert s.variance == pytest.approx(lin.var(ddof=1), rel=1e-9)


def test_cuped_equals_adjusted_values() -> None:
    """CUPED from sums = the difference of means of ``y − θ(x − x̄)`` with the pooled θ (the
    regression slope of y on x), and its variance shrinks by about corr(x, y)²."""
    rng = np.random.default_rng(8)
    n = 6000
    x = rng.gamma(3, 2, n)
    treat = rng.random(n) < 0.5
    y = 0.8 * x + rng.normal(0, 2, n) + 0.3 * treat

    def arm(mask: np.ndarray) -> se.CupedStats:
        yy, xx = y[mask], x[mask]
        return se.CupedStats(
            int(mask.sum()),
            se.MeanStats(int(mask.sum()), yy.sum(), (yy**2).sum()),
            se.MeanStats(int(mask.sum()), xx.sum(), (xx**2).sum()),
            float((yy * xx).sum()),
        )

    a, b = se.cuped_pair(arm(~treat), arm(treat))
    theta = np.cov(y, x, ddof=1)[0, 1] / x.var(ddof=1)
    assert a.theta == pytest.approx(theta, rel=1e-9)
    adj = y - theta * (x - x.mean())
    e = se.effect(a, b, relative=False)
    assert e.estimate == pytest.approx(adj[treat].mean() - adj[~treat].mean(), rel=1e-9)
    want_se = math.sqrt(
        adj[treat].var(ddof=1) / treat.sum() + adj[~treat].var(ddof=1) / (~treat).sum()
    )
    assert e.se == pytest.approx(want_se, rel=1e-3)
    plain = se.effect(a.post, b.post, relative=False)
    reduction = 1 - e.se**2 / plain.se**2
    assert reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=0.02)


def test_too_few_units_and_zero_control() -> None:
    with pytest.raises(NotEnoughData):
        se.effect(se.MeanStats(1, 1, 1), se.MeanStats(10, 5, 5), relative=False)
    with pytest.raises(NotEnoughData, match="control's mean is 0"):
        se.effect(se.MeanStats(5, 0, 0), se.MeanStats(5, 5, 6), relative=True)
