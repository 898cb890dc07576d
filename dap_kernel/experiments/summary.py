"""All the metrics of an analysis in one governed statement: exposures deduplicated once,
each metric source read and summarised per unit once, a few rows per variant back.

The per-metric plan (one statement per metric, each with its own exposure GROUP BY, its own
metric GROUP BY and its own 10M × 10M join) spent most of its time doing the same work again.
:func:`summary_query` builds one statement:

* ``dap_experiment_e``: one row per exposed unit with its variant as a small integer code (its
  index in the experiment's variants; ``-1`` for a name the experiment does not have, NULL for a
  unit seen in two variants) and, when a metric is timed, its first exposure. Integer codes
  make the per-unit MIN/MAX several times cheaper than on strings.
* one CTE per *source*: metrics whose SQL differs only in the columns it selects (``SELECT
  customer_id AS unit, post AS value FROM activity`` and ``… converted AS value FROM
  activity``) read the same rows, so they share one scan and one per-unit GROUP BY, each metric
  a column (CUPED pre-period values too). A SELECT that aggregates, limits, orders, unnests or
  refers to its own aliases is not merged: it stays a source of its own, read as a subquery.
  A timed metric's source joins the exposures first (rows from the unit's exposure on).
* the final SELECT: the exposures LEFT JOIN every source on the unit, GROUP BY the variant
  code: units, ``Σy``, ``Σy²`` and the cross sums for each metric.

It is still one ordinary SELECT through the caller's session: the governor rewrites every
table it reads (row filters, masks), as it did each per-metric statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from ..governance.rewrite import parse_one_statement
from ..sqlbuild import DIALECT, column_ref, ident, literal, subquery
from .metrics import Metric, source_tree

E = "dap_experiment_e"
_PLAIN_ARGS = {"expressions", "from_", "from", "joins", "where", "with_", "with", "hint"}
_ROWS_CHANGE = (exp.AggFunc, exp.Window, exp.Explode, exp.Unnest, exp.Subquery, exp.Star)


def _double(e: exp.Expr) -> exp.Expr:
    return exp.Cast(this=e, to=exp.DataType.build("DOUBLE"))


def _as(e: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(e, name, quoted=True)


def _positive(e: exp.Expr) -> exp.Expr:
    positive = exp.GT(this=e, expression=exp.Literal.number(0))
    return exp.Case().when(positive, exp.Literal.number(1)).else_(exp.Literal.number(0))


def _zero(e: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=e, expressions=[exp.Literal.number(0)])


@dataclass
class _Column:
    """One per-unit value a source computes: ``how`` is ``sum`` (a value or denominator),
    ``any`` (a proportion: whether any row is positive), ``pre_sum`` or ``pre_any``."""

    name: str
    row: exp.Expr  # the row-level expression, in the source's own scope
    how: str


@dataclass
class _Source:
    name: str
    unit: exp.Expr
    timestamp: exp.Expr | None
    rest: exp.Select | None  # a plain SELECT without its projections (merged), or None
    text: str  # the SQL or table name, read as a subquery when ``rest`` is None
    columns: dict[str, _Column] = field(default_factory=dict)
    grouped: bool = False

    def column(self, row: exp.Expr, how: str, grouped: bool) -> str:
        self.grouped = self.grouped or grouped
        key = f"{how}:{row.sql(dialect=DIALECT)}"
        if key not in self.columns:
            self.columns[key] = _Column(f"c{len(self.columns)}", row, how)
        return self.columns[key].name

    def rows(self) -> exp.Select:
        """``SELECT unit AS u, <value> AS c0, … [, ts AS t]``: the source's rows."""
        proj = [_as(self.unit.copy(), "u")]
        proj += [_as(c.row.copy(), c.name) for c in self.columns.values()]
        if self.timestamp is not None:
            proj.append(_as(self.timestamp.copy(), "t"))
        if self.rest is not None:
            select = self.rest.copy()
            select.set("expressions", proj)
            return select
        return exp.select(*proj).from_(source_tree(self.text, "s"))

    def per_unit(self) -> exp.Select:
        """One row per unit (GROUP BY unless every metric on it declared one row per unit);
        a timed source joins the exposures first and keeps rows from the exposure on."""
        timed = self.timestamp is not None
        grouped = self.grouped or timed
        r = "m" if timed else "r"

        def value(c: _Column) -> exp.Expr:
            col = column_ref(c.name, r)
            if c.how == "sum":
                return exp.Sum(this=col) if grouped else col
            if c.how == "any":
                return exp.Max(this=_positive(col)) if grouped else _positive(col)
            if c.how == "pre_sum":
                return _double(exp.Sum(this=col) if grouped else col)
            return _double(exp.Max(this=_positive(col)) if grouped else _positive(col))

        unit = column_ref("u", "e" if timed else r)
        query = exp.select(_as(unit, "u"), *[_as(value(c), c.name) for c in self.columns.values()])
        if timed:
            on = exp.and_(
                exp.EQ(this=column_ref("u", "m"), expression=column_ref("u", "e")),
                exp.GTE(this=column_ref("t", "m"), expression=column_ref("t", "e")),
            )
            query = query.from_(exp.alias_(exp.to_table(E), "e")).join(
                subquery(self.rows(), "m"), on=on
            )
        else:
            query = query.from_(subquery(self.rows(), "r"))
        return query.group_by(exp.Literal.number(1)) if grouped else query


def _plain(text: str, names: Sequence[str]) -> tuple[str, exp.Select, list[exp.Expr]] | None:
    """``(key, SELECT without projections, [the expression of each name])`` when ``text`` is a
    plain row-for-row SELECT: one output row per row of its FROM, so any two such SELECTs with
    the same FROM/JOIN/WHERE read the same rows and can share one scan. Else None."""
    from ..stats.source import is_query

    if not is_query(text):
        return None
    tree = parse_one_statement(text.strip(), DIALECT)
    if not isinstance(tree, exp.Select):
        return None
    if any(value for arg, value in tree.args.items() if value and arg not in _PLAIN_ARGS):
        return None  # DISTINCT, GROUP BY, LIMIT, ORDER BY, QUALIFY, …
    by_name: dict[str, list[exp.Expr]] = {}
    for p in tree.expressions:
        body = p.this if isinstance(p, exp.Alias) else p
        if not p.alias_or_name or body.find(*_ROWS_CHANGE) is not None:
            return None
        by_name.setdefault(p.alias_or_name, []).append(body)
    if any(len(by_name.get(n, ())) != 1 for n in names):
        return None
    aliases = {
        n for n, bodies in by_name.items() if not all(isinstance(b, exp.Column) for b in bodies)
    } | {n for n, bodies in by_name.items() for b in bodies if b.name != n}
    rest = tree.copy()
    rest.set("expressions", [])
    if any(c.name in aliases for c in rest.find_all(exp.Column)):
        return None  # the WHERE may name a projection's alias, which DuckDB allows
    return rest.sql(dialect=DIALECT), rest, [by_name[n][0] for n in names]


@dataclass(frozen=True)
class _Refs:
    """Where one metric's per-unit values are: (source CTE, column) of each."""

    y: tuple[str, str]  # (source, column)
    d: tuple[str, str] | None = None
    x: tuple[str, str] | None = None


class _Plan:
    def __init__(self) -> None:
        self.sources: dict[str, _Source] = {}

    def read(
        self, text: str, unit: str, columns: Sequence[str], timestamp: str | None
    ) -> tuple[_Source, list[exp.Expr]]:
        names = [unit, *columns, *([timestamp] if timestamp else [])]
        plain = _plain(text, names)
        if plain is not None:
            key, rest, exprs = plain
            key = f"plain:{key}|{exprs[0].sql(dialect=DIALECT)}"
            if timestamp:
                key += f"|t:{exprs[-1].sql(dialect=DIALECT)}"
        else:
            rest = None
            exprs = [column_ref(n, "s") for n in names]
            key = f"text:{text.strip()}|{unit}|{timestamp}"
        if key not in self.sources:
            self.sources[key] = _Source(
                f"dap_experiment_m{len(self.sources)}",
                exprs[0],
                exprs[-1] if timestamp else None,
                rest,
                text,
            )
        return self.sources[key], exprs[1 : 1 + len(columns)]


def summary_query(
    metrics: Sequence[Metric],
    exposures: str,
    unit: str,
    variants: Sequence[str],
    *,
    variant: str = "variant",
    exposed_at: str | None = "exposed_at",
    unique_exposures: bool = False,
) -> exp.Select:
    """The one statement.

    Its rows: ``c`` (the variant's index in ``variants``, -1 for another name, NULL for units
    in two variants), ``n`` units, then ``<k>_s``/``_ss`` per value, ``_ds``/``_dss``/``_yd``
    per ratio and ``_xs``/``_xss``/``_yx`` per CUPED metric, ``k`` the metric's index."""
    plan = _Plan()
    refs: list[_Refs] = []
    any_timed = False
    for m in metrics:
        timed = m.timestamp is not None and exposed_at is not None
        any_timed = any_timed or timed
        cols = [m.value] + ([m.denominator] if m.denominator is not None else [])
        src, exprs = plan.read(m.sql, m.unit, cols, m.timestamp if timed else None)
        grouped = not m.one_row_per_unit
        how = "any" if m.kind == "proportion" else "sum"
        y = (src.name, src.column(_double(exprs[0]), how, grouped))
        d = None
        if m.denominator is not None:
            d = (src.name, src.column(_double(exprs[1]), "sum", grouped))
        x = None
        if m.pre_sql is not None:
            pre, (pre_value,) = plan.read(m.pre_sql, m.unit, [m.value], None)
            pre_how = "pre_any" if m.kind == "proportion" else "pre_sum"
            x = (pre.name, pre.column(pre_value, pre_how, grouped))
        refs.append(_Refs(y, d, x))

    e = _exposures(exposures, unit, variants, variant, exposed_at if any_timed else None)
    if not unique_exposures:
        e = _deduplicated(e, any_timed)
    final: list[exp.Expr] = [
        _as(column_ref("c", "e"), "c"),
        _as(exp.Count(this=exp.Star()), "n"),
    ]

    def val(ref: tuple[str, str], *, cast: bool = True) -> exp.Expr:
        v = _zero(column_ref(ref[1], ref[0]))
        return _double(v) if cast else v

    def sq(a: exp.Expr, b: exp.Expr) -> exp.Expr:
        return exp.Sum(this=exp.Mul(this=a, expression=b))

    for k, r in enumerate(refs):
        yv = val(r.y)
        final += [_as(exp.Sum(this=yv), f"{k}_s"), _as(sq(yv.copy(), yv.copy()), f"{k}_ss")]
        if r.d is not None:
            dv = val(r.d)
            final += [
                _as(exp.Sum(this=dv), f"{k}_ds"),
                _as(sq(dv.copy(), dv.copy()), f"{k}_dss"),
                _as(sq(yv.copy(), dv.copy()), f"{k}_yd"),
            ]
        if r.x is not None:
            xv = val(r.x, cast=False)
            final += [
                _as(exp.Sum(this=xv), f"{k}_xs"),
                _as(sq(xv.copy(), xv.copy()), f"{k}_xss"),
                _as(sq(yv.copy(), xv.copy()), f"{k}_yx"),
            ]
    query = exp.select(*final).from_(exp.alias_(exp.to_table(E), "e"))
    for src in plan.sources.values():
        on = exp.EQ(this=column_ref("u", src.name), expression=column_ref("u", "e"))
        query = query.join(exp.to_table(src.name), on=on, join_type="left")
    query = query.group_by(exp.Literal.number(1)).order_by(exp.Literal.number(1))
    query = query.with_(ident(E, always_quote=False), as_=e)
    for src in plan.sources.values():
        query = query.with_(ident(src.name, always_quote=False), as_=src.per_unit())
    return query


def _exposures(
    exposures: str, unit: str, variants: Sequence[str], variant: str, exposed_at: str | None
) -> exp.Select:
    """``SELECT unit AS u, <variant code> AS c[, exposed_at AS t]`` of the exposures."""
    v = exp.cast(column_ref(variant, "x"), "VARCHAR")
    code = exp.Case().when(exp.Is(this=v.copy(), expression=exp.Null()), exp.Null())
    for i, name in enumerate(variants):
        code = code.when(exp.EQ(this=v.copy(), expression=literal(name)), exp.Literal.number(i))
    code = code.else_(exp.Literal.number(-1))
    u = column_ref(unit, "x")
    proj = [_as(u.copy(), "u"), _as(code, "c")]
    if exposed_at is not None:
        proj.append(_as(column_ref(exposed_at, "x"), "t"))
    return (
        exp.select(*proj)
        .from_(source_tree(exposures, "x"))
        .where(exp.Not(this=exp.Is(this=u.copy(), expression=exp.Null())))
    )


def _deduplicated(rows: exp.Select, timed: bool) -> exp.Select:
    """One row per unit: its code when all its exposures agree (else NULL), its first time."""
    c = exp.column("c")
    one = exp.EQ(this=exp.Min(this=c.copy()), expression=exp.Max(this=c.copy()))
    code = exp.Case().when(one, exp.Min(this=c.copy())).else_(exp.Null())
    proj = [_as(exp.column("u"), "u"), _as(code, "c")]
    if timed:
        proj.append(_as(exp.Min(this=exp.column("t")), "t"))
    return exp.select(*proj).from_(subquery(rows, "x")).group_by(exp.Literal.number(1))
