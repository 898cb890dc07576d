"""Deterministic assignment, the same in Python and in the engines.

A unit's bucket is the first 8 hex digits of ``md5(salt || ':' || unit)`` read as an unsigned
32-bit integer ``h``; ``h / 2**32`` is uniform on [0, 1), and the variant is the first whose
cumulative weight exceeds it. Nothing is stored to assign a unit: any engine that has MD5
assigns it the same way, so exposures can be computed (and checked) where the data lives.

The comparison is done in integers: the cumulative weights become thresholds
``round(cumulative × 2**32)`` once, in Python, and both sides compare ``h < threshold``.
No float literal has to round the same way in three SQL dialects. A unit is written as text
(``str(unit)`` in Python, ``CAST(unit AS VARCHAR)`` in SQL): integers and strings match
exactly; floats and timestamps would not (their text differs between Python and engines), so
use integer or text unit ids.

>>> e = Experiment("button", salt="s")
>>> bucket("s", 1), assign(e, 1)
(3073675261, 'treatment')
>>> print(variant_sql(e, exp.column("customer_id", quoted=True)).sql("duckdb"))  # doctest: +SKIP
CASE WHEN CAST('0x' || SUBSTRING(MD5('s' || ':' || CAST("customer_id" AS TEXT)), 1, 8) AS UBIGINT)
  < 2147483648 THEN 'control' ELSE 'treatment' END
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlglot import exp

from ..sqlbuild import literal
from .definition import Experiment
from .errors import InvalidExperiment

SCALE = 2**32
DIALECTS = ("duckdb", "clickhouse", "spark")

__all__ = [
    "DIALECTS",
    "SCALE",
    "assign",
    "assign_many",
    "bucket",
    "bucket_sql",
    "thresholds",
    "variant_sql",
    "variant_sql_text",
]


def bucket(salt: str, unit: Any) -> int:
    """The unit's 32-bit hash: ``int(md5(f"{salt}:{unit}")[:8], 16)``."""
    digest = hashlib.md5(f"{salt}:{unit}".encode(), usedforsecurity=False)  # the engines' md5
    return int(digest.hexdigest()[:8], 16)


def thresholds(weights: Sequence[float]) -> tuple[int, ...]:
    """Integer upper bounds of each variant's range of hashes (the last is ``2**32``)."""
    bounds: list[int] = []
    total = 0.0
    for w in weights[:-1]:
        total += w
        bounds.append(min(SCALE, round(total * SCALE)))
    bounds.append(SCALE)
    return tuple(bounds)


def assign(experiment: Experiment, unit: Any) -> str:
    """The variant of one unit."""
    if unit is None:
        raise InvalidExperiment("a unit without an id cannot be assigned")
    h = bucket(experiment.salt, unit)
    for variant, bound in zip(experiment.variants, thresholds(experiment.weights), strict=True):
        if h < bound:
            return variant
    return experiment.variants[-1]  # unreachable: the last bound is 2**32


def assign_many(experiment: Experiment, units: Iterable[Any]) -> list[str]:
    """The variants of many units (same as :func:`assign` of each)."""
    bounds = thresholds(experiment.weights)
    out: list[str] = []
    for unit in units:
        h = bucket(experiment.salt, unit)
        out.append(next(v for v, b in zip(experiment.variants, bounds, strict=True) if h < b))
    return out


def bucket_sql(salt: str, unit: exp.Expr) -> exp.Expr:
    """DuckDB: ``CAST('0x' || SUBSTRING(MD5(salt || ':' || CAST(unit AS VARCHAR)), 1, 8) AS
    UBIGINT)``; the salt is a literal sqlglot writes (quotes escaped)."""
    text = exp.DPipe(
        this=exp.DPipe(this=literal(salt), expression=exp.Literal.string(":")),
        expression=exp.Cast(this=unit.copy(), to=exp.DataType.build("VARCHAR")),
    )
    prefix = exp.Substring(
        this=exp.MD5(this=text), start=exp.Literal.number(1), length=exp.Literal.number(8)
    )
    return exp.Cast(
        this=exp.DPipe(this=exp.Literal.string("0x"), expression=prefix),
        to=exp.DataType.build("UBIGINT", dialect="duckdb"),
    )


def variant_sql(experiment: Experiment, unit: exp.Expr) -> exp.Case:
    """``CASE WHEN h < t0 THEN v0 … ELSE v_last END`` for DuckDB (the engine DAP governs)."""
    h = bucket_sql(experiment.salt, unit)
    case = exp.Case()
    bounds = thresholds(experiment.weights)
    for variant, bound in zip(experiment.variants[:-1], bounds[:-1], strict=True):
        case = case.when(
            exp.LT(this=h.copy(), expression=exp.Literal.number(bound)), literal(variant)
        )
    return case.else_(literal(experiment.variants[-1]))


def _bucket_text(salt: str, unit_sql: str, dialect: str) -> str:
    salt_sql = literal(salt).sql(dialect=dialect)
    if dialect == "clickhouse":
        # MD5 is 16 raw bytes; the first 4 read big-endian are the first 8 hex digits.
        return (
            f"reinterpretAsUInt32(reverse(substring(MD5(concat({salt_sql}, ':', "
            f"toString({unit_sql}))), 1, 4)))"
        )
    if dialect == "spark":
        # md5 gives hex text; conv() reads its first 8 digits as a base-16 number.
        return (
            f"CAST(conv(substr(md5(concat({salt_sql}, ':', CAST({unit_sql} AS STRING))), 1, 8),"
            " 16, 10) AS BIGINT)"
        )
    raise InvalidExperiment(f"no assignment SQL for dialect {dialect!r}: {', '.join(DIALECTS)}")


def variant_sql_text(experiment: Experiment, unit_sql: str, dialect: str = "duckdb") -> str:
    """The variant expression as SQL text for ``dialect`` (duckdb, clickhouse or spark).

    ``unit_sql`` is an SQL expression naming the unit (a quoted column). DuckDB's text comes
    from the sqlglot tree; ClickHouse's and Spark's are written per dialect, because a generic
    transpile of ``CAST('0x…' AS UBIGINT)`` does not parse hex in either engine. Each is parsed
    back with sqlglot in its dialect before it is returned, so a malformed text fails here.
    """
    import sqlglot

    if dialect == "duckdb":
        unit = sqlglot.parse_one(unit_sql, dialect="duckdb")
        return variant_sql(experiment, unit).sql(dialect="duckdb")
    h = _bucket_text(experiment.salt, unit_sql, dialect)
    bounds = thresholds(experiment.weights)
    whens = " ".join(
        f"WHEN {h} < {bound} THEN {literal(v).sql(dialect=dialect)}"
        for v, bound in zip(experiment.variants[:-1], bounds[:-1], strict=True)
    )
    text = f"CASE {whens} ELSE {literal(experiment.variants[-1]).sql(dialect=dialect)} END"
    sqlglot.parse_one(text, dialect=dialect)  # raises ParseError on a malformed text
    return text
