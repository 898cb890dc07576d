"""Metrics as SQL over lake tables: :class:`Metric`, and the SQL pieces the summary shares.

A :class:`Metric` is a SELECT giving a unit column and a value column (a ratio metric also a
denominator; any metric may give a timestamp, so only rows at or after the unit's first
exposure count). :mod:`.summary` reads all of an analysis's metrics in one statement and
returns one row per variant with the sufficient statistics: units, ``Σy``, ``Σy²`` and, for
ratio metrics and CUPED, ``Σd``, ``Σd²``, ``Σy·d`` or ``Σx``, ``Σx²``, ``Σy·x``. Only those
aggregates leave the engine. Statements are built as sqlglot trees (names quoted, sources as
subqueries) and run through the caller's governed session, so their row filters and masks
apply to the exposures and to every table a metric reads. :func:`exposure_counts` is the
exact per-name count of the exposures, for naming variants an experiment does not have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from ..governance.rewrite import parse_one_statement
from ..sqlbuild import DIALECT, column_ref, parse_table, subquery
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
    ``one_row_per_unit=True`` trusts ``sql`` (and ``pre_sql``) to give at most one row per unit
    and skips the per-unit GROUP BY (the slowest step on tens of millions of units); a wrong
    claim counts a unit's rows as separate units.
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
