"""Pieces of SQL built as sqlglot trees, shared by the query builder, dashboards and quality.

Three features write SQL from what a user typed: the visual query builder
(:mod:`dap_kernel.querybuild`), dashboard components (:mod:`dap_kernel.dashboards.sqlgen`) and
quality rules (:mod:`dap_kernel.quality.plan`). They all build a sqlglot tree rather than paste
text, and they share the two rules that make that safe, kept here once:

* **values are bound, never written**: :class:`Params` turns each value into a ``$name``
  placeholder and keeps the value beside the statement; only :meth:`Params.inline`, for SQL a
  person reads, writes them as literals, and sqlglot (not string pasting) writes those;
* **names are identifiers, never SQL**: :func:`ident` and the helpers built on it
  (:func:`column_ref`, :func:`table_ref`, :func:`parse_table`, :func:`subquery`) make
  identifier nodes, which sqlglot quotes (escaping any quote inside), so a name cannot end the
  identifier and go on as SQL.

Conditions (:func:`compare`, :func:`is_null`, :func:`one_of`) and aggregates (:func:`aggregate`)
are the vocabulary the features have in common. A caller checks what it was given against its
own contract (the catalog, a rule schema) and words its own errors; :class:`SqlBuildError` is
what is left: a name or operator no SQL can be made of, which callers turn into their own error.

>>> params = Params()
>>> orders = parse_table("main.orders", alias="t")
>>> query = exp.select(aggregate("count", None)).from_(orders)
>>> query = query.where(compare("=", column_ref("region", "t"), params.bind("x' OR 1=1 --")))
>>> print(query.sql(dialect=DIALECT)); params.values
SELECT COUNT(*) FROM "main"."orders" AS t WHERE t."region" = $p0
{'p0': "x' OR 1=1 --"}
>>> print(params.inline(query).sql(dialect=DIALECT))
SELECT COUNT(*) FROM "main"."orders" AS t WHERE t."region" = 'x'' OR 1=1 --'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlglot import exp

from .errors import DapError

DIALECT = "duckdb"


class SqlBuildError(DapError):
    """A name, operator or aggregate that no SQL can be made of; callers reword it as theirs."""

    code = "invalid_sql_part"
    http_status = 400


# --------------------------------------------------------------------------------------------
# Values


class Params:
    """Values bound to placeholders ``$<prefix>0``, ``$<prefix>1``, … of one statement.

    ``prefix`` keeps the names apart from placeholders the statement already has (a dashboard's
    own ``:region``). DuckDB refuses a statement that leaves a given placeholder unused, so bind
    a value only where it is used.
    """

    def __init__(self, prefix: str = "p") -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def bind(self, value: Any, as_type: str | exp.DataType | None = None) -> exp.Expr:
        """A new placeholder for ``value``; ``as_type`` casts it where the engine cannot tell
        the type from the context (a date sent as an ISO string, text in a concatenation)."""
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        placeholder = exp.Placeholder(this=name)
        if as_type is None:
            return placeholder
        to = as_type.copy() if isinstance(as_type, exp.DataType) else exp.DataType.build(as_type)
        return exp.Cast(this=placeholder, to=to)

    def text(self, value: str) -> exp.Expr:
        """``value`` bound as VARCHAR: text the engine must concatenate (a reason message)."""
        return self.bind(value, "VARCHAR")

    def inline(self, tree: exp.Expr) -> exp.Expr:
        """A copy of ``tree`` with this statement's values written as literals: SQL for people
        to read or paste, never the statement that runs."""
        values = self.values

        def literal_for(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and node.name in values:
                return literal(values[node.name])
            return node

        return tree.copy().transform(literal_for)


def literal(value: Any) -> exp.Expr:
    """``value`` as a sqlglot literal node: sqlglot, not string pasting, writes its SQL."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, Decimal) and value.is_finite():
        return exp.Literal.number(str(value))
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isfinite(number):
            return exp.Literal.number(repr(number))
        return exp.Cast(this=exp.Literal.string(repr(number)), to=exp.DataType.build("DOUBLE"))
    if isinstance(value, dt.datetime):
        type_ = "TIMESTAMPTZ" if value.tzinfo is not None else "TIMESTAMP"
        return exp.Cast(
            this=exp.Literal.string(value.isoformat(sep=" ")), to=exp.DataType.build(type_)
        )
    if isinstance(value, dt.date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
    if isinstance(value, dt.time):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("TIME"))
    return exp.Literal.string(str(value))


# --------------------------------------------------------------------------------------------
# Names


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ident(name: str, *, always_quote: bool = True) -> exp.Identifier:
    """``name`` as an identifier. Always quoted by default (case kept, keywords harmless);
    ``always_quote=False`` leaves plain ASCII words unquoted, for SQL people read (sqlglot
    still quotes keywords). There is no "never quote": that name would be written as it is.

    The plain-word test is ours, not sqlglot's: its pattern ends in ``$``, which lets a name
    ending in a newline through unquoted, and that name would then read as another one.
    """
    if not isinstance(name, str) or not name:
        raise SqlBuildError(f"{name!r} is not a name")
    quoted = always_quote or _PLAIN_NAME.fullmatch(name) is None
    return exp.to_identifier(name, quoted=quoted)


def column_ref(name: str, table: str | None = None, *, always_quote: bool = True) -> exp.Column:
    """``table.name``, or ``name`` alone; ``table`` is an alias the caller chose, quoted only
    where it needs it."""
    qualifier = ident(table, always_quote=False) if table is not None else None
    return exp.Column(this=ident(name, always_quote=always_quote), table=qualifier)


def table_ref(
    name: str, schema: str | None = None, *, alias: str | None = None, always_quote: bool = True
) -> exp.Table:
    """``schema.name AS alias`` from parts already split (the alias is quoted where needed)."""
    return exp.Table(
        this=ident(name, always_quote=always_quote),
        db=ident(schema, always_quote=always_quote) if schema is not None else None,
        alias=exp.TableAlias(this=ident(alias, always_quote=False)) if alias else None,
    )


def split_table(written: str) -> tuple[str | None, str]:
    """``"table"`` → ``(None, "table")``, ``"schema.table"`` → ``("schema", "table")``;
    anything else (more dots, an empty part) is :class:`SqlBuildError`."""
    parts = written.split(".")
    if len(parts) > 2 or not all(parts):
        raise SqlBuildError(f"table name {written!r} must be `table` or `schema.table`")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def parse_table(written: str, *, alias: str | None = None, always_quote: bool = True) -> exp.Table:
    """A table written as ``table`` or ``schema.table`` (see :func:`split_table`)."""
    schema, name = split_table(written)
    return table_ref(name, schema, alias=alias, always_quote=always_quote)


def subquery(query: exp.Expr, alias: str) -> exp.Subquery:
    """``(query) AS alias``."""
    return exp.Subquery(this=query, alias=exp.TableAlias(this=ident(alias, always_quote=False)))


# --------------------------------------------------------------------------------------------
# Conditions

COMPARISONS: dict[str, type[exp.Binary]] = {
    "=": exp.EQ,
    "!=": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}


def compare(op: str, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """``left op right`` for one of :data:`COMPARISONS`; ``right`` is a bound value as a rule."""
    try:
        node = COMPARISONS[op]
    except KeyError:
        raise SqlBuildError(f"unknown comparison {op!r}: use {', '.join(COMPARISONS)}") from None
    return node(this=left, expression=right)


def is_null(value: exp.Expr) -> exp.Expr:
    return exp.Is(this=value, expression=exp.Null())


def is_not_null(value: exp.Expr) -> exp.Expr:
    return exp.Not(this=is_null(value))


def one_of(value: exp.Expr, items: Sequence[exp.Expr]) -> exp.Expr:
    """``value IN (items)``; no items is FALSE (SQL has no empty list)."""
    if not items:
        return exp.false()
    return exp.In(this=value, expressions=list(items))


# --------------------------------------------------------------------------------------------
# Aggregates

_AGGREGATE_FUNCS: dict[str, type[exp.Func]] = {
    "count": exp.Count,
    "sum": exp.Sum,
    "avg": exp.Avg,
    "min": exp.Min,
    "max": exp.Max,
}
AGGREGATES = ("sum", "avg", "count", "count_distinct", "min", "max")


def aggregate(func: str, value: exp.Expr | None) -> exp.Expr:
    """``func(value)`` for one of :data:`AGGREGATES`; ``count`` of nothing counts rows and
    ``count_distinct`` counts distinct non-null values."""
    if func not in AGGREGATES:
        raise SqlBuildError(f"unknown aggregate {func!r}: use {', '.join(AGGREGATES)}")
    if value is None:
        if func != "count":
            raise SqlBuildError(f"{func} needs a column (only count counts rows)")
        return exp.Count(this=exp.Star())
    if func == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[value]))
    return _AGGREGATE_FUNCS[func](this=value)
