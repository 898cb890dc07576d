"""SQL for dashboard components: a base relation wrapped in filters, drill paths and grouping.

A component names a *base* (a catalog table or one SELECT over the catalog) and asks for
``SELECT dims, AGG(measure) FROM (base) AS src WHERE … GROUP BY dims``. The tree is built with
sqlglot, so column names become quoted identifiers and every filter value becomes a ``$name``
placeholder bound at run time: a value typed into a filter never becomes SQL text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError

from ..errors import DapError
from ..governance.rewrite import colon_parameters_to_dollar

DIALECT = "duckdb"
AGGREGATES = ("sum", "avg", "count", "count_distinct", "min", "max")
Op = Literal["=", "in", ">=", "<", "<=", ">"]


class DashboardError(DapError):
    """A dashboard definition that does not fit together (unknown column, bad aggregate …)."""

    code = "invalid_dashboard"
    http_status = 400


@dataclass(frozen=True)
class Predicate:
    """One condition on a column of the base relation; the value is always bound."""

    column: str
    op: Op
    value: Any

    def describe(self) -> str:
        if self.op == "in":
            return f"{self.column} in ({', '.join(map(str, self.value))})"
        return f"{self.column} {self.op} {self.value}"


@dataclass(frozen=True)
class Measure:
    column: str | None  # None (or "*") counts rows
    agg: str = "sum"
    alias: str | None = None

    @property
    def name(self) -> str:
        if self.alias:
            return self.alias
        if self.column in (None, "*"):
            return "count"
        return (
            self.column if self.agg in ("sum", "avg", "min", "max") else f"{self.agg}_{self.column}"
        )


@dataclass
class Built:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def base_select(source: str) -> exp.Query:
    """``orders`` → ``SELECT * FROM orders``; a SELECT is parsed as it is (parameters kept)."""
    text = source.strip().rstrip(";")
    if not text:
        raise DashboardError("a dashboard component needs a table name or a SELECT")
    if " " not in text and "\n" not in text:
        parts = text.split(".")
        if len(parts) > 2 or not all(parts):
            raise DashboardError(f"{text!r} is not a table name: use TABLE or SCHEMA.TABLE")
        table = exp.Table(
            this=exp.to_identifier(parts[-1]),
            db=exp.to_identifier(parts[0]) if len(parts) == 2 else None,
        )
        return exp.select(exp.Star()).from_(table)
    try:
        tree = parse_one(colon_parameters_to_dollar(text, DIALECT), read=DIALECT)
    except SqlglotError as e:
        raise DashboardError(f"the component's SQL does not parse: {str(e).splitlines()[0]}") from e
    if not isinstance(tree, exp.Query):
        raise DashboardError("a dashboard component reads with one SELECT statement")
    return tree


def output_columns(source: str) -> list[str] | None:
    """Names the base relation returns, or None when it selects ``*`` (ask the catalog)."""
    names = base_select(source).named_selects
    return None if "*" in names or not names else list(names)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str) -> exp.Column:
    return exp.column(_ident(name), table=exp.to_identifier("src"))


def _aggregate(m: Measure) -> exp.Expr:
    if m.agg not in AGGREGATES:
        raise DashboardError(f"unknown aggregate {m.agg!r}: use {', '.join(AGGREGATES)}")
    if m.column in (None, "*"):
        if m.agg != "count":
            raise DashboardError(f"{m.agg} needs a column")
        return exp.Count(this=exp.Star())
    col = _col(m.column)
    if m.agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[col]))
    func = {"sum": exp.Sum, "avg": exp.Avg, "count": exp.Count, "min": exp.Min, "max": exp.Max}
    return func[m.agg](this=col)


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> exp.Placeholder:
        name = f"dap_p{len(self.values)}"
        self.values[name] = value
        return exp.Placeholder(this=name)


def _condition(p: Predicate, params: _Params) -> exp.Expr:
    col = _col(p.column)
    if p.op == "in":
        values = list(p.value)
        if not values:
            return exp.false()
        return exp.In(this=col, expressions=[params.bind(v) for v in values])
    ops = {"=": exp.EQ, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE, ">": exp.GT}
    if p.op not in ops:
        raise DashboardError(f"unknown filter operator {p.op!r}")
    return ops[p.op](this=col, expression=params.bind(p.value))


def build(
    source: str,
    *,
    group: Sequence[str] = (),
    measures: Sequence[Measure] = (),
    columns: Sequence[str] = (),
    where: Sequence[Predicate] = (),
    params: Mapping[str, Any] | None = None,
    order: Sequence[tuple[str, bool]] = (),
    limit: int | None = None,
) -> Built:
    """The component's statement and its bound values (base parameters included).

    ``params`` are the dashboard's named parameters (``:start``, ``:region`` …) offered to the
    base SELECT; only those it names are bound.
    """
    base = base_select(source)
    bound = _Params()
    select = exp.Select().from_(exp.Subquery(this=base, alias=exp.TableAlias(this="src")))
    if measures or group:
        select = select.select(*(exp.alias_(_col(g), _ident(g)) for g in group))
        select = select.select(*(exp.alias_(_aggregate(m), _ident(m.name)) for m in measures))
        if group:
            select = select.group_by(*(_col(g) for g in group))
    elif columns:
        select = select.select(*(exp.alias_(_col(c), _ident(c)) for c in columns))
    else:
        select = select.select(exp.Star())
    conditions = [_condition(p, bound) for p in where]
    if conditions:
        select = select.where(exp.and_(*conditions))
    if order:
        select = select.order_by(
            *(exp.Ordered(this=exp.column(_ident(c)), desc=desc or None) for c, desc in order)
        )
    if limit is not None:
        select = select.limit(int(limit))
    wanted = {p.name for p in base.find_all(exp.Placeholder) if p.name}
    values = {k: _plain(v) for k, v in (params or {}).items() if k in wanted}
    missing = sorted(wanted - set(values))
    if missing:
        raise DashboardError(
            f"the component's SQL uses {', '.join(':' + m for m in missing)}: "
            "add a filter with that name"
        )
    values.update({k: _plain(v) for k, v in bound.values.items()})
    return Built(select.sql(dialect=DIALECT), values)


def _plain(value: Any) -> Any:
    """Widget values as the engine binds them (tuples → lists; dates stay dates)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dt.datetime | dt.date | str | int | float | bool) or value is None:
        return value
    return value
