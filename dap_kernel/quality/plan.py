"""The SQL that applies rules, built as sqlglot expressions for a batch and a table alike.

Row rules become one pass over the data: per rule a flag (does the row fail?) and a reason
(why, with the value), see :class:`_RowPlan`. Every value a user wrote is bound to a ``$pN``
placeholder (:class:`~dap_kernel.sqlbuild.Params`), never pasted into SQL; a ``sql`` rule's
statement is checked like any query (:func:`_custom_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from ..catalog import split_name
from ..errors import QueryRefused, SqlSyntaxError
from ..governance.rewrite import parse_one_statement, refuse_forbidden_functions, refuse_writes
from ..sqlbuild import (
    Params,
    column_ref,
    compare,
    is_not_null,
    is_null,
    one_of,
    subquery,
    table_ref,
)
from .rules import _THIS_NAME, ROW_KINDS, THIS, QualityError, Rule

_T = "__dap_t"
_MAX_VALUE_CHARS = 80


def _col(name: str, table: str | None = _T) -> exp.Column:
    """A column of the scanned data (``__dap_t``), or of ``table``, or unqualified (None)."""
    return column_ref(name, table)


def _concat(*parts: exp.Expr) -> exp.Expr:
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part, safe=True)
    return result


def _value_text(column: exp.Expr, is_text: bool) -> exp.Expr:
    """How a value is shown in a reason: ``-3``, ``'abc'``, ``NULL`` (long values cut)."""
    shown: exp.Expr = exp.func(
        "left", exp.cast(column.copy(), "VARCHAR"), exp.Literal.number(_MAX_VALUE_CHARS)
    )
    if is_text:
        quote = exp.Literal.string("'")
        shown = _concat(quote, shown, quote.copy())
    return exp.Case(
        ifs=[
            exp.If(
                this=is_null(column.copy()),
                true=exp.Literal.string("NULL"),
            )
        ],
        default=shown,
    )


def _display(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


@dataclass
class _RowPlan:
    """The generated pieces of the one pass over the data: per rule a flag and a reason."""

    rules: list[Rule]
    flags: list[exp.Expr]
    reasons: list[exp.Expr]
    helpers: list[exp.Expr]  # window columns added to the scanned data
    joins: list[tuple[exp.Expr, exp.Expr]]  # (aliased subquery, ON condition)


def _plan_rows(
    rules: Sequence[Rule],
    text_columns: Mapping[str, bool],
    params: Params,
    reference: Any,
    row_id: str | None,
) -> _RowPlan:
    """``text_columns``: column → is it text; ``reference(i, rule)`` → what a foreign key joins."""
    plan = _RowPlan([], [], [], [], [])
    for i, rule in enumerate(rules):
        if rule.kind not in ROW_KINDS:
            continue
        c = rule.column or ""
        col = _col(c)
        not_null = is_not_null(col.copy())

        def shown(c: str = c, col: exp.Column = col) -> exp.Expr:
            # Made when used: an unused placeholder is an error for DuckDB.
            return _concat(params.text(f"{c} = "), _value_text(col, text_columns.get(c, False)))

        flag: exp.Expr
        reason: exp.Expr
        if rule.kind == "not_null":
            flag = is_null(col)
            reason = params.text(f"{c} is null")
        elif rule.kind == "unique":
            keys = list(rule.columns)
            partition = [_col(k, None) for k in keys]
            count_name, rank_name = f"__dap_u{i}_n", f"__dap_u{i}_i"
            order = (
                exp.Order(expressions=[exp.Ordered(this=_col(row_id, None))]) if row_id else None
            )
            plan.helpers.append(
                exp.alias_(
                    exp.Window(this=exp.Count(this=exp.Star()), partition_by=partition),
                    count_name,
                )
            )
            plan.helpers.append(
                exp.alias_(
                    exp.Window(
                        this=exp.RowNumber(),
                        partition_by=[p.copy() for p in partition],
                        order=order,
                    ),
                    rank_name,
                )
            )
            flag = exp.and_(
                *[is_not_null(_col(k)) for k in keys],
                exp.GT(this=_col(count_name), expression=exp.Literal.number(1)),
                exp.GT(this=_col(rank_name), expression=exp.Literal.number(1)),
            )
            if len(keys) == 1:
                key_text = shown()
            else:
                values = [_value_text(_col(k), text_columns.get(k, False)) for k in keys]
                joined = [values[0]]
                for v in values[1:]:
                    joined += [exp.Literal.string(", "), v]
                key_text = _concat(
                    params.text(f"({', '.join(keys)}) = ("), *joined, exp.Literal.string(")")
                )
            reason = _concat(
                key_text,
                exp.Literal.string(" is duplicated ("),
                exp.cast(_col(count_name), "VARCHAR"),
                exp.Literal.string(" rows with this key)"),
            )
        elif rule.kind == "accepted_values":
            values = list(rule.options["values"])
            listed = ", ".join(_display(v) for v in values[:10]) + (
                ", …" if len(values) > 10 else ""
            )
            flag = exp.and_(
                not_null, exp.not_(one_of(col.copy(), [params.bind(v) for v in values]))
            )
            reason = _concat(shown(), params.text(f" is not one of {listed}"))
        elif rule.kind == "range":
            low, high = rule.options.get("min"), rule.options.get("max")
            below = compare("<", col.copy(), params.bind(low)) if low is not None else None
            above = compare(">", col.copy(), params.bind(high)) if high is not None else None
            outside = exp.or_(*[b for b in (below, above) if b is not None])
            flag = exp.and_(not_null, exp.paren(outside))
            if below is not None and above is not None:
                which: exp.Expr = exp.Case(
                    ifs=[
                        exp.If(this=below.copy(), true=params.text(f" is below the minimum {low}"))
                    ],
                    default=params.text(f" is above the maximum {high}"),
                )
            elif below is not None:
                which = params.text(f" is below the minimum {low}")
            else:
                which = params.text(f" is above the maximum {high}")
            reason = _concat(shown(), which)
        elif rule.kind == "regex":
            pattern = str(rule.options["pattern"])
            flag = exp.and_(
                not_null,
                exp.not_(
                    exp.func(
                        "regexp_matches", exp.cast(col.copy(), "VARCHAR"), params.bind(pattern)
                    )
                ),
            )
            reason = _concat(shown(), params.text(f" does not match the pattern {pattern!r}"))
        else:  # foreign_key
            table, ref_column = rule.references
            alias = f"__dap_fk{i}"
            plan.joins.append(
                (
                    subquery(reference(i, rule), alias),
                    exp.EQ(this=col.copy(), expression=_col("__dap_key", alias)),
                )
            )
            flag = exp.and_(not_null, is_null(_col("__dap_key", alias)))
            reason = _concat(shown(), params.text(f" is not in {table}.{ref_column}"))
        plan.rules.append(rule)
        plan.flags.append(exp.func("coalesce", flag, exp.false()))
        plan.reasons.append(reason)
    return plan


def _scan(plan: _RowPlan, source: exp.Expr, outputs: Sequence[exp.Expr]) -> exp.Select:
    """``SELECT outputs FROM (SELECT *, helpers FROM source) __dap_t LEFT JOIN refs``."""
    inner = exp.select(exp.Star(), *plan.helpers).from_(source)
    query = exp.select(*outputs).from_(subquery(inner, _T))
    for target, on in plan.joins:
        query = query.join(target, on=on, join_type="left")
    return query


def _reference_keys(rule: Rule) -> exp.Select:
    """``SELECT DISTINCT col AS __dap_key FROM schema.table`` (a governed read when checked)."""
    table, column = rule.references
    schema, name = split_name(table)
    return (
        exp.select(exp.alias_(_col(column, None), "__dap_key"))
        .distinct()
        .from_(table_ref(name, schema))
    )


def _custom_sql(rule: Rule, target: exp.Table, *, batch: bool) -> exp.Expr:
    """The rule's SELECT with ``{table}`` bound to the data under test, checked like any query."""
    text = str(rule.options["sql"]).replace(THIS, _THIS_NAME)
    try:
        tree = parse_one_statement(text)
        refuse_writes(tree)
        refuse_forbidden_functions(tree)
    except (QueryRefused, SqlSyntaxError) as e:
        raise QualityError(f"sql rule {rule.name}: {e.message}") from None
    if not isinstance(tree, exp.Query):
        raise QualityError(f"sql rule {rule.name}: give a SELECT that returns the failing rows")
    found = False
    for table in list(tree.find_all(exp.Table)):
        if table.name == _THIS_NAME and not table.db:
            found = True
            replacement = target.copy()
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(_THIS_NAME))
            replacement.set("alias", alias)
            table.replace(replacement)
        elif batch and isinstance(table.this, exp.Identifier):
            raise QualityError(
                f"sql rule {rule.name}: on a batch the statement can read only {THIS}, "
                f"not {table.sql('duckdb')}"
            )
    if not found and batch:
        raise QualityError(f"sql rule {rule.name}: read the data under test as {THIS}")
    return tree


def _count_of(query: exp.Expr) -> exp.Select:
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "n")).from_(subquery(query, "__dap_s"))


def _is_text(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or getattr(pa.types, "is_string_view", lambda _t: False)(dtype)
        or (pa.types.is_dictionary(dtype) and _is_text(dtype.value_type))
    )
