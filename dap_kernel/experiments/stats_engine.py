"""The numbers of an experiment analysis, from sufficient statistics only.

Everything here takes per-variant counts, sums, sums of squares and sums of products (what one
GROUP BY in the engine returns) and gives estimates, intervals and p-values; nothing sees a
row. The formulas follow GrowthBook's stats engine (``gbstats``, MIT licence), whose published
test figures our tests reproduce:

* means from ``n, Σx, Σx²`` with the sample variance; proportions with ``p(1−p)``;
* ratio metrics ``Σm / Σd`` with the delta method (``variance_of_ratios``);
* CUPED: one pooled ``θ = cov(post, pre) / var(pre)`` over both arms, each arm's mean adjusted
  by ``θ·pre_mean``; the relative effect's variance as gbstats'
  ``frequentist_variance_relative_cuped``;
* relative lift ``(μ_b − μ_a)/|μ_a|`` with the delta-method variance;
* Welch's t with the Welch–Satterthwaite degrees of freedom;
* sequential testing: the always-valid confidence sequence of Waudby-Smith et al. (2023, eq. 9)
  as gbstats computes it, tuned by the expected sample size (``sequential_tuning``);
* Bayesian chance to beat control: the normal approximation with a flat prior,
  ``P(effect > 0) = Φ(estimate / se)``.

scipy is imported inside the functions that need it, so importing this module costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import NotEnoughData

SEQUENTIAL_TUNING = 5000.0  # gbstats' default: the sample size the sequence is tightest at


@dataclass(frozen=True)
class MeanStats:
    """One arm of a mean (or count) metric: units, Σx, Σx²."""

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n <= 1:
            return 0.0
        return max(0.0, (self.sum_squares - self.sum**2 / self.n) / (self.n - 1))


@dataclass(frozen=True)
class ProportionStats:
    """One arm of a proportion metric: units and successes (variance ``p(1−p)``, as gbstats)."""

    n: int
    sum: float

    @property
    def sum_squares(self) -> float:
        return self.sum

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        return self.mean * (1.0 - self.mean)


Simple = MeanStats | ProportionStats


def covariance(n: int, a: Simple, b: Simple, sum_products: float) -> float:
    """Sample covariance from sums (population form when both are proportions, as gbstats)."""
    if n <= 1:
        return 0.0
    if isinstance(a, ProportionStats) and isinstance(b, ProportionStats):
        return sum_products / n - a.sum * b.sum / n**2
    return (sum_products - a.sum * b.sum / n) / (n - 1)


def variance_of_ratios(
    mean_m: float, var_m: float, mean_d: float, var_d: float, cov: float
) -> float:
    """Delta-method variance of ``M / D``."""
    if mean_d == 0:
        return 0.0
    return var_m / mean_d**2 + var_d * mean_m**2 / mean_d**4 - 2 * cov * mean_m / mean_d**3


@dataclass(frozen=True)
class RatioStats:
    """One arm of a ratio metric ``Σm / Σd`` (revenue per order): both sums and ``Σ m·d``."""

    n: int
    numerator: Simple
    denominator: Simple
    sum_products: float

    @property
    def mean(self) -> float:
        return self.numerator.sum / self.denominator.sum if self.denominator.sum else 0.0

    @property
    def variance(self) -> float:
        if self.denominator.mean == 0 or self.n <= 1:
            return 0.0
        cov = covariance(self.n, self.numerator, self.denominator, self.sum_products)
        return variance_of_ratios(
            self.numerator.mean,
            self.numerator.variance,
            self.denominator.mean,
            self.denominator.variance,
            cov,
        )


@dataclass(frozen=True)
class CupedStats:
    """One arm with a pre-period covariate: post and pre statistics and ``Σ post·pre``;
    ``theta`` is set by :func:`cuped_pair` (pooled over both arms)."""

    n: int
    post: Simple
    pre: Simple
    sum_products: float
    theta: float = 0.0

    @property
    def covariance(self) -> float:
        return covariance(self.n, self.post, self.pre, self.sum_products)

    @property
    def mean(self) -> float:
        return self.post.mean - self.theta * self.pre.mean

    @property
    def unadjusted_mean(self) -> float:
        return self.post.mean

    @property
    def variance(self) -> float:
        if self.n <= 1:
            return 0.0
        t = self.theta
        return self.post.variance + t**2 * self.pre.variance - 2 * t * self.covariance


Stats = MeanStats | ProportionStats | RatioStats | CupedStats


def _joint(a: Simple, b: Simple) -> Simple:
    if isinstance(a, ProportionStats) and isinstance(b, ProportionStats):
        return ProportionStats(a.n + b.n, a.sum + b.sum)
    return MeanStats(a.n + b.n, a.sum + b.sum, a.sum_squares + b.sum_squares)


def cuped_pair(a: CupedStats, b: CupedStats) -> tuple[CupedStats, CupedStats]:
    """Both arms with the pooled θ (gbstats' ``compute_theta``); θ = 0 when either period has
    no variance (the analysis is then the unadjusted one)."""
    from dataclasses import replace

    n = a.n + b.n
    post, pre = _joint(a.post, b.post), _joint(a.pre, b.pre)
    if pre.variance == 0 or post.variance == 0:
        return replace(a, theta=0.0), replace(b, theta=0.0)
    cov = covariance(n, post, pre, a.sum_products + b.sum_products)
    theta = cov / pre.variance
    return replace(a, theta=theta), replace(b, theta=theta)


@dataclass(frozen=True)
class Effect:
    """A treatment-vs-control estimate: point, standard error, Welch degrees of freedom."""

    estimate: float
    se: float
    df: float
    relative: bool
    n: int  # units in both arms

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """The fixed-horizon two-sided ``1 − alpha`` interval (Student t with Welch df)."""
        from scipy import stats as sps

        q = float(sps.t.ppf(1 - alpha / 2, self.df)) if math.isfinite(self.df) else 0.0
        return (self.estimate - q * self.se, self.estimate + q * self.se)

    def pvalue(self) -> float:
        """Two-sided p-value of Welch's t (gbstats' ``TwoSidedTTest``)."""
        from scipy import stats as sps

        if self.se <= 0:
            return math.nan
        return float(2 * sps.t.sf(abs(self.estimate / self.se), self.df))


def _unadjusted_mean(s: Stats) -> float:
    return s.unadjusted_mean if isinstance(s, CupedStats) else s.mean


def welch_df(a: Stats, b: Stats) -> float:
    va, vb = a.variance, b.variance
    num = (va / a.n + vb / b.n) ** 2
    den = va**2 / (a.n**2 * (a.n - 1)) + vb**2 / (b.n**2 * (b.n - 1))
    return num / den if den > 0 else math.inf


def _relative_cuped_variance(a: CupedStats, b: CupedStats) -> float:
    """gbstats ``frequentist_variance_relative_cuped``."""
    base = a.unadjusted_mean
    if base == 0:
        return 0.0
    t = a.theta
    v_trt = (b.post.variance + t**2 * b.pre.variance - 2 * t * b.covariance) / (b.n * base**2)
    const = -b.post.mean
    num = (
        a.post.variance * const**2 / a.post.mean**2
        + 2 * t * a.covariance * const / a.post.mean
        + t**2 * a.pre.variance
    )
    return v_trt + num / (a.n * base**2)


def effect(a: Stats, b: Stats, *, relative: bool) -> Effect:
    """Treatment ``b`` against control ``a``: ``μ_b − μ_a`` or ``(μ_b − μ_a)/|μ_a|``."""
    if a.n < 2 or b.n < 2:
        raise NotEnoughData(f"each variant needs at least 2 units (have {a.n} and {b.n})")
    if isinstance(a, CupedStats) and isinstance(b, CupedStats) and a.theta != b.theta:
        a, b = cuped_pair(a, b)
    df = welch_df(a, b)
    n = a.n + b.n
    if not relative:
        return Effect(b.mean - a.mean, math.sqrt(a.variance / a.n + b.variance / b.n), df, False, n)
    base = _unadjusted_mean(a)
    if base == 0:
        raise NotEnoughData("the control's mean is 0: a relative lift is undefined")
    estimate = (b.mean - a.mean) / abs(base)
    if isinstance(a, CupedStats) and isinstance(b, CupedStats):
        var = _relative_cuped_variance(a, b)
    else:
        var = variance_of_ratios(b.mean, b.variance / b.n, a.mean, a.variance / a.n, 0.0)
    return Effect(estimate, math.sqrt(max(var, 0.0)), df, True, n)


def proportions_z(a: ProportionStats, b: ProportionStats) -> tuple[float, float]:
    """Two-proportion z-test with the pooled proportion (statsmodels ``proportions_ztest``):
    z of ``p_b − p_a`` and its two-sided p-value."""
    from scipy import stats as sps

    pooled = (a.sum + b.sum) / (a.n + b.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
    if se == 0:
        return math.nan, math.nan
    z = (b.mean - a.mean) / se
    return z, float(2 * sps.norm.sf(abs(z)))


# -- sequential testing ------------------------------------------------------------------------


def sequential_rho(alpha: float, tuning: float = SEQUENTIAL_TUNING) -> float:
    """ρ of the normal-mixture confidence sequence (Waudby-Smith et al., eq. 161)."""
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)


def sequential_halfwidth(
    e: Effect, alpha: float = 0.05, tuning: float = SEQUENTIAL_TUNING
) -> float:
    """Half-width of the always-valid ``1 − alpha`` interval at the current sample size."""
    rho = sequential_rho(alpha, tuning)
    n = e.n
    s2 = e.se**2 * n
    r2n = n * rho**2
    return math.sqrt(s2) * math.sqrt(2 * (r2n + 1) * math.log(math.sqrt(r2n + 1) / alpha) / r2n / n)


def sequential_interval(
    e: Effect, alpha: float = 0.05, tuning: float = SEQUENTIAL_TUNING
) -> tuple[float, float]:
    half = sequential_halfwidth(e, alpha, tuning)
    return (e.estimate - half, e.estimate + half)


def sequential_pvalue(e: Effect, alpha: float = 0.05, tuning: float = SEQUENTIAL_TUNING) -> float:
    """The always-valid p-value, ``min(1, 1/e-value)`` (gbstats ``SequentialTwoSidedTTest``)."""
    if e.se <= 0:
        return math.nan
    rho = sequential_rho(alpha, tuning)
    st2 = e.estimate**2 * e.n / e.se**2
    tr2p1 = e.n * rho**2 + 1
    log_evalue = rho**2 * st2 / (2 * tr2p1) - 0.5 * math.log(tr2p1)
    return 1.0 if log_evalue <= 0 else math.exp(-log_evalue)


# -- Bayesian, SRM, multiple comparisons -------------------------------------------------------


def chance_to_beat_control(e: Effect) -> float:
    """``P(effect > 0)`` under a flat prior and the normal approximation (gbstats, improper
    prior): ``Φ(estimate / se)``."""
    from scipy import stats as sps

    if e.se <= 0:
        return 0.5
    return float(sps.norm.sf(0.0, loc=e.estimate, scale=e.se))


def srm_pvalue(counts: Sequence[int], weights: Sequence[float]) -> float:
    """Chi-square goodness of fit of the units per variant to the planned weights (gbstats
    ``check_srm``); a p below 0.001 means the split is broken, and so is every result."""
    from scipy import stats as sps

    total = sum(counts)
    if not total:
        return 1.0
    wsum = sum(weights)
    x = sum(
        (o - w / wsum * total) ** 2 / (w / wsum * total)
        for o, w in zip(counts, weights, strict=True)
    )
    return float(sps.chi2.sf(x, len(counts) - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false discovery rate)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for k, i in enumerate(order):
        rank = m - k
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def adjust(pvalues: Sequence[float], method: str) -> list[float]:
    """``holm``, ``bh`` (Benjamini–Hochberg) or ``none``; NaN p-values stay NaN and do not count."""
    known = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    out = [math.nan] * len(pvalues)
    if method == "none":
        return list(pvalues)
    fn = {"holm": holm, "bh": benjamini_hochberg}.get(method)
    if fn is None:
        from .errors import ExperimentError

        raise ExperimentError(f"correction {method!r}: holm, bh or none")
    for i, p in zip(known, fn([pvalues[i] for i in known]), strict=True):
        out[i] = p
    return out
