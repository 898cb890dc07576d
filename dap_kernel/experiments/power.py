"""Power and sample size of a two-arm experiment, before it runs.

The normal approximation of the two-sample test the analysis uses: with ``N`` units split by
the weights, the standard error of the difference is ``sqrt(σ_a²/(N·w_a) + σ_b²/(N·w_b))``,
and a true difference ``δ`` is detected with probability ``Φ(δ/se − z) + Φ(−δ/se − z)``
(``z = Φ⁻¹(1 − α/2)``). For proportions each arm's σ² is ``p(1−p)`` at its own rate; for means
both arms share ``sd``. The figures equal statsmodels' ``NormalIndPower`` for the same effect
size (our tests check it).

>>> sample_size(0.05, baseline=0.10, kind="proportion").total  # doctest: +SKIP
115_520
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ExperimentError


@dataclass(frozen=True)
class SampleSize:
    """Units needed: in total and per variant (control first)."""

    total: int
    per_variant: tuple[int, ...]
    difference: float  # the absolute difference detected
    alpha: float
    power: float

    def __str__(self) -> str:
        arms = ", ".join(f"{n:,}" for n in self.per_variant)
        return (
            f"{self.total:,} units ({arms}) to detect a difference of {self.difference:g}"
            f" with power {self.power:g} at alpha {self.alpha:g}"
        )


def _spreads(
    mde: float, baseline: float, sd: float | None, kind: str, relative: bool
) -> tuple[float, float, float]:
    """(absolute difference, control variance, treatment variance)."""
    if kind not in ("mean", "proportion"):
        raise ExperimentError(f"kind {kind!r}: mean or proportion")
    if not (isinstance(mde, int | float) and math.isfinite(mde) and mde != 0):
        raise ExperimentError("the minimum detectable effect is a non-zero number")
    delta = mde * abs(baseline) if relative else float(mde)
    if kind == "proportion":
        treated = baseline + delta
        if not (0 < baseline < 1 and 0 < treated < 1):
            raise ExperimentError(
                f"proportions {baseline:g} → {treated:g}: both must lie between 0 and 1"
            )
        return delta, baseline * (1 - baseline), treated * (1 - treated)
    if sd is None or not sd > 0:
        raise ExperimentError("a mean metric's power needs its standard deviation (sd=…)")
    return delta, sd**2, sd**2


def _weights(weights: Sequence[float]) -> tuple[float, float]:
    if len(weights) != 2 or not all(w > 0 for w in weights):
        raise ExperimentError("power is computed for two arms with positive weights")
    total = float(sum(weights))
    return weights[0] / total, weights[1] / total


def power(
    n: int,
    mde: float,
    *,
    baseline: float,
    sd: float | None = None,
    kind: str = "mean",
    relative: bool = True,
    alpha: float = 0.05,
    weights: Sequence[float] = (0.5, 0.5),
) -> float:
    """Probability that ``n`` units in total detect a lift of ``mde`` (relative to
    ``baseline``, or absolute with ``relative=False``) at two-sided ``alpha``."""
    from scipy import stats as sps

    delta, var_a, var_b = _spreads(mde, baseline, sd, kind, relative)
    wa, wb = _weights(weights)
    if n <= 0:
        raise ExperimentError("n is a positive number of units")
    se = math.sqrt(var_a / (n * wa) + var_b / (n * wb))
    z = float(sps.norm.ppf(1 - alpha / 2))
    return float(sps.norm.cdf(abs(delta) / se - z) + sps.norm.cdf(-abs(delta) / se - z))


def sample_size(
    mde: float,
    *,
    baseline: float,
    sd: float | None = None,
    kind: str = "mean",
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    weights: Sequence[float] = (0.5, 0.5),
) -> SampleSize:
    """Units needed to detect a lift of ``mde`` with probability ``power``: the closed form
    (one tail), then refined with the two-tailed power so it matches statsmodels."""
    from scipy import optimize
    from scipy import stats as sps

    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ExperimentError("alpha and power lie between 0 and 1")
    delta, var_a, var_b = _spreads(mde, baseline, sd, kind, relative)
    wa, wb = _weights(weights)
    z = float(sps.norm.ppf(1 - alpha / 2)) + float(sps.norm.ppf(power))
    unit_var = var_a / wa + var_b / wb
    first = z**2 * unit_var / delta**2

    def gap(total: float) -> float:
        se = math.sqrt(unit_var / total)
        za = float(sps.norm.ppf(1 - alpha / 2))
        achieved = sps.norm.cdf(abs(delta) / se - za) + sps.norm.cdf(-abs(delta) / se - za)
        return float(achieved) - power

    exact = float(optimize.brentq(gap, first * 0.5, first * 1.5)) if gap(first) > 0 else first
    arms = (math.ceil(exact * wa), math.ceil(exact * wb))
    return SampleSize(sum(arms), arms, delta, alpha, power)
