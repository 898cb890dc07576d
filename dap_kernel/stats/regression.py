"""OLS and logistic regression (statsmodels' formula API) on a governed source.

A fit needs the rows: only the columns the formula names are pulled, through the caller's
governed query (filters and masks applied), at most ``max_rows`` of them; rows with a missing
value in a column the formula uses are left out, as statsmodels does. The result keeps the
coefficients with their intervals, the usual fit measures, statsmodels' own summary text and
any warning the fit raised (perfect separation, no convergence) rather than hiding it.

>>> fit = ols("total ~ quantity + C(channel)", "order_facts", session=session)  # doctest: +SKIP
>>> fit.params["quantity"], fit.measure("R²")                                  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from .errors import StatsError
from .results import Coefficient, RegressionResult
from .source import MAX_ROWS, Params, Queries, client, open_source, pull

_NAME = re.compile(r"""[A-Za-z_][A-Za-z0-9_]*|`([^`]+)`|Q\(\s*(["'])(.+?)\2\s*\)""")


def formula_columns(formula: str, columns: list[str]) -> list[str]:
    """The source's columns a formula names (plain words, ```quoted```, or ``Q("…")``), in
    the source's order: what is pulled, and nothing else."""
    if not isinstance(formula, str) or "~" not in formula:
        raise StatsError(f"a formula reads `outcome ~ terms`, not {formula!r}")
    named: set[str] = set()
    for match in _NAME.finditer(formula):
        named.add(match.group(1) or match.group(3) or match.group(0))
    return [c for c in columns if c in named]


def ols(
    formula: str,
    source: str,
    *,
    session: Queries | None = None,
    params: Params = None,
    max_rows: int = MAX_ROWS,
) -> RegressionResult:
    """Ordinary least squares of ``formula`` (``y ~ x + C(group)``) on the governed source."""
    return _fit("ols", formula, source, session, params, max_rows)


def logit(
    formula: str,
    source: str,
    *,
    session: Queries | None = None,
    params: Params = None,
    max_rows: int = MAX_ROWS,
) -> RegressionResult:
    """Logistic regression of a 0/1 (or boolean) outcome: ``converted ~ price + C(channel)``."""
    return _fit("logit", formula, source, session, params, max_rows)


def _fit(
    kind: str,
    formula: str,
    source: str,
    session: Queries | None,
    params: Params,
    max_rows: int,
) -> RegressionResult:
    import statsmodels.formula.api as smf

    session = client(session)
    src = open_source(source, session, params)
    names = formula_columns(formula, src.columns)
    if not names:
        raise StatsError(f"the formula names no column of {src.written_short}")
    table = pull(src, session, names, max_rows=max_rows, where_not_null=False)
    frame = table.to_pandas()
    for name in names:  # booleans as 0/1: a logit outcome, or a dummy
        if frame[name].dtype == bool:
            frame[name] = frame[name].astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == "ols":
                fitted = smf.ols(formula, frame).fit()
            else:
                fitted = smf.logit(formula, frame).fit(disp=0)
        except Exception as e:  # patsy/formulaic, linear algebra, separation: one line
            raise StatsError(f"cannot fit {formula!r}: {_first_line(e)}") from None
        text = fitted.summary().as_text()
        ci = fitted.conf_int()
    messages = tuple(dict.fromkeys(_first_line(w.message) for w in caught))
    coefficients = tuple(
        Coefficient(
            name=str(name),
            estimate=float(fitted.params[name]),
            std_error=float(fitted.bse[name]),
            statistic=float(fitted.tvalues[name]),
            pvalue=float(fitted.pvalues[name]),
            ci_low=float(ci.loc[name, 0]),
            ci_high=float(ci.loc[name, 1]),
        )
        for name in fitted.params.index
    )
    if int(fitted.nobs) == 0:
        raise StatsError("no row has a value in every column the formula uses")
    return RegressionResult(
        kind=kind,
        formula=formula,
        nobs=int(fitted.nobs),
        coefficients=coefficients,
        fit=_measures(kind, fitted),
        summary_text=text,
        source=src.written_short,
        warnings=messages,
        fetched_rows=table.num_rows,
    )


def _measures(kind: str, fitted: Any) -> tuple[tuple[str, float], ...]:
    if kind == "ols":
        pairs = [
            ("R²", fitted.rsquared),
            ("adjusted R²", fitted.rsquared_adj),
            ("F", fitted.fvalue),
            ("p-value of F", fitted.f_pvalue),
            ("residual sd", fitted.mse_resid**0.5),
        ]
    else:
        pairs = [
            ("pseudo R² (McFadden)", fitted.prsquared),
            ("log-likelihood of the null model", fitted.llnull),
            ("p-value of the likelihood ratio", fitted.llr_pvalue),
        ]
    pairs += [("log-likelihood", fitted.llf), ("AIC", fitted.aic), ("BIC", fitted.bic)]
    return tuple((name, float(value)) for name, value in pairs)


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
