"""Hypothesis tests on a governed source, from sufficient statistics the engine computes.

``ttest_by``, ``ttest_paired``, ``ttest_mean``, ``anova_by``, ``proportions_by`` and
``chi2_by``: the engine computes per-group count, mean and variance, success counts or a
contingency table through the caller's governed query, and the test is exact from those: no
row leaves the engine. ``mannwhitney_by`` needs ranks, so it pulls the two groups' values
(bounded by ``max_rows``). The answers are those of :mod:`.tests` on the same rows.

>>> dap.stats.ttest_by("orders", "total", by="channel", groups=("web", "store"))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlglot import exp

from ..sqlbuild import DIALECT, Params, is_not_null
from .errors import NotEnoughData, StatsError
from .results import GroupStats, TestResult
from .source import MAX_ROWS, Queries, Source, as_double, client, open_source
from .source import Params as SourceParams
from .tests import check_alternative, chi2_contingency, mannwhitney, proportions_ztest

MAX_GROUPS = 1000
_ENGINE = "computed in the engine from per-group count, mean and variance (exact)"


def _group_rows(
    src: Source,
    session: Queries,
    value: exp.Expr,
    by: str,
    extra: Sequence[tuple[str, exp.Expr]],
) -> tuple[list[dict[str, Any]], str, int]:
    """Per group of ``by`` (nulls left out): ``n`` (non-null values), ``mean``, ``var``, and
    the ``extra`` aggregates; the statement shown and the rows fetched."""
    key = src.column(by)
    projections = [
        exp.alias_(exp.cast(key.copy(), "VARCHAR"), "g", quoted=True),
        exp.alias_(exp.Count(this=value.copy()), "n", quoted=True),
        exp.alias_(exp.Avg(this=value.copy()), "mean", quoted=True),
        exp.alias_(exp.Variance(this=value.copy()), "var", quoted=True),
        *[exp.alias_(e, name, quoted=True) for name, e in extra],
    ]
    query = (
        src.select(*projections)
        .where(is_not_null(key.copy()))
        .group_by(exp.Literal.number(1))
        .order_by(exp.Literal.number(1))
        .limit(MAX_GROUPS + 1)
    )
    result = session.query(query.sql(dialect=DIALECT), src.params or None)
    rows = result.table.to_pylist()
    if len(rows) > MAX_GROUPS:
        raise StatsError(f"{by!r} has more than {MAX_GROUPS} groups")
    return rows, result.sql, result.row_count


def _pick_two(
    rows: list[dict[str, Any]], by: str, groups: Sequence[Any] | None, src: Source
) -> list[dict[str, Any]]:
    if groups is None:
        if len(rows) != 2:
            raise (NotEnoughData if len(rows) < 2 else StatsError)(
                f"{by!r} of {src.written_short} has {len(rows)} group(s)"
                ": a two-sample test needs two (pick them with groups=(a, b))"
            )
        return rows
    if len(groups) != 2:
        raise StatsError("groups= names two groups")
    found = {r["g"]: r for r in rows}
    picked = []
    for g in groups:
        label = str(g).lower() if isinstance(g, bool) else str(g)
        if label not in found:
            raise NotEnoughData(f"group {label!r} of {by!r} has no rows in {src.written_short}")
        picked.append(found[label])
    return picked


def _need(row: dict[str, Any], need: int, by: str) -> None:
    if int(row["n"]) < need:
        raise NotEnoughData(
            f"group {row['g']!r} of {by!r} has {row['n']} non-null value"
            f"{'s' if row['n'] != 1 else ''}: this test needs at least {need}"
        )


def _stats_of(row: dict[str, Any]) -> GroupStats:
    var = row["var"]
    sd = math.sqrt(var) if var is not None and var >= 0 else math.nan
    mean = row["mean"]
    return GroupStats(str(row["g"]), int(row["n"]), math.nan if mean is None else float(mean), sd)


def ttest_by(
    source: str,
    value: str,
    by: str,
    *,
    groups: Sequence[Any] | None = None,
    equal_var: bool = False,
    alternative: str = "two-sided",
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """Welch's (or Student's, ``equal_var=True``) t-test of ``value`` between two groups of
    ``by`` (the only two, or ``groups=(a, b)``), exact from the engine's per-group count, mean
    and variance (scipy's ``ttest_ind_from_stats``)."""
    from scipy import stats as sps

    check_alternative(alternative)
    session = client(session)
    src = open_source(source, session, params)
    x = as_double(src.numeric(value))
    rows, sql, fetched = _group_rows(src, session, x, by, [])
    first, second = _pick_two(rows, by, groups, src)
    _need(first, 2, by)
    _need(second, 2, by)
    a, b = _stats_of(first), _stats_of(second)
    r = sps.ttest_ind_from_stats(
        a.mean, a.sd, a.n, b.mean, b.sd, b.n, equal_var=equal_var, alternative=alternative
    )
    diff = a.mean - b.mean
    df: float
    if equal_var:
        df = a.n + b.n - 2
        pooled = ((a.n - 1) * a.sd**2 + (b.n - 1) * b.sd**2) / df
        se = math.sqrt(pooled * (1 / a.n + 1 / b.n))
    else:
        va, vb = a.sd**2 / a.n, b.sd**2 / b.n
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1)) if se else math.nan
    return TestResult(
        test="Student t-test" if equal_var else "Welch t-test",
        statistic=float(r.statistic),
        pvalue=float(r.pvalue),
        statistic_name="t",
        df=float(df),
        alternative=alternative,
        estimate=diff,
        estimate_name=f"difference in means ({a.label} − {b.label})",
        ci=_interval(diff, se, df, alternative),
        groups=(a, b),
        source=f"{src.written_short}: {value} by {by}",
        method=_ENGINE,
        sql=sql,
        fetched_rows=fetched,
    )


def _interval(
    estimate: float, se: float, df: float, alternative: str
) -> tuple[float, float] | None:
    """The 95% interval matching the alternative (one-sided ones open on one side)."""
    from scipy import stats as sps

    if not (math.isfinite(se) and math.isfinite(df)) or df <= 0:
        return None
    if alternative == "two-sided":
        half = float(sps.t.ppf(0.975, df)) * se
        return (estimate - half, estimate + half)
    bound = float(sps.t.ppf(0.95, df)) * se
    return (-math.inf, estimate + bound) if alternative == "less" else (estimate - bound, math.inf)


def _one_sample(
    n: int, mean: float, var: float, popmean: float, alternative: str
) -> tuple[float, float, float, tuple[float, float] | None]:
    """t, p, df and the interval of mean − popmean, from count, mean and variance."""
    from scipy import stats as sps

    df = n - 1
    se = math.sqrt(var / n) if var is not None and var >= 0 else math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if se:
            t = (mean - popmean) / se
        else:  # no spread: certain unless the mean is exactly popmean
            t = math.copysign(math.inf, mean - popmean) if mean != popmean else math.nan
        if alternative == "two-sided":
            p = float(2 * sps.t.sf(abs(t), df))
        elif alternative == "greater":
            p = float(sps.t.sf(t, df))
        else:
            p = float(sps.t.cdf(t, df))
    return float(t), p, float(df), _interval(mean - popmean, se, df, alternative)


def ttest_mean(
    source: str,
    value: str,
    popmean: float = 0.0,
    *,
    alternative: str = "two-sided",
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """One-sample t-test of ``value``'s mean against ``popmean``, exact from the engine's
    count, mean and variance."""
    check_alternative(alternative)
    session = client(session)
    src = open_source(source, session, params)
    x = as_double(src.numeric(value))
    n, mean, var, sql, fetched = _moments(src, session, x, [is_not_null(x.copy())])
    if n < 2:
        raise NotEnoughData(f"{value!r} has {n} non-null values: a t-test needs at least 2")
    t, p, df, ci = _one_sample(n, mean, var, popmean, alternative)
    return TestResult(
        test="one-sample t-test",
        statistic=t,
        pvalue=p,
        statistic_name="t",
        df=df,
        alternative=alternative,
        estimate=mean - popmean,
        estimate_name=f"mean − {popmean:g}",
        ci=ci,
        groups=(GroupStats(value, n, mean, math.sqrt(var) if var >= 0 else math.nan),),
        source=f"{src.written_short}: {value}",
        method="computed in the engine from count, mean and variance (exact)",
        sql=sql,
        fetched_rows=fetched,
    )


def ttest_paired(
    source: str,
    first: str,
    second: str,
    *,
    alternative: str = "two-sided",
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """Paired t-test of ``first`` − ``second`` in each row (rows with both values), exact from
    the engine's count, mean and variance of the differences."""
    check_alternative(alternative)
    session = client(session)
    src = open_source(source, session, params)
    a, b = as_double(src.numeric(first)), as_double(src.numeric(second))
    diff = exp.Sub(this=a.copy(), expression=b.copy())
    n, mean, var, sql, fetched = _moments(
        src, session, diff, [is_not_null(a.copy()), is_not_null(b.copy())]
    )
    if n < 2:
        raise NotEnoughData(
            f"{n} row(s) have both {first!r} and {second!r}: a paired t-test needs 2"
        )
    t, p, df, ci = _one_sample(n, mean, var, 0.0, alternative)
    return TestResult(
        test="paired t-test",
        statistic=t,
        pvalue=p,
        statistic_name="t",
        df=df,
        alternative=alternative,
        estimate=mean,
        estimate_name=f"mean difference ({first} − {second})",
        ci=ci,
        groups=(
            GroupStats(f"{first} − {second}", n, mean, math.sqrt(var) if var >= 0 else math.nan),
        ),
        source=f"{src.written_short}: {first} vs {second}",
        method="computed in the engine from count, mean and variance of the differences (exact)",
        sql=sql,
        fetched_rows=fetched,
    )


def _moments(
    src: Source, session: Queries, value: exp.Expr, conditions: list[exp.Expr]
) -> tuple[int, float, float, str, int]:
    query = src.select(
        exp.alias_(exp.Count(this=value.copy()), "n", quoted=True),
        exp.alias_(exp.Avg(this=value.copy()), "mean", quoted=True),
        exp.alias_(exp.Variance(this=value.copy()), "var", quoted=True),
    ).where(exp.and_(*conditions))
    result = session.query(query.sql(dialect=DIALECT), src.params or None)
    row = result.table.to_pylist()[0]
    n = int(row["n"])
    mean = math.nan if row["mean"] is None else float(row["mean"])
    var = math.nan if row["var"] is None else float(row["var"])
    return n, mean, var, result.sql, result.row_count


def anova_by(
    source: str,
    value: str,
    by: str,
    *,
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """One-way ANOVA of ``value`` across the groups of ``by``, exact from the engine's
    per-group count, mean and variance (the F of scipy's ``f_oneway``)."""
    from scipy import stats as sps

    session = client(session)
    src = open_source(source, session, params)
    x = as_double(src.numeric(value))
    rows, sql, fetched = _group_rows(src, session, x, by, [])
    if len(rows) < 2:
        raise NotEnoughData(f"{by!r} has {len(rows)} group(s): an ANOVA needs at least two")
    for row in rows:
        _need(row, 1, by)
    groups = [_stats_of(r) for r in rows]
    k = len(groups)
    total = sum(g.n for g in groups)
    if total <= k:
        raise NotEnoughData("an ANOVA needs more values than groups")
    grand = sum(g.n * g.mean for g in groups) / total
    between = sum(g.n * (g.mean - grand) ** 2 for g in groups)
    within = sum((g.n - 1) * g.sd**2 for g in groups if g.n > 1)
    df_between, df_within = k - 1, total - k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f = (between / df_between) / (within / df_within) if within else math.inf
        p = float(sps.f.sf(f, df_between, df_within))
    return TestResult(
        test="one-way ANOVA",
        statistic=float(f),
        pvalue=p,
        statistic_name="F",
        df=(float(df_between), float(df_within)),
        groups=tuple(groups),
        source=f"{src.written_short}: {value} by {by}",
        method=_ENGINE,
        sql=sql,
        fetched_rows=fetched,
    )


def proportions_by(
    source: str,
    outcome: str,
    by: str,
    *,
    groups: Sequence[Any] | None = None,
    alternative: str = "two-sided",
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """Two-proportion z-test of ``outcome`` (boolean, or 0/1) between two groups of ``by``,
    from the engine's per-group success and trial counts (exact)."""
    session = client(session)
    src = open_source(source, session, params)
    x = as_double(src.numeric(outcome))
    not_binary = exp.Filter(
        this=exp.Count(this=exp.Star()),
        expression=exp.Where(
            this=exp.and_(
                is_not_null(x.copy()),
                exp.Not(
                    this=exp.In(
                        this=x.copy(), expressions=[exp.Literal.number(0), exp.Literal.number(1)]
                    )
                ),
            )
        ),
    )
    extra = [("s", exp.Sum(this=x.copy())), ("bad", not_binary)]
    rows, sql, fetched = _group_rows(src, session, x, by, extra)
    if any(int(r["bad"]) for r in rows):
        raise StatsError(f"{outcome!r} must hold 0/1 or true/false for a test of proportions")
    first, second = _pick_two(rows, by, groups, src)
    _need(first, 1, by)
    _need(second, 1, by)
    result = proportions_ztest(
        [int(first["s"] or 0), int(second["s"] or 0)],
        [int(first["n"]), int(second["n"])],
        alternative=alternative,
        labels=(str(first["g"]), str(second["g"])),
    )
    from dataclasses import replace

    return replace(
        result,
        source=f"{src.written_short}: {outcome} by {by}",
        method="computed in the engine from per-group success and trial counts (exact)",
        sql=sql,
        fetched_rows=fetched,
    )


def chi2_by(
    source: str,
    row: str,
    column: str,
    *,
    correction: bool = True,
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """Chi-square test of independence of two columns, from the contingency table the engine
    counts (rows where both are non-null)."""
    from dataclasses import replace

    session = client(session)
    src = open_source(source, session, params)
    r_ref, c_ref = src.column(row), src.column(column)
    query = (
        src.select(
            exp.alias_(exp.cast(r_ref.copy(), "VARCHAR"), "r", quoted=True),
            exp.alias_(exp.cast(c_ref.copy(), "VARCHAR"), "c", quoted=True),
            exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True),
        )
        .where(exp.and_(is_not_null(r_ref.copy()), is_not_null(c_ref.copy())))
        .group_by(exp.Literal.number(1), exp.Literal.number(2))
        .limit(MAX_GROUPS * 10 + 1)
    )
    result = session.query(query.sql(dialect=DIALECT), src.params or None)
    cells = result.table.to_pylist()
    if len(cells) > MAX_GROUPS * 10:
        raise StatsError(f"{row!r} × {column!r} has too many combinations for a chi-square test")
    rows_l = sorted({c["r"] for c in cells})
    cols_l = sorted({c["c"] for c in cells})
    if len(rows_l) < 2 or len(cols_l) < 2:
        raise NotEnoughData(
            f"{row!r} and {column!r} need at least two values each ({len(rows_l)} × {len(cols_l)})"
        )
    table = np.zeros((len(rows_l), len(cols_l)), dtype=np.int64)
    for c in cells:
        table[rows_l.index(c["r"]), cols_l.index(c["c"])] = int(c["n"])
    answer = chi2_contingency(table, correction=correction, row_labels=rows_l, column_labels=cols_l)
    return replace(
        answer,
        source=f"{src.written_short}: {row} × {column}",
        method="contingency table counted in the engine"
        + ("; Yates' continuity correction" if answer.method else ""),
        sql=result.sql,
        fetched_rows=result.row_count,
    )


def mannwhitney_by(
    source: str,
    value: str,
    by: str,
    *,
    groups: Sequence[Any] | None = None,
    alternative: str = "two-sided",
    max_rows: int = MAX_ROWS,
    session: Queries | None = None,
    params: SourceParams = None,
) -> TestResult:
    """Mann–Whitney U test of ``value`` between two groups of ``by``. Ranks need the values:
    the two groups' non-null values are pulled (governed), at most ``max_rows`` of them."""
    from dataclasses import replace

    from .errors import TooManyRows

    check_alternative(alternative)
    session = client(session)
    src = open_source(source, session, params)
    x = as_double(src.numeric(value))
    key = exp.cast(src.column(by).copy(), "VARCHAR")
    rows, _, _ = _group_rows(src, session, x, by, [])
    first, second = _pick_two(rows, by, groups, src)
    _need(first, 1, by)
    _need(second, 1, by)
    bound = Params(prefix="dap_stats_")
    picked = exp.In(this=key.copy(), expressions=[bound.bind(first["g"]), bound.bind(second["g"])])
    query = (
        src.select(exp.alias_(key.copy(), "g", quoted=True), exp.alias_(x.copy(), "x", quoted=True))
        .where(exp.and_(is_not_null(x.copy()), picked))
        .limit(max_rows + 1)
    )
    values = {**src.params, **bound.values}
    result = session.query(query.sql(dialect=DIALECT), values)
    if result.row_count > max_rows:
        raise TooManyRows(f"more than {max_rows:,} values to rank: raise max_rows or sample first")
    data = result.table
    labels = data.column("g").to_pylist()
    numbers = np.asarray(data.column("x").to_pylist(), dtype=np.float64)
    mask = np.array([g == first["g"] for g in labels], dtype=bool)
    answer = mannwhitney(numbers[mask], numbers[~mask], alternative=alternative)
    a, b = answer.groups
    return replace(
        answer,
        groups=(replace(a, label=str(first["g"])), replace(b, label=str(second["g"]))),
        source=f"{src.written_short}: {value} by {by}",
        method=f"{result.row_count:,} values pulled through the governed query to rank them",
        sql=result.sql,
        fetched_rows=result.row_count,
    )
