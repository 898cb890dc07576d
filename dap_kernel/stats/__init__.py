"""Statistics on governed data: ``dap.stats``.

Every figure is computed from the caller's governed view of the data: a table name or a
SELECT goes through the same ``session.query`` every door uses, so row filters and column
masks apply before anything is counted. Descriptive statistics, histograms, correlations and
the grouped tests run in the engine from sufficient statistics (counts, sums, variances); the
statistics that need the values themselves (ranks, regression) pull only the columns they use,
up to a row limit.

The modules, each building only on those before it:

* :mod:`.errors`: the typed errors;
* :mod:`.plots`: plotly figures from plain numbers;
* :mod:`.results`: the result types (frozen dataclasses with ``_repr_html_`` and ``plot()``);
* :mod:`.source`: a source (table or SELECT) as the caller sees it, and governed SQL on it;
* :mod:`.describe`: :func:`describe` (with top values), :func:`histogram`;
* :mod:`.correlation`: :func:`correlation` (Pearson, Spearman);
* :mod:`.tests`: hypothesis tests on samples (:func:`ttest`, :func:`mannwhitney` …);
* :mod:`.grouped`: the same on a source, from engine sufficient statistics (:func:`ttest_by` …);
* :mod:`.regression`: :func:`ols`, :func:`logit`;
* :mod:`.timeseries`: the bucketed series, :func:`decompose`;
* :mod:`.forecast_results`, :mod:`.forecast`: :func:`forecast` with prediction intervals and
  :func:`backtest` (accuracy and interval coverage).

This module only re-exports; the modules import one another, never this package.
"""

from __future__ import annotations

from .correlation import correlation
from .describe import describe, histogram
from .errors import NotEnoughData, NotNumeric, StatsError, TooManyRows, UnknownColumn
from .forecast import backtest, forecast
from .forecast_results import Backtest, Fold, Forecast
from .grouped import (
    anova_by,
    chi2_by,
    mannwhitney_by,
    proportions_by,
    ttest_by,
    ttest_mean,
    ttest_paired,
)
from .regression import logit, ols
from .results import (
    Coefficient,
    ColumnSummary,
    Correlation,
    Decomposition,
    GroupStats,
    Histogram,
    RegressionResult,
    Summary,
    TestResult,
)
from .source import Queries
from .tests import anova, chi2_contingency, chisquare, mannwhitney, proportions_ztest, ttest
from .timeseries import decompose

__all__ = [
    "Backtest",
    "Coefficient",
    "ColumnSummary",
    "Correlation",
    "Decomposition",
    "Fold",
    "Forecast",
    "GroupStats",
    "Histogram",
    "NotEnoughData",
    "NotNumeric",
    "Queries",
    "RegressionResult",
    "StatsError",
    "Summary",
    "TestResult",
    "TooManyRows",
    "UnknownColumn",
    "anova",
    "anova_by",
    "backtest",
    "chi2_by",
    "chi2_contingency",
    "chisquare",
    "correlation",
    "decompose",
    "describe",
    "forecast",
    "histogram",
    "logit",
    "mannwhitney",
    "mannwhitney_by",
    "ols",
    "proportions_by",
    "proportions_ztest",
    "ttest",
    "ttest_by",
    "ttest_mean",
    "ttest_paired",
]
