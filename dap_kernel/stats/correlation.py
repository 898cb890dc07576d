"""Correlation matrices computed in the engine: Pearson, and Spearman's rank correlation.

Both are one aggregate statement over the governed source (after the ``LIMIT 0`` probe of what
the caller sees), so the matrix of a table of any size comes back as one row. Each pair is
computed over the rows where both columns are present ("pairwise complete", as pandas does).

Spearman's coefficient is Pearson's on the ranks, ties given their average rank. The ranks are
window functions in the engine. A pair's ranks must be taken over the rows where *both* are
present, so a pair that involves a column with nulls ranks its two columns within that pair's
rows (two windows per column of the pair); columns without nulls share one ranking for every
pair. A first statement counts the nulls to tell which is which.

>>> c = correlation("people", ["salary", "age"], method="spearman", session=s)  # doctest: +SKIP
>>> c["salary", "age"]                                                          # doctest: +SKIP
0.41
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Literal

from sqlglot import exp

from ..sqlbuild import DIALECT
from .errors import NotEnoughData, StatsError
from .results import Correlation
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

Method = Literal["pearson", "spearman"]
METHODS = ("pearson", "spearman")
MAX_CORRELATION_COLUMNS = 60
MAX_SPEARMAN_COLUMNS = 24  # a pair with nulls costs two window sorts: 276 pairs at most


def correlation(
    source: str,
    columns: Sequence[str] | None = None,
    *,
    method: Method = "pearson",
    session: Queries | None = None,
    params: Params = None,
) -> Correlation:
    """Correlations between numeric columns (all of them by default), each pair over the rows
    where both are non-null: ``method="pearson"`` (linear) or ``"spearman"`` (monotonic: the
    Pearson correlation of the ranks, robust to outliers and to any increasing transform)."""
    if method not in METHODS:
        raise StatsError(f"correlation method {method!r}: use {' or '.join(METHODS)}")
    session = client(session)
    src = open_source(source, session, params)
    names = _columns(src, columns, method)
    xs = [as_double(src.numeric(n)) for n in names]
    if method == "pearson":
        projections = _moments(xs)
        base: exp.Select = src.select(*projections)
    else:
        complete = _null_free(src, xs, session)
        ranked, rank_pairs, singles = _ranked(src, xs, complete)
        projections = _moments(singles, rank_pairs)
        base = exp.select(*projections).from_(ranked.subquery("ranked"))
    result = session.query(base.sql(dialect=DIALECT), src.params or None)
    row = result.table.to_pylist()[0]
    matrix = tuple(
        tuple(
            (1.0 if number(row[f"s{i}"]) else None)
            if i == j
            else number(row[f"r{min(i, j)}_{max(i, j)}"])
            for j in range(len(names))
        )
        for i in range(len(names))
    )
    return Correlation(
        source=src.written_short,
        columns=tuple(names),
        matrix=matrix,
        rows=int(row["n"]),
        method=method,
        sql=result.sql,
        fetched_rows=result.row_count,
    )


def _columns(src: Source, columns: Sequence[str] | None, method: str) -> list[str]:
    if columns is None:
        names = [n for n in src.columns if is_numeric(src.schema.field(n).type)]
    else:
        names = list(columns)
    if len(names) < 2:
        raise NotEnoughData(
            f"a correlation needs two numeric columns; {src.written_short} gives {len(names)}"
        )
    most = MAX_SPEARMAN_COLUMNS if method == "spearman" else MAX_CORRELATION_COLUMNS
    if len(names) > most:
        raise StatsError(f"at most {most} columns at once for {method}, not {len(names)}")
    return names


def _moments(
    xs: Sequence[exp.Expr], pairs: dict[tuple[int, int], tuple[exp.Expr, exp.Expr]] | None = None
) -> list[exp.Expr]:
    """``n``, the deviation ``s{i}`` of each column (is it constant?) and ``r{i}_{j}`` of each
    pair: of the columns themselves, or of the given expressions of a pair (its ranks)."""
    projections: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)]
    projections += [
        exp.alias_(exp.StddevSamp(this=x.copy()), f"s{i}", quoted=True) for i, x in enumerate(xs)
    ]
    for i, j in combinations(range(len(xs)), 2):
        a, b = pairs[(i, j)] if pairs is not None else (xs[i], xs[j])
        corr = exp.Corr(this=a.copy(), expression=b.copy())
        projections.append(exp.alias_(corr, f"r{i}_{j}", quoted=True))
    return projections


def _null_free(src: Source, xs: Sequence[exp.Expr], session: Queries) -> list[bool]:
    """Which columns have a value in every row the caller sees (one counting statement)."""
    counts = [exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)]
    counts += [exp.alias_(exp.Count(this=x.copy()), f"c{i}", quoted=True) for i, x in enumerate(xs)]
    row = src.run(src.select(*counts), session).to_pylist()[0]
    return [row[f"c{i}"] == row["n"] for i in range(len(xs))]


def _ranked(
    src: Source, xs: Sequence[exp.Expr], complete: Sequence[bool]
) -> tuple[exp.Select, dict[tuple[int, int], tuple[exp.Expr, exp.Expr]], list[exp.Expr]]:
    """The ranking statement, each pair's two rank columns in it, and each column itself (for
    its deviation). Ranks are average ranks (ties share the mean of their positions)."""
    inner: list[exp.Expr] = [exp.alias_(x.copy(), f"x{i}", quoted=True) for i, x in enumerate(xs)]
    for i, x in enumerate(xs):
        if complete[i]:
            inner.append(exp.alias_(_average_rank(x, None), f"g{i}", quoted=True))
    pairs: dict[tuple[int, int], tuple[exp.Expr, exp.Expr]] = {}
    for i, j in combinations(range(len(xs)), 2):
        if complete[i] and complete[j]:
            pairs[(i, j)] = (_ref(f"g{i}"), _ref(f"g{j}"))
            continue
        missing = exp.or_(
            exp.Is(this=xs[i].copy(), expression=exp.Null()),
            exp.Is(this=xs[j].copy(), expression=exp.Null()),
        )
        for k, x in ((i, xs[i]), (j, xs[j])):
            inner.append(exp.alias_(_average_rank(x, missing), f"p{i}_{j}_{k}", quoted=True))
        pairs[(i, j)] = (_ref(f"p{i}_{j}_{i}"), _ref(f"p{i}_{j}_{j}"))
    singles: list[exp.Expr] = [_ref(f"x{i}") for i in range(len(xs))]
    return src.select(*inner), pairs, singles


def _average_rank(x: exp.Expr, missing: exp.Expr | None) -> exp.Expr:
    """``rank() + (ties - 1) / 2`` of ``x`` among the rows where ``missing`` is false (all rows
    when None); NULL on the other rows, which ``corr`` then leaves out."""
    group = [missing.copy()] if missing is not None else []
    order = exp.Order(expressions=[exp.Ordered(this=x.copy(), nulls_first=False)])
    rank = exp.Window(this=exp.Anonymous(this="rank"), partition_by=group, order=order)
    ties = exp.Window(
        this=exp.Count(this=exp.Star()), partition_by=[*(g.copy() for g in group), x.copy()]
    )
    half = exp.Div(
        this=exp.paren(exp.Sub(this=ties, expression=exp.Literal.number(1)), copy=False),
        expression=exp.Literal.number(2.0),
    )
    average = exp.Add(this=rank, expression=exp.paren(half, copy=False))
    if missing is None:
        return exp.Case(
            ifs=[exp.If(this=exp.Is(this=x.copy(), expression=exp.Null()), true=exp.Null())],
            default=average,
        )
    return exp.Case(ifs=[exp.If(this=missing.copy(), true=exp.Null())], default=average)


def _ref(name: str) -> exp.Column:
    return exp.column(name, quoted=True)
