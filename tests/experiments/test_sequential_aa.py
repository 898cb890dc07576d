"""An A/A simulation: the always-valid interval keeps its promise under continuous peeking.

200 simulated experiments with no true effect are looked at 20 times each as their data
arrive. A fixed-horizon test read at every look declares a "winner" far more often than
alpha; the sequential interval (the confidence sequence gbstats uses) excludes zero at some
look in at most alpha of the experiments.
"""

from __future__ import annotations

import numpy as np

from dap_kernel.experiments import stats_engine as se

ALPHA = 0.05
EXPERIMENTS, PEEKS, PER_PEEK = 200, 20, 250  # 5,000 units per arm at the last look


def _cumulative(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per experiment and look: cumulative Σx and Σx² of one arm (vectorised)."""
    x = rng.lognormal(1.0, 0.8, (EXPERIMENTS, PEEKS, PER_PEEK))  # skewed, like revenue
    return np.cumsum(x.sum(axis=2), axis=1), np.cumsum((x**2).sum(axis=2), axis=1)


def test_sequential_false_positive_rate_stays_below_alpha_under_peeking() -> None:
    rng = np.random.default_rng(2026)
    (sa, ssa), (sb, ssb) = _cumulative(rng), _cumulative(rng)
    sequential_hits = np.zeros(EXPERIMENTS, dtype=bool)
    naive_hits = np.zeros(EXPERIMENTS, dtype=bool)
    for i in range(EXPERIMENTS):
        for k in range(PEEKS):
            n = (k + 1) * PER_PEEK
            a = se.MeanStats(n, float(sa[i, k]), float(ssa[i, k]))
            b = se.MeanStats(n, float(sb[i, k]), float(ssb[i, k]))
            e = se.effect(a, b, relative=False)
            low, high = se.sequential_interval(e, ALPHA, tuning=2 * PEEKS * PER_PEEK)
            excluded = low > 0 or high < 0
            # the always-valid p-value is the interval's dual: p < alpha iff 0 is outside
            p = se.sequential_pvalue(e, ALPHA, tuning=2 * PEEKS * PER_PEEK)
            assert excluded == (p < ALPHA)
            sequential_hits[i] |= excluded
            naive_hits[i] |= e.pvalue() < ALPHA
    print(f"A/A: sequential {sequential_hits.mean():.3f}, naive peeking {naive_hits.mean():.3f}")
    assert sequential_hits.mean() <= ALPHA
    assert naive_hits.mean() > 2 * ALPHA  # why peeking at a fixed-horizon test misleads


def test_sequential_interval_is_wider_than_fixed_and_tightens_with_data() -> None:
    small = se.effect(se.MeanStats(500, 500, 1500), se.MeanStats(500, 520, 1600), relative=False)
    big = se.effect(
        se.MeanStats(50_000, 50_000, 150_000), se.MeanStats(50_000, 52_000, 160_000), relative=False
    )
    for e in (small, big):
        low, high = se.sequential_interval(e)
        fixed = e.interval()
        assert low < fixed[0] and high > fixed[1]
    assert se.sequential_halfwidth(big) < se.sequential_halfwidth(small)
