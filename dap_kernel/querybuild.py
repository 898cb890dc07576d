"""Visual query spec → SQL, for ``POST /dap/api/v1/query/build`` and the lab query builder.

The builder in the browser sends a small JSON spec (table, joins, columns, filters, grouping,
aggregates, ordering, limit); :func:`build_query` checks every name against the catalog and
returns SQL for the one governed path (``Session.sql``), which checks it again like any other
statement. The SQL is built as a sqlglot tree, never by pasting text: names become quoted
identifiers and filter values become ``$pN`` placeholders bound at run time. ``display_sql``
is the same tree with the values turned into literal nodes, for showing to the user and for
"insert as notebook cell"; sqlglot writes the literals, so a hostile value stays a string.

>>> cols = {"orders": [("id", "INTEGER"), ("amount", "DECIMAL(10,2)")]}
>>> spec = QuerySpec(table="orders", filters=[FilterSpec(column="amount", op=">", value=10)])
>>> b = build_query(spec, cols.__getitem__)
>>> b.sql, b.params
('SELECT t0.id, t0.amount FROM orders AS t0 WHERE t0.amount > $p0', {'p0': 10})
>>> b.display_sql.splitlines()[-1]
'  t0.amount > 10'
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .errors import DapError
from .sqlbuild import (
    COMPARISONS,
    DIALECT,
    Params,
    SqlBuildError,
    aggregate,
    column_ref,
    compare,
    is_not_null,
    is_null,
    one_of,
    split_table,
    table_ref,
)

MAX_NAME_CHARS = 512
MAX_IN_VALUES = 10_000
_SHOWN_COLUMNS = 30  # columns listed in an "unknown column" message before "…"

ColumnsOf = Callable[[str], Sequence[tuple[str, str]]]
"""``columns_of(table)``: (name, SQL type) pairs of a catalog table, or raises UnknownTable."""


class InvalidQuerySpec(DapError):
    """The visual query spec names a column that does not exist, or does not fit together."""

    code = "invalid_query_spec"
    http_status = 400


# --------------------------------------------------------------------------------------------
# The contract (the REST layer reuses these models for its OpenAPI document)

_COLUMN_REF = (
    "a column: `col`, or `table.col` where `table` is the table name as written or its last part"
)


class JoinKey(BaseModel):
    """One equality of a join condition."""

    model_config = ConfigDict(extra="forbid")

    left: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"Column of a table joined before this one; {_COLUMN_REF}.",
    )
    right: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"Column of the table this join adds; {_COLUMN_REF}.",
    )


FilterOp = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "between",
    "like",
    "contains",
    "starts with",
    "is null",
    "is not null",
]


class FilterSpec(BaseModel):
    """One condition of the WHERE clause; all filters must hold (AND)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        min_length=1, max_length=MAX_NAME_CHARS, description=f"The filtered column; {_COLUMN_REF}."
    )
    op: FilterOp = Field(
        description=(
            "Comparison. `like` takes a SQL pattern (`%`, `_`); `contains` and `starts with` "
            "match the text literally and ignore case."
        )
    )
    value: Any = Field(
        default=None,
        description=(
            "A string, number or boolean; a non-empty list for `in`/`not in`; a list of two "
            "values (low, high) for `between`; nothing for `is null`/`is not null`. Dates and "
            "timestamps are ISO strings. Always sent as a bound parameter."
        ),
    )


class JoinSpec(BaseModel):
    """One more table, joined to the ones before it."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Catalog table name, `table` or `schema.table`.",
    )
    type: Literal["inner", "left", "right", "full"] = Field(
        default="inner", description="Join type (outer joins keep unmatched rows of that side)."
    )
    on: list[JoinKey] = Field(
        min_length=1, max_length=32, description="Column pairs that must be equal (AND)."
    )


class AggregateSpec(BaseModel):
    """One aggregate output column, computed per group (or over all rows without group_by)."""

    model_config = ConfigDict(extra="forbid")

    func: Literal["count", "count_distinct", "sum", "avg", "min", "max"] = Field(
        description="Aggregate function; `count_distinct` counts distinct non-null values."
    )
    column: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"The aggregated column ({_COLUMN_REF}); none or `*` only for `count` (rows).",
    )
    alias: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Output column name; default `count`, `sum_amount`, `count_distinct_id`, ….",
    )


class OrderSpec(BaseModel):
    """One sort key."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"An output column name (including aggregate aliases) or {_COLUMN_REF}.",
    )
    descending: bool = Field(default=False, description="Sort from largest to smallest.")


class QuerySpec(BaseModel):
    """What the visual query builder sends: one SELECT over catalog tables."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Main catalog table, `table` or `schema.table`.",
    )
    joins: list[JoinSpec] = Field(
        default_factory=list, max_length=16, description="Tables joined to the main one, in order."
    )
    columns: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description=(
            "Output columns when there is no aggregation; empty means every column of the main "
            "table. With aggregates or group_by, only group_by columns may be listed here."
        ),
    )
    filters: list[FilterSpec] = Field(
        default_factory=list, max_length=200, description="WHERE conditions, all of which hold."
    )
    group_by: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Grouping columns; they come first in the output, then the aggregates.",
    )
    aggregates: list[AggregateSpec] = Field(
        default_factory=list, max_length=100, description="Aggregate output columns."
    )
    order_by: list[OrderSpec] = Field(
        default_factory=list, max_length=100, description="Sort keys, most significant first."
    )
    limit: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Return at most this many rows."
    )


class BuiltQuery(BaseModel):
    """The SQL for a spec, to run through the governed query path."""

    sql: str = Field(
        description="DuckDB SQL with `$p0`, `$p1`, … placeholders; run it with `params`."
    )
    params: dict[str, Any] = Field(description='Placeholder values: {"p0": value, …}.')
    display_sql: str = Field(
        description="The same query with the values written as SQL literals, for reading and "
        "for pasting into a notebook cell."
    )
    columns: list[str] = Field(description="Output column names, in order.")


# --------------------------------------------------------------------------------------------
# Building


def build_query(spec: QuerySpec, columns_of: ColumnsOf) -> BuiltQuery:
    """Check ``spec`` against the catalog (through ``columns_of``) and build its SQL.

    Raises :class:`~dap_kernel.errors.UnknownTable` for a table ``columns_of`` does not know
    and :class:`InvalidQuerySpec` for anything else that does not fit, with a one-line message.
    """
    tables = [_Source.load(0, spec.table, columns_of)]
    for i, join in enumerate(spec.joins, start=1):
        tables.append(_Source.load(i, join.table, columns_of))
    params = Params()
    select = exp.Select().from_(tables[0].table_expr(), copy=False)

    for i, join in enumerate(spec.joins, start=1):
        keys = [
            exp.EQ(
                this=_resolve(key.left, tables[:i], f"join {i} left").expr(),
                expression=_resolve(key.right, tables[i : i + 1], f"join {i} right").expr(),
            )
            for key in join.on
        ]
        side = None if join.type == "inner" else join.type.upper()
        select.join(
            exp.Join(this=tables[i].table_expr(), on=exp.and_(*keys), side=side), copy=False
        )

    outputs = _Outputs()
    if spec.aggregates or spec.group_by:
        group = _unique([_resolve(c, tables, "group_by") for c in spec.group_by])
        for ref in _unique([_resolve(c, tables, "columns") for c in spec.columns]):
            if ref not in group:
                raise InvalidQuerySpec(
                    f"column {ref.column!r} is neither grouped nor aggregated: add it to "
                    "group_by, aggregate it, or remove it from columns"
                )
        for ref in group:
            outputs.add_column(ref)
        reserved = {a.alias.lower() for a in spec.aggregates if a.alias}
        for i, agg in enumerate(spec.aggregates, start=1):
            outputs.add_aggregate(_aggregate(agg, tables, f"aggregate {i}"), agg.alias, reserved)
        if group:
            select.group_by(*(ref.expr() for ref in group), copy=False)
    else:
        refs = [_resolve(c, tables, "columns") for c in spec.columns]
        if not refs:
            refs = [_Ref(tables[0], name, type_) for name, type_ in tables[0].ordered]
        for ref in _unique(refs):
            outputs.add_column(ref)
    select.select(*outputs.select_exprs(), copy=False)

    conditions = [
        _condition(f, _resolve(f.column, tables, f"filter {i}"), params, f"filter {i}")
        for i, f in enumerate(spec.filters, start=1)
    ]
    if conditions:
        select.where(exp.and_(*conditions), copy=False)

    grouped = bool(spec.aggregates or spec.group_by)
    order = [
        exp.Ordered(this=outputs.order_expr(o.column, tables, grouped), desc=o.descending or None)
        for o in spec.order_by
    ]
    if order:
        select.order_by(*order, copy=False)
    if spec.limit is not None:
        select.set("limit", exp.Limit(expression=exp.Literal.number(int(spec.limit))))

    return BuiltQuery(
        sql=select.sql(dialect=DIALECT),
        params=dict(params.values),
        display_sql=params.inline(select).sql(dialect=DIALECT, pretty=True),
        columns=outputs.names,
    )


@dataclass(frozen=True)
class _Source:
    """One table of the query: its name as written, its alias and its columns."""

    index: int
    written: str
    columns: dict[str, tuple[str, str]]  # lower-cased name → (catalog spelling, SQL type)
    ordered: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, index: int, written: str, columns_of: ColumnsOf) -> _Source:
        _table_parts(written)  # a malformed name is a spec error before any catalog lookup
        ordered = tuple((str(n), str(t)) for n, t in columns_of(written))
        return cls(index, written, {n.lower(): (n, t) for n, t in ordered}, ordered)

    @property
    def alias(self) -> str:
        return f"t{self.index}"

    @property
    def short(self) -> str:
        return self.written.rsplit(".", 1)[-1]

    def qualifiers(self) -> set[str]:
        return {self.written.lower(), self.short.lower()}

    def table_expr(self) -> exp.Table:
        schema, name = _table_parts(self.written)
        return table_ref(name, schema, alias=self.alias, always_quote=False)

    def find(self, name: str) -> tuple[str, str] | None:
        return self.columns.get(name.lower())


def _table_parts(written: str) -> tuple[str | None, str]:
    try:
        return split_table(written)
    except SqlBuildError as e:
        raise InvalidQuerySpec(e.message) from None


@dataclass(frozen=True)
class _Ref:
    """A checked column reference."""

    source: _Source
    column: str
    type: str

    def expr(self) -> exp.Column:
        return column_ref(self.column, self.source.alias, always_quote=False)

    def key(self) -> tuple[int, str]:
        return (self.source.index, self.column)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ref) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())


def _unique(refs: list[_Ref]) -> list[_Ref]:
    return list(dict.fromkeys(refs))


def _resolve(ref: str, tables: Sequence[_Source], what: str) -> _Ref:
    """Find ``col`` or ``table.col`` among ``tables``; one clear line if it is not exactly one."""
    lowered = ref.lower()
    hits: dict[int, _Ref] = {}
    for source in tables:
        for qualifier in source.qualifiers():
            if lowered.startswith(qualifier + "."):
                found = source.find(ref[len(qualifier) + 1 :])
                if found is not None:
                    hits[source.index] = _Ref(source, *found)
    if not hits:
        for source in tables:
            found = source.find(ref)
            if found is not None:
                hits[source.index] = _Ref(source, *found)
    if len(hits) == 1:
        return next(iter(hits.values()))
    if hits:
        where = " and ".join(r.source.written for r in hits.values())
        spelled = " or ".join(f"{r.source.written}.{r.column}" for r in hits.values())
        raise InvalidQuerySpec(f"{what}: column {ref!r} is ambiguous (in {where}); write {spelled}")
    available = [f"{s.short}.{n}" if len(tables) > 1 else n for s in tables for n, _ in s.ordered]
    close = difflib.get_close_matches(ref, available, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(available[:_SHOWN_COLUMNS]) + (
        ", …" if len(available) > _SHOWN_COLUMNS else ""
    )
    in_tables = ", ".join(s.written for s in tables)
    raise InvalidQuerySpec(
        f"{what}: unknown column {ref!r} in {in_tables} (available: {shown}){hint}"
    )


@dataclass
class _Output:
    name: str
    expr: exp.Expr  # the value, without alias: also the ORDER BY key
    ref: _Ref | None


@dataclass
class _Outputs:
    """The select list, with unique output names."""

    items: list[_Output] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.items]

    def _taken(self, name: str, reserved: Collection[str] = ()) -> bool:
        lowered = name.lower()
        return lowered in reserved or any(o.name.lower() == lowered for o in self.items)

    def _free(self, base: str, reserved: Collection[str]) -> str:
        name, n = base, 2
        while self._taken(name, reserved):
            name, n = f"{base}_{n}", n + 1
        return name

    def add_column(self, ref: _Ref) -> None:
        name = ref.column
        if self._taken(name):
            name = self._free(f"{ref.source.short}_{ref.column}", ())
        self.items.append(_Output(name, ref.expr(), ref))

    def add_aggregate(
        self, agg: tuple[exp.Expr, str], alias: str | None, reserved: Collection[str]
    ) -> None:
        value, default = agg
        if alias is not None:
            if self._taken(alias):
                raise InvalidQuerySpec(f"output column name {alias!r} is used twice")
            name = alias
        else:
            name = self._free(default, reserved)
        self.items.append(_Output(name, value, None))

    def select_exprs(self) -> list[exp.Expr]:
        exprs: list[exp.Expr] = []
        for o in self.items:
            if isinstance(o.expr, exp.Column) and o.ref is not None and o.ref.column == o.name:
                exprs.append(o.expr.copy())
            else:
                exprs.append(exp.alias_(o.expr.copy(), exp.to_identifier(o.name)))
        return exprs

    def order_expr(self, column: str, tables: Sequence[_Source], grouped: bool) -> exp.Expr:
        """An output name (aggregate alias included) first, then a column of the tables.

        Sorting by the output's own expression rather than its alias leaves nothing to the
        engine's alias-versus-column precedence.
        """
        for o in self.items:
            if o.name == column:
                return o.expr.copy()
        for o in self.items:
            if o.name.lower() == column.lower():
                return o.expr.copy()
        ref = _resolve(column, tables, "order_by")
        if grouped and all(o.ref != ref for o in self.items):
            raise InvalidQuerySpec(
                f"order_by: {column!r} is neither a group_by column nor an aggregate"
            )
        return ref.expr()


def _aggregate(agg: AggregateSpec, tables: Sequence[_Source], what: str) -> tuple[exp.Expr, str]:
    """The aggregate expression and its default output name."""
    if agg.column is None or agg.column == "*":
        try:
            return aggregate(agg.func, None), "count"
        except SqlBuildError as e:
            raise InvalidQuerySpec(f"{what}: {e.message}") from None
    ref = _resolve(agg.column, tables, what)
    if agg.func in ("sum", "avg"):
        type_ = _data_type(ref.type)
        if type_ is not None and not type_.is_type(*exp.DataType.NUMERIC_TYPES):
            raise InvalidQuerySpec(
                f"{what}: {agg.func} needs a numeric column; {ref.column!r} is {ref.type}"
            )
    return aggregate(agg.func, ref.expr()), f"{agg.func}_{ref.column}"


# --------------------------------------------------------------------------------------------
# Filters and values

_LIKE_ESCAPE = "\\"


def _condition(f: FilterSpec, ref: _Ref, params: Params, what: str) -> exp.Expr:
    col = ref.expr()
    op = f.op
    if op in ("is null", "is not null"):
        if f.value is not None:
            raise InvalidQuerySpec(f"{what}: {op!r} takes no value")
        return is_null(col) if op == "is null" else is_not_null(col)
    if op in COMPARISONS:
        return compare(op, col, _value(f.value, ref, params, what))
    if op in ("in", "not in"):
        values = f.value
        if not isinstance(values, list) or not values:
            raise InvalidQuerySpec(f"{what}: {op!r} needs a non-empty list of values")
        if len(values) > MAX_IN_VALUES:
            raise InvalidQuerySpec(f"{what}: {op!r} takes at most {MAX_IN_VALUES:,} values")
        in_ = one_of(col, [_value(v, ref, params, what) for v in values])
        return in_ if op == "in" else exp.Not(this=in_)
    if op == "between":
        values = f.value
        if not isinstance(values, list) or len(values) != 2:
            raise InvalidQuerySpec(
                f"{what}: 'between' needs a list of exactly two values [low, high]"
            )
        low, high = (_value(v, ref, params, what) for v in values)
        return exp.Between(this=col, low=low, high=high)
    # like, contains, starts with: text matching, on the text form of non-text columns
    if not isinstance(f.value, str):
        raise InvalidQuerySpec(f"{what}: {op!r} needs a text value")
    type_ = _data_type(ref.type)
    text: exp.Expr = col
    if type_ is None or not type_.is_type(*exp.DataType.TEXT_TYPES):
        text = exp.Cast(this=col, to=exp.DataType.build("VARCHAR"))
    if op == "like":
        return exp.Like(this=text, expression=params.bind(f.value))
    literal = _escape_like(f.value)
    pattern = f"%{literal}%" if op == "contains" else f"{literal}%"
    return exp.Escape(
        this=exp.ILike(this=text, expression=params.bind(pattern)),
        expression=exp.Literal.string(_LIKE_ESCAPE),
    )


def _escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches itself: its ``%`` and ``_`` are not wildcards."""
    for char in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, _LIKE_ESCAPE + char)
    return text


def _value(value: Any, ref: _Ref, params: Params, what: str) -> exp.Expr:
    """A bound placeholder for ``value``, cast to the column's type where the engine needs it."""
    if value is None:
        raise InvalidQuerySpec(f"{what}: no value given; use 'is null' to match missing values")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        pass
    elif not isinstance(value, str | bool | int | float | Decimal):
        raise InvalidQuerySpec(
            f"{what}: values must be text, numbers, booleans or dates, not {type(value).__name__}"
        )
    type_ = _data_type(ref.type)
    if type_ is None:
        return params.bind(value)
    if type_.is_type(*exp.DataType.TEMPORAL_TYPES):
        # JSON carries dates as ISO strings: the cast says how to read them
        return params.bind(value, as_type=type_)
    if isinstance(value, str) and type_.is_type(*exp.DataType.NUMERIC_TYPES):
        value = _number(value, ref, what)
    return params.bind(value)


def _number(text: str, ref: _Ref, what: str) -> int | float:
    """A number typed as text (JSON forms often send "10"): bound as a number."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        number = Decimal("nan")
    if not number.is_finite():
        raise InvalidQuerySpec(
            f"{what}: {text!r} is not a number (column {ref.column!r} is {ref.type})"
        )
    return int(number) if number == number.to_integral_value() else float(number)


def _data_type(sql_type: str) -> exp.DataType | None:
    try:
        return exp.DataType.build(sql_type, dialect=DIALECT)
    except (SqlglotError, ValueError):
        return None
