"""Filters: one WHERE condition per filter, each value bound (cast to the column's type)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..sqlbuild import (
    COMPARISONS,
    DIALECT,
    Params,
    compare,
    is_not_null,
    is_null,
    one_of,
)
from .refs import Ref
from .spec import MAX_IN_VALUES, FilterSpec, InvalidQuerySpec

_LIKE_ESCAPE = "\\"


def condition(f: FilterSpec, ref: Ref, params: Params, what: str) -> exp.Expr:
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
    type_ = data_type(ref.type)
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


def _value(value: Any, ref: Ref, params: Params, what: str) -> exp.Expr:
    """A bound placeholder for ``value``, cast to the column's type where the engine needs it."""
    if value is None:
        raise InvalidQuerySpec(f"{what}: no value given; use 'is null' to match missing values")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        pass
    elif not isinstance(value, str | bool | int | float | Decimal):
        raise InvalidQuerySpec(
            f"{what}: values must be text, numbers, booleans or dates, not {type(value).__name__}"
        )
    type_ = data_type(ref.type)
    if type_ is None:
        return params.bind(value)
    if type_.is_type(*exp.DataType.TEMPORAL_TYPES):
        # JSON carries dates as ISO strings: the cast says how to read them
        return params.bind(value, as_type=type_)
    if isinstance(value, str) and type_.is_type(*exp.DataType.NUMERIC_TYPES):
        value = _number(value, ref, what)
    return params.bind(value)


def _number(text: str, ref: Ref, what: str) -> int | float:
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


def data_type(sql_type: str) -> exp.DataType | None:
    try:
        return exp.DataType.build(sql_type, dialect=DIALECT)
    except (SqlglotError, ValueError):
        return None
