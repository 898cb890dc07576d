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
from ..sqlbuild import (
    DIALECT,
    Params,
    SqlBuildError,
    aggregate,
    column_ref,
    compare,
    one_of,
    parse_table,
    subquery,
)
from ..sqlbuild import ident as _ident

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
        try:
            table = parse_table(text, always_quote=False)
        except SqlBuildError:
            raise DashboardError(
                f"{text!r} is not a table name: use TABLE or SCHEMA.TABLE"
            ) from None
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


def _col(name: str) -> exp.Column:
    return column_ref(name, "src")


def _aggregate(m: Measure) -> exp.Expr:
    return aggregate(m.agg, None if m.column in (None, "*") else _col(m.column))


def _condition(p: Predicate, params: Params) -> exp.Expr:
    col = _col(p.column)
    if p.op == "in":
        return one_of(col, [params.bind(v) for v in p.value])
    return compare(p.op, col, params.bind(p.value))


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
    bound = Params("dap_p")
    try:
        select = _select(base, bound, group, measures, columns, where, order, limit)
    except SqlBuildError as e:
        raise DashboardError(e.message) from None
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


def _select(
    base: exp.Query,
    bound: Params,
    group: Sequence[str],
    measures: Sequence[Measure],
    columns: Sequence[str],
    where: Sequence[Predicate],
    order: Sequence[tuple[str, bool]],
    limit: int | None,
) -> exp.Select:
    select = exp.Select().from_(subquery(base, "src"))
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
            *(exp.Ordered(this=column_ref(c), desc=desc or None) for c, desc in order)
        )
    if limit is not None:
        select = select.limit(int(limit))
    return select


def _plain(value: Any) -> Any:
    """Widget values as the engine binds them (tuples → lists; dates stay dates)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dt.datetime | dt.date | str | int | float | bool) or value is None:
        return value
    return value
