"""What ``dap.stats`` returns: small frozen dataclasses that show themselves and plot.

Each result holds plain numbers (floats, ints, tuples), so it pickles, compares and travels;
``_repr_html_`` is what a notebook shows (every value escaped), ``plot()`` a plotly figure, and
``to_frame()`` (where a table is natural) a polars DataFrame. Results computed in the engine
keep the statement that ran as the caller's audit record shows it (``sql``) and how many rows
the engine handed back (``fetched_rows``): the proof that the rows stayed where they were.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .plots import bars, boxes, components, heatmap, intervals

if TYPE_CHECKING:
    import plotly.graph_objects as go
    import polars as pl


# --------------------------------------------------------------------------------------------
# Formatting


def fmt(value: Any) -> str:
    """A number as people read it (4 significant digits; whole numbers with separators)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An HTML table with every cell escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="dap-stats">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _note(text: str) -> str:
    return f"<div><small>{html.escape(text)}</small></div>" if text else ""


# --------------------------------------------------------------------------------------------
# Descriptive statistics


@dataclass(frozen=True)
class ColumnSummary:
    """One column: counts for every type, moments and quantiles for numbers."""

    name: str
    type: str
    count: int  # non-null values
    nulls: int
    distinct: int | None
    mean: float | None = None
    sd: float | None = None
    min: Any = None
    max: Any = None
    quantiles: tuple[tuple[float, float | None], ...] = ()  # (probability, value)
    numeric: bool = False
    top: tuple[tuple[str, int], ...] = ()  # text columns: most frequent values, with counts

    def top_text(self) -> str:
        """``a 41 %, b 33 %, c 26 %``: the most frequent values and their share of the
        non-null values."""
        if not self.count:
            return ""
        return ", ".join(f"{v} {n / self.count:.0%}".replace("%", " %") for v, n in self.top)

    def quantile(self, p: float) -> float | None:
        for prob, value in self.quantiles:
            if math.isclose(prob, p):
                return value
        raise KeyError(f"quantile {p} was not computed (have {[q for q, _ in self.quantiles]})")


@dataclass(frozen=True)
class Summary:
    """``dap.stats.describe``: per-column summaries of a source, computed in the engine."""

    source: str
    rows: int
    columns: tuple[ColumnSummary, ...]
    distinct_approx: bool
    quantiles_approx: bool
    sql: str = ""
    fetched_rows: int = 0

    def __getitem__(self, name: str) -> ColumnSummary:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        probs = sorted({p for c in self.columns for p, _ in c.quantiles})
        data: dict[str, list[Any]] = {
            "column": [c.name for c in self.columns],
            "type": [c.type for c in self.columns],
            "count": [c.count for c in self.columns],
            "nulls": [c.nulls for c in self.columns],
            "distinct": [c.distinct for c in self.columns],
            "mean": [c.mean for c in self.columns],
            "sd": [c.sd for c in self.columns],
            "min": [None if c.min is None else str(c.min) for c in self.columns],
            "max": [None if c.max is None else str(c.max) for c in self.columns],
            "top": [c.top_text() or None for c in self.columns],
        }
        for p in probs:
            data[f"p{p * 100:g}"] = [dict(c.quantiles).get(p) for c in self.columns]
        return pl.DataFrame(data, strict=False)

    def _repr_html_(self) -> str:
        probs = sorted({p for c in self.columns for p, _ in c.quantiles})
        distinct = "distinct ≈" if self.distinct_approx else "distinct"
        headers = ["column", "type", "count", "nulls", distinct, "mean", "sd", "min"]
        headers += [f"p{p * 100:g}" for p in probs] + ["max"]
        tops = any(c.top for c in self.columns)
        headers += ["most frequent"] if tops else []
        rows = [
            [c.name, c.type, c.count, c.nulls, c.distinct, c.mean, c.sd, c.min]
            + [dict(c.quantiles).get(p) for p in probs]
            + [c.max]
            + ([c.top_text()] if tops else [])
            for c in self.columns
        ]
        caption = f"{self.source}: {self.rows:,} rows"
        notes = "computed in the engine"
        if self.quantiles_approx:
            notes += "; quantiles approximate (t-digest)"
        if self.distinct_approx:
            notes += "; distinct counts approximate (HyperLogLog)"
        return table_html(headers, rows, caption) + _note(notes)

    def plot(self) -> go.Figure:
        """Box plots of the numeric columns from their engine-computed quantiles."""
        numeric = [c for c in self.columns if c.numeric and c.count]

        def q(c: ColumnSummary, p: float) -> float | None:
            return dict(c.quantiles).get(p)

        return boxes(
            [c.name for c in numeric],
            [_as_float(c.min) for c in numeric],
            [q(c, 0.25) for c in numeric],
            [q(c, 0.5) for c in numeric],
            [q(c, 0.75) for c in numeric],
            [_as_float(c.max) for c in numeric],
            [c.mean for c in numeric],
            f"{self.source}: distribution of numeric columns",
        )


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Histogram:
    """``dap.stats.histogram``: counts per bin, computed in the engine (numpy's bin rule:
    half-open bins, the last one closed)."""

    source: str
    column: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    nulls: int
    sql: str = ""
    fetched_rows: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts)

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(
            {"low": list(self.edges[:-1]), "high": list(self.edges[1:]), "rows": list(self.counts)}
        )

    def _repr_html_(self) -> str:
        rows = [
            [lo, hi, n]
            for (lo, hi), n in zip(itertools.pairwise(self.edges), self.counts, strict=True)
        ]
        caption = f"{self.source}.{self.column}: {self.total:,} values, {self.nulls:,} null"
        return table_html(["from", "to", "rows"], rows, caption) + _note("computed in the engine")

    def plot(self) -> go.Figure:
        return bars(self.edges, self.counts, f"{self.source}: {self.column}", self.column)


@dataclass(frozen=True)
class Correlation:
    """``dap.stats.correlation``: Pearson correlations, each over the rows where both columns
    are non-null, computed in the engine."""

    source: str
    columns: tuple[str, ...]
    matrix: tuple[tuple[float | None, ...], ...]
    rows: int
    method: str = "pearson"
    sql: str = ""
    fetched_rows: int = 0

    def __getitem__(self, pair: tuple[str, str]) -> float | None:
        a, b = pair
        return self.matrix[self.columns.index(a)][self.columns.index(b)]

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        data: dict[str, list[Any]] = {"column": list(self.columns)}
        for j, name in enumerate(self.columns):
            data[name] = [row[j] for row in self.matrix]
        return pl.DataFrame(data, strict=False)

    def _repr_html_(self) -> str:
        rows = [[name, *row] for name, row in zip(self.columns, self.matrix, strict=True)]
        caption = f"{self.source}: {self.method} correlation ({self.rows:,} rows)"
        return table_html(["", *self.columns], rows, caption)

    def plot(self) -> go.Figure:
        return heatmap(
            self.columns,
            self.columns,
            self.matrix,
            f"{self.source}: {self.method} correlation",
            symmetric=True,
        )


# --------------------------------------------------------------------------------------------
# Hypothesis tests


@dataclass(frozen=True)
class GroupStats:
    """What a test saw of one group (or sample): size, mean (or share) and spread."""

    label: str
    n: int
    mean: float
    sd: float


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test: ``statistic`` and ``pvalue`` as scipy names them, plus what a reader
    needs to judge them (groups, estimate and its interval, degrees of freedom, method)."""

    __test__ = False  # not a pytest test class, whatever its name says

    test: str
    statistic: float
    pvalue: float
    statistic_name: str = "statistic"
    df: float | tuple[float, ...] | None = None
    alternative: str = "two-sided"
    estimate: float | None = None
    estimate_name: str = ""
    ci: tuple[float, float] | None = None
    groups: tuple[GroupStats, ...] = ()
    observed: tuple[tuple[int, ...], ...] = ()  # a contingency table, rows × columns
    row_labels: tuple[str, ...] = ()
    column_labels: tuple[str, ...] = ()
    source: str = ""
    method: str = ""
    sql: str = ""
    fetched_rows: int = 0

    def significant(self, alpha: float = 0.05) -> bool:
        return self.pvalue < alpha

    def _repr_html_(self) -> str:
        df = self.df
        df_text = ", ".join(fmt(d) for d in df) if isinstance(df, tuple) else fmt(df)
        lines = [
            ["test", self.test],
            [self.statistic_name, fmt(self.statistic)],
            ["p-value", fmt_p(self.pvalue)],
        ]
        if df is not None:
            lines.append(["degrees of freedom", df_text])
        lines.append(["alternative", self.alternative])
        if self.estimate is not None:
            lines.append([self.estimate_name or "estimate", fmt(self.estimate)])
        if self.ci is not None:
            lines.append(["95% interval", f"{fmt(self.ci[0])} … {fmt(self.ci[1])}"])
        if self.source:
            lines.append(["data", self.source])
        out = table_html(["", ""], lines, self.test)
        if self.groups:
            out += table_html(
                ["group", "n", "mean", "sd"], [[g.label, g.n, g.mean, g.sd] for g in self.groups]
            )
        if self.observed:
            out += table_html(
                ["", *self.column_labels],
                [[r, *row] for r, row in zip(self.row_labels, self.observed, strict=True)],
                "observed counts",
            )
        return out + _note(self.method)

    def plot(self) -> go.Figure:
        """Group means (or shares) with 95% intervals, or the contingency table's counts."""
        if self.observed:
            return heatmap(
                self.column_labels,
                self.row_labels,
                [[float(v) for v in row] for row in self.observed],
                f"{self.test}: observed counts (p {fmt_p(self.pvalue)})",
            )
        from scipy import stats as sps

        labels, means, low, high = [], [], [], []
        for g in self.groups:
            half = 0.0
            if g.n > 1 and math.isfinite(g.sd):
                half = float(sps.t.ppf(0.975, g.n - 1)) * g.sd / math.sqrt(g.n)
            labels.append(g.label)
            means.append(g.mean)
            low.append(g.mean - half)
            high.append(g.mean + half)
        return intervals(
            labels, means, low, high, f"{self.test}: p {fmt_p(self.pvalue)} (95% intervals)"
        )


# --------------------------------------------------------------------------------------------
# Regression


@dataclass(frozen=True)
class Coefficient:
    name: str
    estimate: float
    std_error: float
    statistic: float
    pvalue: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class RegressionResult:
    """An OLS or logistic regression: coefficients with intervals, fit measures, and
    statsmodels' own summary text (``summary()``)."""

    kind: str
    formula: str
    nobs: int
    coefficients: tuple[Coefficient, ...]
    fit: tuple[tuple[str, float], ...]  # ("R²", 0.71), ("AIC", …) in reading order
    summary_text: str
    source: str = ""
    warnings: tuple[str, ...] = ()
    fetched_rows: int = 0

    @property
    def params(self) -> dict[str, float]:
        return {c.name: c.estimate for c in self.coefficients}

    @property
    def pvalues(self) -> dict[str, float]:
        return {c.name: c.pvalue for c in self.coefficients}

    def measure(self, name: str) -> float:
        return dict(self.fit)[name]

    def summary(self) -> str:
        return self.summary_text

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(
            [c.__dict__ for c in self.coefficients],
            schema={
                "name": pl.String,
                "estimate": pl.Float64,
                "std_error": pl.Float64,
                "statistic": pl.Float64,
                "pvalue": pl.Float64,
                "ci_low": pl.Float64,
                "ci_high": pl.Float64,
            },
        )

    def _repr_html_(self) -> str:
        stat = "t" if self.kind == "ols" else "z"
        rows = [
            [c.name, c.estimate, c.std_error, c.statistic, fmt_p(c.pvalue), c.ci_low, c.ci_high]
            for c in self.coefficients
        ]
        caption = f"{self.kind.upper()}: {self.formula} ({self.nobs:,} rows)"
        out = table_html(
            ["", "estimate", "std. error", stat, "p-value", "95% low", "95% high"], rows, caption
        )
        out += table_html(["measure", "value"], [list(m) for m in self.fit])
        return out + "".join(_note(f"warning: {w}") for w in self.warnings)

    def plot(self) -> go.Figure:
        """Coefficients with their 95% intervals (the intercept left out when there are others)."""
        shown = [c for c in self.coefficients if c.name != "Intercept"] or list(self.coefficients)
        return intervals(
            [c.name for c in shown],
            [c.estimate for c in shown],
            [c.ci_low for c in shown],
            [c.ci_high for c in shown],
            f"{self.kind.upper()}: {self.formula}",
            horizontal=True,
            reference=0.0,
        )


# --------------------------------------------------------------------------------------------
# Time series


@dataclass(frozen=True)
class Decomposition:
    """A series split into trend, seasonal and residual parts; the strengths are Hyndman's
    (1 − Var(resid)/Var(resid + part), 0 when negative)."""

    time: tuple[datetime, ...]
    observed: tuple[float, ...]
    trend: tuple[float, ...]
    seasonal: tuple[float, ...]
    resid: tuple[float, ...]
    period: int
    method: str
    every: str
    agg: str
    source: str = ""
    filled: int = 0  # buckets with no rows, filled in before decomposing
    trend_strength: float = 0.0
    seasonal_strength: float = 0.0
    sql: str = ""
    fetched_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(
            {
                "time": list(self.time),
                "observed": list(self.observed),
                "trend": list(self.trend),
                "seasonal": list(self.seasonal),
                "resid": list(self.resid),
            }
        )

    def _repr_html_(self) -> str:
        lines: list[list[Any]] = [
            ["method", self.method],
            ["series", f"{self.agg} per {self.every}, {len(self.time):,} points"],
            ["period", self.period],
            ["trend strength", self.trend_strength],
            ["seasonal strength", self.seasonal_strength],
        ]
        if self.filled:
            lines.append(["empty buckets filled", self.filled])
        caption = f"decomposition of {self.source}" if self.source else "decomposition"
        return table_html(["", ""], lines, caption) + "".join(_note(n) for n in self.notes)

    def plot(self) -> go.Figure:
        return components(
            self.time,
            [
                ("observed", self.observed),
                ("trend", self.trend),
                ("seasonal", self.seasonal),
                ("residual", self.resid),
            ],
            f"{self.method} decomposition (period {self.period})",
        )
