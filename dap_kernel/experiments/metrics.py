"""Metrics as SQL over lake tables, and the one GROUP BY per metric that summarises them.

A :class:`Metric` is a SELECT giving a unit column and a value column (a ratio metric also a
denominator; any metric may give a timestamp, so only rows at or after the unit's first
exposure count). :func:`metric_query` joins the exposures to it in the engine and returns one
row per variant with the sufficient statistics: units, ``Σy``, ``Σy²`` and, for ratio metrics
and CUPED, ``Σd``, ``Σd²``, ``Σy·d`` or ``Σx``, ``Σx²``, ``Σy·x``. Only those aggregates leave
the engine. The statement is built as a sqlglot tree (names quoted, sources as subqueries) and
runs through the caller's governed session, so their row filters and masks apply to the
exposures and to every table the metric reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from ..governance.rewrite import parse_one_statement
from ..sqlbuild import DIALECT, column_ref, ident, parse_table, subquery
from .errors import InvalidMetric

KINDS = ("mean", "proportion", "ratio")
# CTE names no metric's SQL would use for a table of its own (a CTE would shadow it).
CTE = {k: f"dap_experiment_{k}" for k in ("e", "m", "pu", "pre")}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .:-]{0,127}")


@dataclass(frozen=True)
class Metric:
    """``Metric(name, sql=…, kind="mean"|"proportion"|"ratio")``.

    ``sql`` is a SELECT (or a table name) with columns ``unit`` and ``value`` (renamed with
    ``unit=`` / ``value=``); a unit's value is the sum of its rows (``mean``), whether any row
    has a positive value (``proportion``), or ``Σvalue / Σdenominator`` over the units
    (``ratio``). Exposed units without rows count as 0. ``timestamp=`` names a column: only
    rows at or after the unit's exposure count. ``pre_sql`` (a SELECT of ``unit``, ``value``
    over the pre-period) turns on CUPED for mean and proportion metrics.
    ``one_row_per_unit=True`` trusts ``sql`` to give at most one row per unit and skips the
    per-unit GROUP BY (the slowest step on tens of millions of units); a wrong claim counts a
    unit's rows as separate units.
    """

    name: str
    sql: str
    kind: str = "mean"
    unit: str = "unit"
    value: str = "value"
    denominator: str | None = None
    timestamp: str | None = None
    pre_sql: str | None = None
    higher_is_better: bool = True
    one_row_per_unit: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise InvalidMetric(f"metric name {self.name!r}: a short name of letters and digits")
        if self.kind not in KINDS:
            raise InvalidMetric(f"metric {self.name!r}: kind {self.kind!r} is one of {KINDS}")
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise InvalidMetric(f"metric {self.name!r} needs sql= (a SELECT of unit and value)")
        if self.kind == "ratio":
            if self.pre_sql is not None:
                raise InvalidMetric(f"metric {self.name!r}: CUPED is for mean and proportion")
            if self.denominator is None:
                object.__setattr__(self, "denominator", "denominator")
        elif self.denominator is not None:
            raise InvalidMetric(f"metric {self.name!r}: only a ratio metric has a denominator")


def source_tree(text: str, alias: str) -> exp.Expr:
    """``(SELECT …) AS alias`` or ``"schema"."table" AS alias``: what the engine reads."""
    from ..stats.source import is_query

    if not isinstance(text, str) or not text.strip():
        raise InvalidMetric("name a table or give a SELECT")
    if is_query(text):
        tree = parse_one_statement(text.strip(), DIALECT)
        if not isinstance(tree, exp.Query):
            raise InvalidMetric("a metric or exposure source is a table name or one SELECT")
        return subquery(tree, alias)
    from ..sqlbuild import SqlBuildError

    try:
        return parse_table(text.strip(), alias=alias)
    except SqlBuildError as e:
        raise InvalidMetric(f"{e.message}, or give a SELECT") from None


def _double(e: exp.Expr) -> exp.Expr:
    return exp.Cast(this=e, to=exp.DataType.build("DOUBLE"))


def _as(e: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(e, name, quoted=True)


def _sum(e: exp.Expr) -> exp.Expr:
    return exp.Sum(this=e)


def _mul(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Mul(this=a, expression=b)


def _col(name: str, table: str) -> exp.Column:
    return column_ref(name, table)


def exposures_cte(
    exposures: str,
    unit: str,
    variant: str = "variant",
    exposed_at: str | None = "exposed_at",
    *,
    unique: bool = False,
) -> exp.Select:
    """One row per unit seen in exactly one variant: ``u``, ``v``, and ``t`` (first exposure)
    when ``exposed_at`` is given. Units seen in two variants are left out (and counted by
    :func:`exposure_counts`). ``unique=True`` trusts the source to hold one row per unit (as
    :func:`~.exposures.log_exposures` writes) and skips the GROUP BY."""
    src = source_tree(exposures, "x")
    u = _col(unit, "x")
    v = exp.cast(_col(variant, "x"), "VARCHAR")
    if unique:
        plain = [_as(u.copy(), "u"), _as(v.copy(), "v")]
        if exposed_at is not None:
            plain.append(_as(_col(exposed_at, "x"), "t"))
        return (
            exp.select(*plain)
            .from_(src)
            .where(exp.Not(this=exp.Is(this=u.copy(), expression=exp.Null())))
        )
    projections = [
        _as(u.copy(), "u"),
        _as(exp.Min(this=v.copy()), "v"),
    ]
    if exposed_at is not None:
        projections.append(_as(exp.Min(this=_col(exposed_at, "x")), "t"))
    one_variant = exp.EQ(this=exp.Min(this=v.copy()), expression=exp.Max(this=v.copy()))
    return (
        exp.select(*projections)
        .from_(src)
        .where(exp.Not(this=exp.Is(this=u.copy(), expression=exp.Null())))
        .group_by(exp.Literal.number(1))
        .having(one_variant)
    )


def exposure_counts(
    exposures: str, unit: str, variant: str = "variant", *, unique: bool = False
) -> exp.Select:
    """Units per variant, and (as variant NULL) units seen in more than one variant
    (``unique=True``: rows per variant, the source holding one row per unit)."""
    src = source_tree(exposures, "x")
    u = _col(unit, "x")
    v = exp.cast(_col(variant, "x"), "VARCHAR")
    if unique:
        return (
            exp.select(_as(v.copy(), "v"), _as(exp.Count(this=exp.Star()), "n"))
            .from_(src)
            .where(exp.Not(this=exp.Is(this=u.copy(), expression=exp.Null())))
            .group_by(exp.Literal.number(1))
        )
    per_unit = (
        exp.select(
            _as(u.copy(), "u"),
            _as(
                exp.If(
                    this=exp.EQ(this=exp.Min(this=v.copy()), expression=exp.Max(this=v.copy())),
                    true=exp.Min(this=v.copy()),
                    false=exp.Null(),
                ),
                "v",
            ),
        )
        .from_(src)
        .where(exp.Not(this=exp.Is(this=u.copy(), expression=exp.Null())))
        .group_by(exp.Literal.number(1))
    )
    return (
        exp.select(_as(exp.column("v"), "v"), _as(exp.Count(this=exp.Star()), "n"))
        .from_(subquery(per_unit, "pu"))
        .group_by(exp.Literal.number(1))
    )


def metric_query(
    metric: Metric,
    exposures: str,
    unit: str,
    *,
    variant: str = "variant",
    exposed_at: str | None = "exposed_at",
    unique_exposures: bool = False,
) -> exp.Query:
    """The one statement that summarises ``metric`` per variant (see the module docstring)."""
    timed = metric.timestamp is not None and exposed_at is not None
    e = exposures_cte(
        exposures, unit, variant, exposed_at if timed else None, unique=unique_exposures
    )
    m_src = source_tree(metric.sql, "s")
    m_proj = [
        _as(_col(metric.unit, "s"), "u"),
        _as(_double(_col(metric.value, "s")), "y"),
    ]
    if metric.denominator is not None:
        m_proj.append(_as(_double(_col(metric.denominator, "s")), "d"))
    if timed:
        assert metric.timestamp is not None
        m_proj.append(_as(_col(metric.timestamp, "s"), "t"))
    m = exp.select(*m_proj).from_(m_src)

    def unit_value(y: exp.Expr) -> exp.Expr:
        """A unit's value from its rows: their sum, or (proportion) whether any is positive."""
        if metric.kind != "proportion":
            return _sum(y)
        positive = exp.GT(this=y, expression=exp.Literal.number(0))
        return exp.Max(
            this=exp.Case().when(positive, exp.Literal.number(1)).else_(exp.Literal.number(0))
        )

    def or_zero(e: exp.Expr) -> exp.Expr:
        return _double(exp.Coalesce(this=e, expressions=[exp.Literal.number(0)]))

    on: exp.Expr = exp.EQ(this=_col("u", "m"), expression=_col("u", "e"))
    per_proj = [_as(_col("u", "e"), "u"), _as(_col("v", "e"), "v")]
    if timed:
        # rows count from the unit's exposure on: join first, then one value per unit
        on = exp.and_(on, exp.GTE(this=_col("t", "m"), expression=_col("t", "e")))
        per_proj.append(_as(or_zero(unit_value(_col("y", "m"))), "y"))
        if metric.denominator is not None:
            per_proj.append(_as(or_zero(_sum(_col("d", "m"))), "d"))
    else:
        # one value per unit first (a smaller join, and no aggregation after it)
        if not metric.one_row_per_unit:
            unit_proj = [_as(exp.column("u"), "u"), _as(unit_value(exp.column("y")), "y")]
            if metric.denominator is not None:
                unit_proj.append(_as(_sum(exp.column("d")), "d"))
            m = exp.select(*unit_proj).from_(subquery(m, "r")).group_by(exp.Literal.number(1))
        elif metric.kind == "proportion":
            m = exp.select(
                _as(exp.column("u"), "u"),
                _as(unit_value(exp.column("y")).this, "y"),  # the CASE, without MAX
                *([_as(exp.column("d"), "d")] if metric.denominator is not None else []),
            ).from_(subquery(m, "r"))
        per_proj.append(_as(or_zero(_col("y", "m")), "y"))
        if metric.denominator is not None:
            per_proj.append(_as(or_zero(_col("d", "m")), "d"))
    per_unit = (
        exp.select(*per_proj)
        .from_(exp.alias_(exp.to_table(CTE["e"]), "e"))
        .join(exp.alias_(exp.to_table(CTE["m"]), "m"), on=on, join_type="left")
    )
    if timed:
        per_unit = per_unit.group_by(exp.Literal.number(1), exp.Literal.number(2))

    yy = _col("y", "p")
    final = [
        _as(_col("v", "p"), "v"),
        _as(exp.Count(this=exp.Star()), "n"),
        _as(_sum(yy.copy()), "s"),
        _as(_sum(_mul(yy.copy(), yy.copy())), "ss"),
    ]
    query = exp.select()
    ctes: list[tuple[str, exp.Query]] = [(CTE["e"], e), (CTE["m"], m), (CTE["pu"], per_unit)]
    from_: exp.Expr = exp.alias_(exp.to_table(CTE["pu"]), "p")
    if metric.denominator is not None:
        d = _col("d", "p")
        final += [
            _as(_sum(d.copy()), "ds"),
            _as(_sum(_mul(d.copy(), d.copy())), "dss"),
            _as(_sum(_mul(yy.copy(), d.copy())), "yd"),
        ]
    if metric.pre_sql is not None:
        pre_src = source_tree(metric.pre_sql, "s")
        pre_y = _col(metric.value, "s")
        if metric.kind == "proportion":
            pre_unit: exp.Expr = exp.Max(
                this=exp.Case()
                .when(exp.GT(this=pre_y, expression=exp.Literal.number(0)), exp.Literal.number(1))
                .else_(exp.Literal.number(0))
            )
        else:
            pre_unit = _sum(pre_y)
        pre = (
            exp.select(
                _as(_col(metric.unit, "s"), "u"),
                _as(_double(pre_unit), "x"),
            )
            .from_(pre_src)
            .group_by(exp.Literal.number(1))
        )
        ctes.append((CTE["pre"], pre))
        x = exp.Coalesce(this=_col("x", "q"), expressions=[exp.Literal.number(0)])
        final += [
            _as(_sum(x.copy()), "xs"),
            _as(_sum(_mul(x.copy(), x.copy())), "xss"),
            _as(_sum(_mul(yy.copy(), x.copy())), "yx"),
        ]
    query = exp.select(*final).from_(from_)
    if metric.pre_sql is not None:
        query = query.join(
            exp.alias_(exp.to_table(CTE["pre"]), "q"),
            on=exp.EQ(this=_col("u", "q"), expression=_col("u", "p")),
            join_type="left",
        )
    query = query.group_by(exp.Literal.number(1)).order_by(exp.Literal.number(1))
    for name, body in ctes:
        query = query.with_(ident(name, always_quote=False), as_=body)
    return query
