"""Hypothesis tests on samples you hold, as scipy's (and statsmodels') functions.

On samples (``ttest``, ``mannwhitney``, ``anova``, ``chisquare``, ``chi2_contingency``,
``proportions_ztest``) the arguments are columns of a governed result (polars or pandas Series,
numpy or Arrow arrays, lists); nulls and NaNs are left out, and the answer is scipy's (or
statsmodels'), with the sample sizes, means and an interval beside it.

The same tests on a governed source, from the engine's sufficient statistics, are in
:mod:`.grouped`.

>>> dap.stats.ttest(a, b, equal_var=False).pvalue                 # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .errors import NotEnoughData, NotNumeric, StatsError
from .results import GroupStats, TestResult

ALTERNATIVES = ("two-sided", "less", "greater")


# --------------------------------------------------------------------------------------------
# Samples


def sample(values: Any, name: str = "sample") -> np.ndarray[Any, np.dtype[np.float64]]:
    """``values`` as float64 with nulls and NaNs left out; text → :class:`NotNumeric`."""
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        try:
            values = values.to_numpy()  # polars, pandas, Arrow
        except Exception:  # an Arrow array with nulls: go through Python values
            values = values.to_pylist() if hasattr(values, "to_pylist") else list(values)
    elif isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_pylist()
    array = np.asarray(values, dtype=object if not isinstance(values, np.ndarray) else None)
    if array.ndim != 1:
        raise StatsError(f"{name} must be one column of values, not shape {array.shape}")
    if array.dtype.kind in "biuf":
        numbers = array.astype(np.float64)
    else:
        try:
            numbers = np.array(
                [np.nan if v is None else float(v) for v in array.tolist()], dtype=np.float64
            )
        except (TypeError, ValueError):
            raise NotNumeric(f"{name} holds values that are not numbers") from None
    return numbers[~np.isnan(numbers)]


def _enough(values: np.ndarray[Any, Any], need: int, name: str) -> None:
    if values.size < need:
        raise NotEnoughData(
            f"{name} has {values.size} non-null value{'s' if values.size != 1 else ''}: "
            f"this test needs at least {need}"
        )


def check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise StatsError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}, not {alternative!r}"
        )
    return alternative


def _describe(label: str, values: np.ndarray[Any, Any]) -> GroupStats:
    sd = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return GroupStats(label, int(values.size), float(values.mean()), sd)


def ttest(
    a: Any,
    b: Any = None,
    *,
    popmean: float = 0.0,
    equal_var: bool = True,
    paired: bool = False,
    alternative: str = "two-sided",
) -> TestResult:
    """Student's or Welch's (``equal_var=False``) t-test of two samples, a paired t-test
    (``paired=True``), or a one-sample t-test against ``popmean`` (no ``b``). As scipy's
    ``ttest_ind`` / ``ttest_rel`` / ``ttest_1samp``, with nulls left out (in pairs when paired)."""
    from scipy import stats as sps

    check_alternative(alternative)
    if b is None:
        x = sample(a, "a")
        _enough(x, 2, "a")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = sps.ttest_1samp(x, popmean, alternative=alternative)
            ci = r.confidence_interval()
        return TestResult(
            test="one-sample t-test",
            statistic=float(r.statistic),
            pvalue=float(r.pvalue),
            statistic_name="t",
            df=float(r.df),
            alternative=alternative,
            estimate=float(x.mean()) - popmean,
            estimate_name=f"mean − {popmean:g}",
            ci=(float(ci.low) - popmean, float(ci.high) - popmean),
            groups=(_describe("a", x),),
            source="samples",
        )
    if paired:
        x, y = _pairs(a, b)
        _enough(x, 2, "the pairs")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = sps.ttest_rel(x, y, alternative=alternative)
            ci = r.confidence_interval()
        return TestResult(
            test="paired t-test",
            statistic=float(r.statistic),
            pvalue=float(r.pvalue),
            statistic_name="t",
            df=float(r.df),
            alternative=alternative,
            estimate=float((x - y).mean()),
            estimate_name="mean difference (a − b)",
            ci=(float(ci.low), float(ci.high)),
            groups=(_describe("a", x), _describe("b", y)),
            source="samples",
        )
    x, y = sample(a, "a"), sample(b, "b")
    _enough(x, 2, "a")
    _enough(y, 2, "b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = sps.ttest_ind(x, y, equal_var=equal_var, alternative=alternative)
        ci = r.confidence_interval()
    return TestResult(
        test="Student t-test" if equal_var else "Welch t-test",
        statistic=float(r.statistic),
        pvalue=float(r.pvalue),
        statistic_name="t",
        df=float(r.df),
        alternative=alternative,
        estimate=float(x.mean() - y.mean()),
        estimate_name="difference in means (a − b)",
        ci=(float(ci.low), float(ci.high)),
        groups=(_describe("a", x), _describe("b", y)),
        source="samples",
    )


def _pairs(a: Any, b: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x = _with_nans(a, "a")
    y = _with_nans(b, "b")
    if x.size != y.size:
        raise StatsError(f"paired samples must be as long as each other ({x.size} vs {y.size})")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def _with_nans(values: Any, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Like :func:`sample` but keeping the positions of nulls (as NaN), for pairing."""
    if hasattr(values, "to_list"):
        values = values.to_list()
    elif hasattr(values, "to_pylist"):
        values = values.to_pylist()
    try:
        return np.array([np.nan if v is None else float(v) for v in list(values)], dtype=np.float64)
    except (TypeError, ValueError):
        raise NotNumeric(f"{name} holds values that are not numbers") from None


def mannwhitney(a: Any, b: Any, *, alternative: str = "two-sided") -> TestResult:
    """The Mann–Whitney U test (scipy's ``mannwhitneyu``, with its default method); the
    estimate is U / (n₁n₂), the probability that a value of ``a`` exceeds one of ``b``."""
    from scipy import stats as sps

    check_alternative(alternative)
    x, y = sample(a, "a"), sample(b, "b")
    _enough(x, 1, "a")
    _enough(y, 1, "b")
    r = sps.mannwhitneyu(x, y, alternative=alternative)
    return TestResult(
        test="Mann–Whitney U test",
        statistic=float(r.statistic),
        pvalue=float(r.pvalue),
        statistic_name="U",
        alternative=alternative,
        estimate=float(r.statistic) / (x.size * y.size),
        estimate_name="P(a > b) + ½ P(a = b)",
        groups=(_describe("a", x), _describe("b", y)),
        source="samples",
    )


def anova(*samples: Any, labels: Sequence[str] | None = None) -> TestResult:
    """One-way ANOVA (scipy's ``f_oneway``) of two or more samples."""
    from scipy import stats as sps

    if len(samples) < 2:
        raise NotEnoughData("an ANOVA needs at least two samples")
    names = list(labels) if labels is not None else [f"sample {i + 1}" for i in range(len(samples))]
    if len(names) != len(samples):
        raise StatsError("give one label per sample")
    groups = [sample(s, n) for s, n in zip(samples, names, strict=True)]
    for g, n in zip(groups, names, strict=True):
        _enough(g, 1, n)
    total = sum(g.size for g in groups)
    if total <= len(groups):
        raise NotEnoughData("an ANOVA needs more values than groups")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = sps.f_oneway(*groups)
    return TestResult(
        test="one-way ANOVA",
        statistic=float(r.statistic),
        pvalue=float(r.pvalue),
        statistic_name="F",
        df=(float(len(groups) - 1), float(total - len(groups))),
        groups=tuple(_describe(n, g) for g, n in zip(groups, names, strict=True)),
        source="samples",
    )


def chisquare(observed: Any, expected: Any = None) -> TestResult:
    """Pearson's chi-square goodness-of-fit test of counts (scipy's ``chisquare``)."""
    from scipy import stats as sps

    counts = sample(observed, "observed")
    _enough(counts, 2, "observed")
    wanted = None if expected is None else sample(expected, "expected")
    if wanted is not None and wanted.size != counts.size:
        raise StatsError("expected must have one count per observed count")
    r = sps.chisquare(counts, wanted)
    return TestResult(
        test="chi-square goodness of fit",
        statistic=float(r.statistic),
        pvalue=float(r.pvalue),
        statistic_name="χ²",
        df=float(counts.size - 1),
        source="samples",
    )


def chi2_contingency(
    observed: Any,
    *,
    correction: bool = True,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
) -> TestResult:
    """Pearson's chi-square test of independence of a contingency table (rows × columns of
    counts), as scipy's ``chi2_contingency`` (Yates' correction on 2×2 tables by default)."""
    from scipy import stats as sps

    try:
        table = np.asarray(observed, dtype=np.float64)
    except (TypeError, ValueError):
        raise NotNumeric("a contingency table holds counts") from None
    if table.ndim != 2 or min(table.shape) < 2:
        raise NotEnoughData("a contingency table needs at least two rows and two columns")
    if (table < 0).any() or not np.isfinite(table).all():
        raise StatsError("a contingency table holds non-negative counts")
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        raise NotEnoughData("a row or column of the contingency table is empty")
    r = sps.chi2_contingency(table, correction=correction)
    rows = list(row_labels) if row_labels is not None else [str(i) for i in range(table.shape[0])]
    cols = (
        list(column_labels)
        if column_labels is not None
        else [str(j) for j in range(table.shape[1])]
    )
    return TestResult(
        test="chi-square test of independence",
        statistic=float(r.statistic),
        pvalue=float(r.pvalue),
        statistic_name="χ²",
        df=float(r.dof),
        observed=tuple(tuple(int(v) for v in row) for row in table),
        row_labels=tuple(rows),
        column_labels=tuple(cols),
        source="samples",
        method="Yates' continuity correction" if correction and r.dof == 1 else "",
    )


def proportions_ztest(
    successes: Sequence[int],
    trials: Sequence[int],
    *,
    alternative: str = "two-sided",
    labels: Sequence[str] = ("a", "b"),
) -> TestResult:
    """The two-proportion z-test (statsmodels' ``proportions_ztest``, pooled variance) of
    ``successes[i]`` out of ``trials[i]``; the interval of p₁ − p₂ is Wald's."""
    from statsmodels.stats.proportion import confint_proportions_2indep
    from statsmodels.stats.proportion import proportions_ztest as ztest

    check_alternative(alternative)
    if len(successes) != 2 or len(trials) != 2:
        raise StatsError("give two success counts and two trial counts")
    x = [int(v) for v in successes]
    n = [int(v) for v in trials]
    for label, xi, ni in zip(labels, x, n, strict=True):
        if ni <= 0:
            raise NotEnoughData(f"group {label!r} has no trials")
        if not 0 <= xi <= ni:
            raise StatsError(f"group {label!r}: successes must lie between 0 and the trials")
    sm_alt = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}[alternative]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z, p = ztest(np.array(x), np.array(n), alternative=sm_alt)
        low, high = confint_proportions_2indep(x[0], n[0], x[1], n[1], method="wald")
    shares = [xi / ni for xi, ni in zip(x, n, strict=True)]
    return TestResult(
        test="two-proportion z-test",
        statistic=float(z),
        pvalue=float(p),
        statistic_name="z",
        alternative=alternative,
        estimate=shares[0] - shares[1],
        estimate_name=f"difference in proportions ({labels[0]} − {labels[1]})",
        ci=(float(low), float(high)),
        groups=tuple(
            GroupStats(str(label), ni, s, math.sqrt(s * (1 - s)))
            for label, ni, s in zip(labels, n, shares, strict=True)
        ),
        source="counts",
    )
