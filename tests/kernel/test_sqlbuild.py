"""sqlbuild: values are bound and names are identifiers, so no input changes a statement's shape."""

from __future__ import annotations

import datetime as dt
import doctest
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp, parse, parse_one

from dap_kernel import sqlbuild
from dap_kernel.sqlbuild import (
    AGGREGATES,
    COMPARISONS,
    DIALECT,
    Params,
    SqlBuildError,
    aggregate,
    column_ref,
    compare,
    ident,
    is_not_null,
    is_null,
    literal,
    one_of,
    parse_table,
    split_table,
    subquery,
    table_ref,
)

HOSTILE_VALUES = [
    "x' OR 1=1 --",
    "'; DROP TABLE orders; --",
    "$p1",
    "\\'; SELECT 1; --",
    "a\nb",
    "",
]
HOSTILE_NAMES = [
    'a"b; DROP TABLE orders; --',
    'x" OR 1=1 --',
    "select",
    "a b",
    "abc\n",
    "t.x",
    "$p0",
    "é",
]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("CREATE TABLE orders(id INT, region VARCHAR)")
    con.execute("INSERT INTO orders VALUES (1, 'north'), (2, 'south')")
    yield con
    con.close()


def _filtered(value: Any, params: Params) -> exp.Select:
    return (
        exp.select(column_ref("id", "o"))
        .from_(table_ref("orders", alias="o"))
        .where(compare("=", column_ref("region", "o"), params.bind(value)))
    )


def _shape(sql: str) -> list[tuple[str, str]]:
    """Every node of the statement with its name: the shape a hostile input must not change."""
    return [(type(node).__name__, node.name) for node in parse_one(sql, read=DIALECT).walk()]


def test_module_example() -> None:
    assert doctest.testmod(sqlbuild).failed == 0


# -- values ------------------------------------------------------------------------------------


def test_placeholders_are_numbered_per_statement_with_a_prefix() -> None:
    params = Params()
    assert [params.bind(v).sql(dialect=DIALECT) for v in ("a", 2)] == ["$p0", "$p1"]
    assert params.values == {"p0": "a", "p1": 2}
    other = Params("dap_p")
    assert other.bind(None).sql(dialect=DIALECT) == "$dap_p0"
    assert other.values == {"dap_p0": None}


def test_a_bound_value_can_carry_a_cast() -> None:
    params = Params()
    assert params.bind("2024-01-02", "DATE").sql(dialect=DIALECT) == "CAST($p0 AS DATE)"
    typed = exp.DataType.build("TIMESTAMP")
    assert params.bind("2024-01-02 10:00", typed).sql(dialect=DIALECT) == "CAST($p1 AS TIMESTAMP)"
    assert params.text("x = ").sql(dialect=DIALECT) == "CAST($p2 AS TEXT)"
    assert list(params.values) == ["p0", "p1", "p2"]


@pytest.mark.parametrize("hostile", HOSTILE_VALUES)
def test_a_hostile_value_leaves_the_statement_as_it_was(
    con: duckdb.DuckDBPyConnection, hostile: str
) -> None:
    benign, bound = Params(), Params()
    expected = _filtered("north", benign).sql(dialect=DIALECT)
    sql = _filtered(hostile, bound).sql(dialect=DIALECT)
    assert sql == expected  # the value is not in the text at all
    assert bound.values == {"p0": hostile}
    assert con.execute(sql, bound.values).fetchall() == []
    assert con.execute(expected, benign.values).fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (2,)


@pytest.mark.parametrize("hostile", HOSTILE_VALUES)
def test_inlined_values_are_one_string_literal_each(
    con: duckdb.DuckDBPyConnection, hostile: str
) -> None:
    params = Params()
    query = _filtered(hostile, params)
    shown = params.inline(query).sql(dialect=DIALECT)
    statements = parse(shown, read=DIALECT)
    assert len(statements) == 1 and statements[0] is not None
    literals = list(statements[0].find_all(exp.Literal))
    assert [(lit.is_string, lit.this) for lit in literals] == [(True, hostile)]
    assert not list(statements[0].find_all(exp.Placeholder))
    assert con.execute(shown).fetchall() == []
    assert query.find(exp.Placeholder) is not None  # inline copies; the statement keeps its $p0


def test_literals_write_each_kind_of_value(con: duckdb.DuckDBPyConnection) -> None:
    values: list[tuple[Any, Any]] = [
        (True, True),
        (7, 7),
        (Decimal("10.25"), Decimal("10.25")),
        (1.5, 1.5),
        (dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
        (dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5)),
        (dt.time(12, 30), dt.time(12, 30)),
        ("it's", "it's"),
    ]
    for value, expected in values:
        assert con.execute(f"SELECT {literal(value).sql(dialect=DIALECT)}").fetchone() == (
            expected,
        ), value
    infinite = con.execute(f"SELECT {literal(float('inf')).sql(dialect=DIALECT)}").fetchone()
    assert infinite == (float("inf"),)
    aware = dt.datetime(2024, 1, 2, 3, tzinfo=dt.UTC)
    assert literal(aware).sql(dialect=DIALECT) == "CAST('2024-01-02 03:00:00+00:00' AS TIMESTAMPTZ)"


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
@pytest.mark.parametrize("always_quote", [True, False])
def test_a_hostile_name_stays_one_identifier(hostile: str, always_quote: bool) -> None:
    query = exp.select(column_ref(hostile, "t", always_quote=always_quote)).from_(
        table_ref(hostile, hostile, alias="t", always_quote=always_quote)
    )
    sql = query.sql(dialect=DIALECT)
    plain = exp.select(column_ref("c", "t", always_quote=always_quote)).from_(
        table_ref("c", "c", alias="t", always_quote=always_quote)
    )
    names = [(kind, hostile if n == "c" else n) for kind, n in _shape(plain.sql(dialect=DIALECT))]
    assert _shape(sql) == names


def test_names_a_database_can_hold_are_read_back_as_written(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for i, name in enumerate(HOSTILE_NAMES):
        con.execute(f"CREATE TABLE h{i}({ident(name).sql(dialect=DIALECT)} INT)")
        con.execute(f"INSERT INTO h{i} VALUES ({i})")
        for always_quote in (True, False):
            query = exp.select(column_ref(name, "t", always_quote=always_quote)).from_(
                table_ref(f"h{i}", alias="t")
            )
            rows = con.execute(query.sql(dialect=DIALECT))
            assert rows.fetchall() == [(i,)], name
            assert [d[0] for d in rows.description or []] == [name]
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (2,)


def test_quoting_only_where_needed_still_quotes_what_needs_it() -> None:
    def shown(name: str) -> str:
        return ident(name, always_quote=False).sql(dialect=DIALECT)

    assert [shown(n) for n in ("region", "Region", "t0", "_x")] == ["region", "Region", "t0", "_x"]
    # a keyword, a space, a quote, a newline at the end, a non-ASCII letter
    assert shown("select") == '"select"'
    assert shown("a b") == '"a b"'
    assert shown('a"b') == '"a""b"'
    assert shown("abc\n") == '"abc\n"'
    assert shown("é") == '"é"'
    assert ident("region").sql(dialect=DIALECT) == '"region"'


@pytest.mark.parametrize("bad", ["", None, 3])
def test_what_is_not_a_name_is_refused(bad: Any) -> None:
    with pytest.raises(SqlBuildError, match="is not a name"):
        ident(bad)
    with pytest.raises(SqlBuildError):
        column_ref(bad)


def test_table_names_are_table_or_schema_dot_table() -> None:
    assert split_table("orders") == (None, "orders")
    assert split_table("main.orders") == ("main", "orders")
    for bad in ("a.b.c", ".orders", "main.", "", "a..b"):
        with pytest.raises(SqlBuildError, match="must be `table` or `schema.table`"):
            split_table(bad)
    assert parse_table("main.orders", alias="o").sql(dialect=DIALECT) == '"main"."orders" AS o'
    assert parse_table("orders", always_quote=False).sql(dialect=DIALECT) == "orders"
    assert table_ref('we"ird').sql(dialect=DIALECT) == '"we""ird"'
    inner = exp.select(exp.Star()).from_(table_ref("orders"))
    assert subquery(inner, "src").sql(dialect=DIALECT) == '(SELECT * FROM "orders") AS src'


# -- conditions and aggregates -----------------------------------------------------------------


def test_comparisons(con: duckdb.DuckDBPyConnection) -> None:
    expected = {"=": [2], "!=": [1], "<": [1], "<=": [1, 2], ">": [], ">=": [2]}
    assert set(COMPARISONS) == set(expected)
    for op, ids in expected.items():
        params = Params()
        query = (
            exp.select(column_ref("id"))
            .from_(table_ref("orders"))
            .where(compare(op, column_ref("id"), params.bind(2)))
            .order_by(column_ref("id"))
        )
        rows = con.execute(query.sql(dialect=DIALECT), params.values).fetchall()
        assert [r[0] for r in rows] == ids, op
    with pytest.raises(SqlBuildError, match="unknown comparison '~'"):
        compare("~", column_ref("id"), Params().bind(1))
    with pytest.raises(SqlBuildError, match="unknown comparison"):
        compare("= 1 OR 1 =", column_ref("id"), Params().bind(1))


def test_null_tests_and_lists() -> None:
    col = column_ref("x", "t")
    assert is_null(col).sql(dialect=DIALECT) == 't."x" IS NULL'
    assert is_not_null(col).sql(dialect=DIALECT) == 'NOT t."x" IS NULL'
    params = Params()
    items = [params.bind(v) for v in ("a", "b")]
    assert one_of(col, items).sql(dialect=DIALECT) == 't."x" IN ($p0, $p1)'
    assert one_of(col, []).sql(dialect=DIALECT) == "FALSE"  # SQL has no empty list


def test_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO orders VALUES (2, 'north'), (NULL, 'east')")
    expected = {"sum": 5, "avg": 5 / 3, "count": 3, "count_distinct": 2, "min": 1, "max": 2}
    assert set(AGGREGATES) == set(expected)
    for func, value in expected.items():
        query = exp.select(aggregate(func, column_ref("id"))).from_(table_ref("orders"))
        assert con.execute(query.sql(dialect=DIALECT)).fetchone() == (pytest.approx(value),)
    rows = exp.select(aggregate("count", None)).from_(table_ref("orders"))
    assert con.execute(rows.sql(dialect=DIALECT)).fetchone() == (4,)
    with pytest.raises(SqlBuildError, match="sum needs a column"):
        aggregate("sum", None)
    with pytest.raises(SqlBuildError, match="unknown aggregate 'median'"):
        aggregate("median", column_ref("id"))


# -- any input -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(min_size=1, max_size=20).filter(lambda n: n not in ("c", "t", "p0")),
    value=st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.floats(allow_nan=False)),
    always_quote=st.booleans(),
)
def test_no_name_or_value_changes_the_shape(name: str, value: Any, always_quote: bool) -> None:
    def build(name: str, value: Any, params: Params) -> exp.Select:
        col = column_ref(name, "t", always_quote=always_quote)
        return (
            exp.select(aggregate("count", col))
            .from_(table_ref(name, alias="t", always_quote=always_quote))
            .where(exp.and_(compare("=", col, params.bind(value)), is_not_null(col.copy())))
        )

    params = Params()
    sql = build(name, value, params).sql(dialect=DIALECT)
    shape = [(kind, "c" if got == name else got) for kind, got in _shape(sql)]
    assert shape == _shape(build("c", 0, Params()).sql(dialect=DIALECT))
    assert params.values == {"p0": value}
