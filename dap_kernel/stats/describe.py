"""Descriptive statistics computed in the engine: summaries (with top values) and histograms.

Each is one aggregate statement over the governed source (plus the ``LIMIT 0`` probe of what
the caller sees, and for a histogram without a range one statement for the range), so a
table of any size answers with a row or two: the rows never leave the engine.

>>> s = describe("orders", ["total"], session=session)        # doctest: +SKIP
>>> s["total"].mean, s["total"].quantile(0.5), s.fetched_rows  # doctest: +SKIP
(153.2, 121.0, 1)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from ..sqlbuild import DIALECT, column_ref, literal, subquery
from .errors import NotEnoughData, StatsError
from .results import ColumnSummary, Histogram, Summary
from .source import (
    Params,
    Queries,
    Source,
    as_double,
    client,
    is_numeric,
    number,
    open_source,
)

QUANTILES = (0.25, 0.5, 0.75)
TOP_VALUES = 5
MAX_TOP_VALUES = 100
MAX_BINS = 10_000


def describe(
    source: str,
    columns: Sequence[str] | None = None,
    *,
    session: Queries | None = None,
    params: Params = None,
    quantiles: Sequence[float] = QUANTILES,
    exact_distinct: bool = False,
    approx_quantiles: bool = False,
    top: int = TOP_VALUES,
) -> Summary:
    """Count, nulls, distinct values, and for numbers mean, sd, min, quantiles and max of each
    column (all columns by default), as the caller sees the source; for text columns min, max
    and the ``top`` most frequent values with their counts (a second statement; 0: none).

    Distinct counts are approximate (HyperLogLog, within a few percent) unless
    ``exact_distinct``; quantiles are exact (linear interpolation, as numpy's default) unless
    ``approx_quantiles`` (t-digest, for very large tables). One statement does it all.
    """
    session = client(session)
    probs = _probabilities(quantiles)
    src = open_source(source, session, params)
    names = list(columns) if columns is not None else src.columns
    if not names:
        raise StatsError(f"{src.written_short} has no columns you may read")
    projections: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)]
    kinds: list[str] = []
    for i, name in enumerate(names):
        col = src.column(name)
        type_ = src.type_of(name)
        kind = _kind(type_)
        kinds.append(kind)
        distinct: exp.Expr = (
            exp.Count(this=exp.Distinct(expressions=[col.copy()]))
            if exact_distinct
            else exp.ApproxDistinct(this=col.copy())
        )
        parts: list[tuple[str, exp.Expr]] = [("n", exp.Count(this=col.copy())), ("d", distinct)]
        if kind == "number":
            x = as_double(col.copy())
            quantile = "approx_quantile" if approx_quantiles else "quantile_cont"
            wanted = exp.Array(expressions=[literal(p) for p in probs])
            ordered = x if pa.types.is_boolean(type_) else col  # ints stay ints
            parts += [
                ("mean", exp.Avg(this=x.copy())),
                ("sd", exp.StddevSamp(this=x.copy())),
                ("min", exp.Min(this=ordered.copy())),
                ("max", exp.Max(this=ordered.copy())),
            ]
            if probs:
                parts.append(("q", exp.func(quantile, x.copy(), wanted, dialect=DIALECT)))
        elif kind == "ordered":
            parts += [("min", exp.Min(this=col.copy())), ("max", exp.Max(this=col.copy()))]
        projections += [exp.alias_(e, f"c{i}_{key}", quoted=True) for key, e in parts]
    result = session.query(src.select(*projections).sql(dialect=DIALECT), src.params or None)
    row = result.table.to_pylist()[0]
    rows = int(row["n"])
    texts = [n for n in names if _is_text(src.type_of(n))]
    tops = _top_values(src, texts, top, session) if texts and top else {}
    summaries = []
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        count = int(row[f"c{i}_n"])
        found = row.get(f"c{i}_q") or []
        summaries.append(
            ColumnSummary(
                name=name,
                type=str(src.type_of(name)),
                count=count,
                nulls=rows - count,
                distinct=int(row[f"c{i}_d"]),
                mean=number(row.get(f"c{i}_mean")),
                sd=number(row.get(f"c{i}_sd")),
                min=_plain(row.get(f"c{i}_min")),
                max=_plain(row.get(f"c{i}_max")),
                quantiles=tuple(
                    (p, number(found[j]) if j < len(found) else None) for j, p in enumerate(probs)
                )
                if kind == "number"
                else (),
                numeric=kind == "number",
                top=tops.get(name, ()),
            )
        )
    return Summary(
        source=src.written_short,
        rows=rows,
        columns=tuple(summaries),
        distinct_approx=not exact_distinct,
        quantiles_approx=approx_quantiles,
        sql=result.sql,
        fetched_rows=result.row_count,
    )


def histogram(
    source: str,
    column: str,
    bins: int = 20,
    *,
    range: tuple[float, float] | None = None,
    session: Queries | None = None,
    params: Params = None,
) -> Histogram:
    """Counts of a numeric column in ``bins`` equal bins, counted in the engine (two
    statements: the range and null count, then one row per non-empty bin).

    The bins are numpy's (the same counts as ``numpy.histogram``, edge cases included):
    edges ``numpy.linspace(low, high, bins + 1)`` (low and high the column's min and max
    unless ``range``), each bin half-open but the last, which holds ``high``; values outside
    ``range`` are not counted.
    """
    session = client(session)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise StatsError(f"bins must be a whole number from 1 to {MAX_BINS}, not {bins!r}")
    src = open_source(source, session, params)
    x = as_double(src.numeric(column))
    nulls_expr = exp.Filter(
        this=exp.Count(this=exp.Star()),
        expression=exp.Where(this=exp.Is(this=x.copy(), expression=exp.Null())),
    )
    spans = src.run(
        src.select(
            exp.alias_(exp.Min(this=x.copy()), "lo", quoted=True),
            exp.alias_(exp.Max(this=x.copy()), "hi", quoted=True),
            exp.alias_(nulls_expr, "nulls", quoted=True),
        ),
        session,
    )
    span = spans.to_pylist()[0]
    if range is None:
        if span["lo"] is None:
            raise NotEnoughData(f"column {column!r} of {src.written_short} has no values")
        low, high = float(span["lo"]), float(span["hi"])
        if not (math.isfinite(low) and math.isfinite(high)):
            raise StatsError(f"column {column!r} holds infinite values: give range=(low, high)")
    else:
        low, high = (float(v) for v in range)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise StatsError(f"range must be two finite numbers, low <= high, not {range!r}")
    if low == high:  # numpy's rule for a constant column
        low, high = low - 0.5, high + 0.5
    edges = [float(e) for e in np.linspace(low, high, bins + 1)]
    step = (high - low) / bins
    if any(b <= a for a, b in itertools.pairwise(edges)) or any(
        float(k) * step + low != edges[k] for k in builtins_range(bins)
    ):  # numpy refuses these too (denormal steps)
        raise StatsError(f"cannot make {bins} bins of finite size in {low!r} … {high!r}")
    result = session.query(
        _bins_query(src, x, low, high, edges).sql(dialect=DIALECT), src.params or None
    )
    counts = [0] * bins
    for row in result.table.to_pylist():
        counts[int(row["b"])] = int(row["n"])
    return Histogram(
        source=src.written_short,
        column=column,
        edges=tuple(edges),
        counts=tuple(counts),
        nulls=int(span["nulls"]),
        sql=result.sql,
        fetched_rows=spans.num_rows + result.row_count,
    )


def _bins_query(
    src: Source, x: exp.Expr, low: float, high: float, edges: list[float]
) -> exp.Select:
    """Count per bin in one pass, with numpy's own rule (``numpy.histogram``): the bin index
    ``floor((x − low) / (high − low) × bins)``, the last bin closed, then moved down one where
    ``x`` lies below its bin's lower edge and up one where it reaches the next edge (rounding)."""
    bins = len(edges) - 1
    within = exp.and_(
        exp.GTE(this=x.copy(), expression=literal(low)),
        exp.LTE(this=x.copy(), expression=literal(high)),
    )
    scaled = exp.Mul(
        this=exp.paren(
            exp.Div(
                this=exp.paren(exp.Sub(this=x.copy(), expression=literal(low))),
                expression=literal(high - low),
            )
        ),
        expression=literal(bins),
    )
    first = exp.func(
        "least",
        exp.Cast(this=exp.Floor(this=scaled), to=exp.DataType.build("BIGINT")),
        literal(bins - 1),
    )
    inner = src.select(
        exp.alias_(x.copy(), "v", quoted=True), exp.alias_(first, "i0", quoted=True)
    ).where(within)
    v, i0 = column_ref("v", "h"), column_ref("i0", "h")
    step = (high - low) / bins

    def edge(offset: int) -> exp.Expr:
        """``edges[i0 + offset − 1]``: numpy's linspace is k × step + low (but the last edge,
        which no comparison below reaches), so the edge is computed, not looked up."""
        k = exp.Cast(
            this=exp.Add(this=i0.copy(), expression=literal(offset - 1)),
            to=exp.DataType.build("DOUBLE"),
        )
        return exp.Add(this=exp.Mul(this=k, expression=literal(step)), expression=literal(low))

    def one_if(condition: exp.Expr) -> exp.Expr:
        return exp.Case(ifs=[exp.If(this=condition, true=literal(1))], default=literal(0))

    down = one_if(exp.LT(this=v.copy(), expression=edge(1)))
    up = one_if(
        exp.and_(
            exp.GTE(this=v.copy(), expression=edge(2)),
            exp.NEQ(this=i0.copy(), expression=literal(bins - 1)),
        )
    )
    index = exp.Add(this=exp.Sub(this=i0.copy(), expression=down), expression=up)
    return (
        exp.select(
            exp.alias_(index, "b", quoted=True),
            exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True),
        )
        .from_(subquery(inner, "h"))
        .group_by(exp.Literal.number(1))
    )


builtins_range = range  # ``range`` is a parameter name of :func:`histogram`


# --------------------------------------------------------------------------------------------


def _probabilities(quantiles: Sequence[float]) -> list[float]:
    probs = []
    for p in quantiles:
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise StatsError(f"quantiles are probabilities from 0 to 1, not {p!r}")
        probs.append(float(p))
    return probs


def _top_values(
    src: Source, names: Sequence[str], top: int, session: Queries
) -> dict[str, tuple[tuple[str, int], ...]]:
    """The ``top`` most frequent non-null values of each column, ties by value, in one
    statement: a ``GROUP BY`` per column, ``UNION ALL``, ranked per column in the engine."""
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_TOP_VALUES:
        raise StatsError(f"top takes a number of values from 0 to {MAX_TOP_VALUES}, not {top!r}")
    branches: list[exp.Select] = []
    for i, name in enumerate(names):
        col = src.column(name)
        branches.append(
            src.select(
                exp.alias_(literal(i), "c", quoted=True),
                exp.alias_(col.copy(), "v", quoted=True),
                exp.alias_(exp.Count(this=exp.Star()), "k", quoted=True),
            )
            .where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())))
            .group_by(col.copy())
        )
    union: exp.Query = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    place = exp.Window(
        this=exp.Anonymous(this="row_number"),
        partition_by=[exp.column("c", quoted=True)],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=exp.column("k", quoted=True), desc=True),
                exp.Ordered(this=exp.column("v", quoted=True)),
            ]
        ),
    )
    ranked = exp.select("*", exp.alias_(place, "r", quoted=True)).from_(union.subquery("counted"))
    query = (
        exp.select(
            exp.column("c", quoted=True), exp.column("v", quoted=True), exp.column("k", quoted=True)
        )
        .from_(ranked.subquery("placed"))
        .where(exp.LTE(this=exp.column("r", quoted=True), expression=literal(top)))
        .order_by(exp.column("c", quoted=True), exp.column("r", quoted=True))
    )
    found: dict[str, list[tuple[str, int]]] = {}
    for line in src.run(query, session).to_pylist():
        found.setdefault(names[int(line["c"])], []).append((str(line["v"]), int(line["k"])))
    return {name: tuple(values) for name, values in found.items()}


def _is_text(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
    )


def _kind(type_: pa.DataType) -> str:
    """``number`` (moments and quantiles), ``ordered`` (min and max) or ``other`` (counts)."""
    if is_numeric(type_):
        return "number"
    if _is_text(type_) or pa.types.is_temporal(type_):
        return "ordered"
    return "other"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value
