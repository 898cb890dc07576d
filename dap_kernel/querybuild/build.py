"""Building the SELECT for a spec: joins, the select list, grouping, filters, order, limit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from ..sqlbuild import DIALECT, Params, SqlBuildError, aggregate
from .conditions import condition, data_type
from .refs import ColumnsOf, Ref, Source, resolve, unique
from .spec import AggregateSpec, BuiltQuery, InvalidQuerySpec, QuerySpec


def build_query(spec: QuerySpec, columns_of: ColumnsOf) -> BuiltQuery:
    """Check ``spec`` against the catalog (through ``columns_of``) and build its SQL.

    Raises :class:`~dap_kernel.errors.UnknownTable` for a table ``columns_of`` does not know
    and :class:`InvalidQuerySpec` for anything else that does not fit, with a one-line message.
    """
    tables = [Source.load(0, spec.table, columns_of)]
    for i, join in enumerate(spec.joins, start=1):
        tables.append(Source.load(i, join.table, columns_of))
    params = Params()
    select = exp.Select().from_(tables[0].table_expr(), copy=False)

    for i, join in enumerate(spec.joins, start=1):
        keys = [
            exp.EQ(
                this=resolve(key.left, tables[:i], f"join {i} left").expr(),
                expression=resolve(key.right, tables[i : i + 1], f"join {i} right").expr(),
            )
            for key in join.on
        ]
        side = None if join.type == "inner" else join.type.upper()
        select.join(
            exp.Join(this=tables[i].table_expr(), on=exp.and_(*keys), side=side), copy=False
        )

    outputs = Outputs()
    if spec.aggregates or spec.group_by:
        group = unique([resolve(c, tables, "group_by") for c in spec.group_by])
        for ref in unique([resolve(c, tables, "columns") for c in spec.columns]):
            if ref not in group:
                raise InvalidQuerySpec(
                    f"column {ref.column!r} is neither grouped nor aggregated: add it to "
                    "group_by, aggregate it, or remove it from columns"
                )
        for ref in group:
            outputs.add_column(ref)
        reserved = {a.alias.lower() for a in spec.aggregates if a.alias}
        for i, agg in enumerate(spec.aggregates, start=1):
            outputs.add_aggregate(aggregate_of(agg, tables, f"aggregate {i}"), agg.alias, reserved)
        if group:
            select.group_by(*(ref.expr() for ref in group), copy=False)
    else:
        refs = [resolve(c, tables, "columns") for c in spec.columns]
        if not refs:
            refs = [Ref(tables[0], name, type_) for name, type_ in tables[0].ordered]
        for ref in unique(refs):
            outputs.add_column(ref)
    select.select(*outputs.select_exprs(), copy=False)

    conditions = [
        condition(f, resolve(f.column, tables, f"filter {i}"), params, f"filter {i}")
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


@dataclass
class _Output:
    name: str
    expr: exp.Expr  # the value, without alias: also the ORDER BY key
    ref: Ref | None


@dataclass
class Outputs:
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

    def add_column(self, ref: Ref) -> None:
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

    def order_expr(self, column: str, tables: Sequence[Source], grouped: bool) -> exp.Expr:
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
        ref = resolve(column, tables, "order_by")
        if grouped and all(o.ref != ref for o in self.items):
            raise InvalidQuerySpec(
                f"order_by: {column!r} is neither a group_by column nor an aggregate"
            )
        return ref.expr()


def aggregate_of(agg: AggregateSpec, tables: Sequence[Source], what: str) -> tuple[exp.Expr, str]:
    """The aggregate expression and its default output name."""
    if agg.column is None or agg.column == "*":
        try:
            return aggregate(agg.func, None), "count"
        except SqlBuildError as e:
            raise InvalidQuerySpec(f"{what}: {e.message}") from None
    ref = resolve(agg.column, tables, what)
    if agg.func in ("sum", "avg"):
        type_ = data_type(ref.type)
        if type_ is not None and not type_.is_type(*exp.DataType.NUMERIC_TYPES):
            raise InvalidQuerySpec(
                f"{what}: {agg.func} needs a numeric column; {ref.column!r} is {ref.type}"
            )
    return aggregate(agg.func, ref.expr()), f"{agg.func}_{ref.column}"
