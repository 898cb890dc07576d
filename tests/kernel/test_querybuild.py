"""Visual query spec → SQL: every built statement runs on DuckDB, bound and with literals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from pydantic import BaseModel, ValidationError

from dap_kernel.errors import UnknownTable
from dap_kernel.governance.rewrite import parse_one_statement, prepare
from dap_kernel.querybuild import (
    AggregateSpec,
    BuiltQuery,
    FilterSpec,
    InvalidQuerySpec,
    JoinKey,
    JoinSpec,
    OrderSpec,
    QuerySpec,
    build_query,
)

HOSTILE = "x'; DROP TABLE orders; --"
HOSTILE_COLUMN = 'a"b; DROP TABLE orders; --'
HOSTILE_TABLE = 'we"ird'


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE orders(id INT, customer_id INT, amount DECIMAL(10,2), region VARCHAR, "
        "ordered_at DATE)"
    )
    con.execute(
        """INSERT INTO orders VALUES
        (1, 1, 10.00, 'north', DATE '2024-01-05'),
        (2, 1, 25.50, 'south', DATE '2024-02-10'),
        (3, 2, 7.25, 'north', DATE '2024-03-15'),
        (4, 3, 100.00, 'east', DATE '2024-03-20'),
        (5, NULL, 3.00, NULL, DATE '2024-04-01')"""
    )
    con.execute("CREATE TABLE customers(id INT, name VARCHAR, country VARCHAR, seen TIMESTAMP)")
    con.execute(
        """INSERT INTO customers VALUES
        (1, 'Alice', 'DE', TIMESTAMP '2024-01-01 08:00:00'),
        (2, 'Bob', 'FR', TIMESTAMP '2024-01-01 18:30:00'),
        (3, 'O''Brien', 'IE', NULL),
        (4, '50%_off', 'DE', NULL),
        (5, '5000 off', 'US', NULL)"""
    )
    con.execute('CREATE TABLE "we""ird" ("a""b; DROP TABLE orders; --" INT, "select" VARCHAR)')
    con.execute("""INSERT INTO "we""ird" VALUES (1, 'one'), (2, 'two'), (3, 'three')""")
    yield con
    con.close()


def catalog(con: duckdb.DuckDBPyConnection) -> Any:
    """``columns_of`` over the test database, as the catalog would answer it."""

    def columns_of(name: str) -> Sequence[tuple[str, str]]:
        schema, _, table = name.rpartition(".")
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = $s AND table_name = $t ORDER BY ordinal_position",
            {"s": schema or "main", "t": table},
        ).fetchall()
        if not rows:
            raise UnknownTable(f"table {name} does not exist in the catalog")
        return [(str(n), str(t)) for n, t in rows]

    return columns_of


def build(con: duckdb.DuckDBPyConnection, **spec: Any) -> BuiltQuery:
    return build_query(QuerySpec.model_validate(spec), catalog(con))


def run(con: duckdb.DuckDBPyConnection, built: BuiltQuery) -> list[tuple[Any, ...]]:
    """Rows of the bound SQL, checked equal to the rows of the display SQL and output names."""
    cursor = con.execute(built.sql, built.params)
    rows = cursor.fetchall()
    assert [d[0] for d in cursor.description] == built.columns
    assert con.execute(built.display_sql).fetchall() == rows
    return rows


def ids(con: duckdb.DuckDBPyConnection, *filters: dict[str, Any]) -> list[int]:
    built = build(
        con, table="orders", columns=["id"], filters=list(filters), order_by=[{"column": "id"}]
    )
    return [r[0] for r in run(con, built)]


# --- shapes -----------------------------------------------------------------------------------


def test_empty_columns_select_every_column_of_the_main_table(
    con: duckdb.DuckDBPyConnection,
) -> None:
    built = build(con, table="orders", order_by=[{"column": "id"}])
    assert built.columns == ["id", "customer_id", "amount", "region", "ordered_at"]
    assert built.params == {}
    assert run(con, built) == con.execute("SELECT * FROM orders ORDER BY id").fetchall()


def test_projection_order_and_limit(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        columns=["region", "orders.amount"],
        order_by=[{"column": "amount", "descending": True}],
        limit=2,
    )
    assert built.columns == ["region", "amount"]
    assert built.sql.endswith("LIMIT 2")
    assert run(con, built) == [("east", Decimal("100.00")), ("south", Decimal("25.50"))]


def test_order_by_a_column_that_is_not_selected(con: duckdb.DuckDBPyConnection) -> None:
    built = build(con, table="orders", columns=["id"], order_by=[{"column": "amount"}])
    assert run(con, built) == [(5,), (3,), (1,), (2,), (4,)]


def test_join_group_aggregate_order(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        joins=[{"table": "customers", "on": [{"left": "customer_id", "right": "id"}]}],
        group_by=["country"],
        aggregates=[
            {"func": "sum", "column": "amount"},
            {"func": "count"},
            {"func": "count_distinct", "column": "orders.customer_id"},
            {"func": "avg", "column": "amount", "alias": "mean"},
            {"func": "min", "column": "ordered_at"},
            {"func": "max", "column": "customers.name"},
        ],
        order_by=[{"column": "sum_amount", "descending": True}],
    )
    assert built.columns == [
        "country",
        "sum_amount",
        "count",
        "count_distinct_customer_id",
        "mean",
        "min_ordered_at",
        "max_name",
    ]
    assert run(con, built) == [
        ("IE", Decimal("100.00"), 1, 1, 100.0, dt.date(2024, 3, 20), "O'Brien"),
        ("DE", Decimal("35.50"), 2, 1, 17.75, dt.date(2024, 1, 5), "Alice"),
        ("FR", Decimal("7.25"), 1, 1, 7.25, dt.date(2024, 3, 15), "Bob"),
    ]


def test_aggregates_without_group_by(con: duckdb.DuckDBPyConnection) -> None:
    built = build(con, table="orders", aggregates=[{"func": "count", "column": "*"}])
    assert run(con, built) == [(5,)]
    built = build(con, table="orders", aggregates=[{"func": "count", "column": "region"}])
    assert built.columns == ["count_region"]
    assert run(con, built) == [(4,)]


def test_group_by_alone_lists_distinct_values(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        group_by=["region"],
        columns=["region"],
        order_by=[{"column": "region"}],
    )
    assert run(con, built) == [("east",), ("north",), ("south",), (None,)]


def test_left_right_and_full_joins(con: duckdb.DuckDBPyConnection) -> None:
    def count(kind: str) -> int:
        built = build(
            con,
            table="orders",
            joins=[
                {
                    "table": "main.customers",
                    "type": kind,
                    "on": [{"left": "customer_id", "right": "id"}],
                }
            ],
            aggregates=[{"func": "count"}],
        )
        return int(run(con, built)[0][0])

    assert (count("inner"), count("left"), count("right"), count("full")) == (4, 5, 6, 7)


def test_duplicate_output_names_get_the_table_name(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        joins=[{"table": "customers", "on": [{"left": "customer_id", "right": "id"}]}],
        columns=["orders.id", "customers.id", "name", "name"],
        order_by=[{"column": "customers_id"}, {"column": "orders.id"}],
    )
    assert built.columns == ["id", "customers_id", "name"]
    assert run(con, built) == [(1, 1, "Alice"), (2, 1, "Alice"), (3, 2, "Bob"), (4, 3, "O'Brien")]


def test_default_aggregate_names_do_not_collide(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        aggregates=[
            {"func": "count"},
            {"func": "count"},
            {"func": "sum", "column": "id", "alias": "count_2"},
        ],
    )
    assert built.columns == ["count", "count_3", "count_2"]
    assert run(con, built) == [(5, 5, 15)]


def test_order_by_an_aggregate_alias_that_shadows_a_column(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        group_by=["region"],
        aggregates=[{"func": "sum", "column": "amount", "alias": "amount"}],
        filters=[{"column": "region", "op": "is not null"}],
        order_by=[{"column": "amount"}],
    )
    assert run(con, built) == [
        ("north", Decimal("17.25")),
        ("south", Decimal("25.50")),
        ("east", Decimal("100.00")),
    ]


# --- filters ----------------------------------------------------------------------------------


def test_comparisons(con: duckdb.DuckDBPyConnection) -> None:
    assert ids(con, {"column": "region", "op": "=", "value": "north"}) == [1, 3]
    assert ids(con, {"column": "region", "op": "!=", "value": "north"}) == [2, 4]
    assert ids(con, {"column": "amount", "op": "<", "value": 7.25}) == [5]
    assert ids(con, {"column": "amount", "op": "<=", "value": 7.25}) == [3, 5]
    assert ids(con, {"column": "amount", "op": ">", "value": 25.5}) == [4]
    assert ids(con, {"column": "amount", "op": ">=", "value": "25.50"}) == [2, 4]
    assert ids(
        con, {"column": "id", "op": ">", "value": 2}, {"column": "id", "op": "<", "value": 5}
    ) == [
        3,
        4,
    ]


def test_values_are_bound_parameters(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table="orders",
        columns=["id"],
        filters=[
            {"column": "region", "op": "=", "value": "north"},
            {"column": "id", "op": "in", "value": [1, 3, 4]},
        ],
    )
    assert built.params == {"p0": "north", "p1": 1, "p2": 3, "p3": 4}
    assert "north" not in built.sql
    assert "$p0" in built.sql and "$p3" in built.sql
    assert "'north'" in built.display_sql


def test_numbers_typed_as_text_are_bound_as_numbers(con: duckdb.DuckDBPyConnection) -> None:
    built = build(con, table="orders", filters=[{"column": "id", "op": "=", "value": "3"}])
    assert built.params == {"p0": 3}
    built = build(con, table="orders", filters=[{"column": "amount", "op": "<", "value": " 7.5 "}])
    assert built.params == {"p0": 7.5}
    with pytest.raises(InvalidQuerySpec, match=r"filter 1: 'abc' is not a number.*amount"):
        build(con, table="orders", filters=[{"column": "amount", "op": "<", "value": "abc"}])


def test_in_not_in_between(con: duckdb.DuckDBPyConnection) -> None:
    assert ids(con, {"column": "region", "op": "in", "value": ["east", "south"]}) == [2, 4]
    assert ids(con, {"column": "region", "op": "not in", "value": ["east", "south"]}) == [1, 3]
    assert ids(con, {"column": "amount", "op": "between", "value": [7.25, 25.5]}) == [1, 2, 3]
    assert ids(con, {"column": "id", "op": "in", "value": [2]}) == [2]


def test_dates_and_timestamps_are_cast(con: duckdb.DuckDBPyConnection) -> None:
    between = {"column": "ordered_at", "op": "between", "value": ["2024-02-01", "2024-03-15"]}
    built = build(con, table="orders", filters=[between])
    assert "CAST($p0 AS DATE)" in built.sql and "CAST($p1 AS DATE)" in built.sql
    assert ids(con, between) == [2, 3]
    assert ids(con, {"column": "ordered_at", "op": ">=", "value": dt.date(2024, 3, 20)}) == [4, 5]
    assert ids(
        con, {"column": "ordered_at", "op": "in", "value": ["2024-01-05", "2024-04-01"]}
    ) == [1, 5]

    built = build(
        con,
        table="customers",
        columns=["id"],
        filters=[{"column": "seen", "op": ">", "value": "2024-01-01 12:00:00"}],
    )
    assert "CAST($p0 AS TIMESTAMP)" in built.sql
    assert run(con, built) == [(2,)]
    built = build(
        con,
        table="customers",
        columns=["id"],
        filters=[{"column": "seen", "op": "<", "value": dt.datetime(2024, 1, 1, 12)}],
    )
    assert run(con, built) == [(1,)]


def test_null_checks(con: duckdb.DuckDBPyConnection) -> None:
    assert ids(con, {"column": "region", "op": "is null"}) == [5]
    assert ids(con, {"column": "customer_id", "op": "is not null"}) == [1, 2, 3, 4]


def test_text_matching(con: duckdb.DuckDBPyConnection) -> None:
    def names(op: str, value: str) -> list[str]:
        built = build(
            con,
            table="customers",
            columns=["name"],
            filters=[{"column": "name", "op": op, "value": value}],
            order_by=[{"column": "id"}],
        )
        return [r[0] for r in run(con, built)]

    assert names("like", "%o%") == ["Bob", "50%_off", "5000 off"]
    assert names("like", "_ob") == ["Bob"]
    assert names("contains", "LI") == ["Alice"]
    assert names("contains", "0%_") == ["50%_off"]  # % and _ are literal, not wildcards
    assert names("contains", "'") == ["O'Brien"]
    assert names("starts with", "o'b") == ["O'Brien"]
    assert names("starts with", "5_") == []
    assert names("contains", "\\") == []
    # a number column is matched on its text
    assert ids(con, {"column": "amount", "op": "contains", "value": ".5"}) == [2]


# --- hostile input ----------------------------------------------------------------------------


def test_hostile_values_are_only_data(con: duckdb.DuckDBPyConnection) -> None:
    for op in ("=", "like", "contains", "starts with"):
        built = build(
            con, table="orders", filters=[{"column": "region", "op": op, "value": HOSTILE}]
        )
        assert "DROP" not in built.sql
        assert run(con, built) == []
    built = build(
        con, table="orders", filters=[{"column": "region", "op": "in", "value": [HOSTILE, "east"]}]
    )
    assert "DROP" not in built.sql
    assert "'x''; DROP TABLE orders; --'" in built.display_sql
    assert len(run(con, built)) == 1
    assert con.execute("SELECT count(*) FROM orders").fetchall() == [(5,)]


def test_hostile_names_are_quoted_identifiers(con: duckdb.DuckDBPyConnection) -> None:
    built = build(
        con,
        table=HOSTILE_TABLE,
        columns=[HOSTILE_COLUMN, "select"],
        filters=[{"column": HOSTILE_COLUMN, "op": ">=", "value": 2}],
        order_by=[{"column": "select"}],
    )
    assert built.columns == [HOSTILE_COLUMN, "select"]
    assert run(con, built) == [(3, "three"), (2, "two")]
    built = build(
        con,
        table=HOSTILE_TABLE,
        group_by=["select"],
        aggregates=[
            {"func": "sum", "column": f"{HOSTILE_TABLE}.{HOSTILE_COLUMN}", "alias": "x'; --"}
        ],
        order_by=[{"column": "x'; --", "descending": True}],
    )
    assert built.columns == ["select", "x'; --"]
    assert run(con, built) == [("three", 3), ("two", 2), ("one", 1)]
    assert con.execute("SELECT count(*) FROM orders").fetchall() == [(5,)]


def test_hostile_unknown_names_never_reach_sql(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InvalidQuerySpec, match="unknown column"):
        build(con, table="orders", columns=["id; DROP TABLE orders"])
    with pytest.raises(UnknownTable):
        build(con, table="orders; DROP TABLE orders")


# --- errors -----------------------------------------------------------------------------------


def test_unknown_column_names_it_and_the_available_ones(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InvalidQuerySpec) as info:
        build(con, table="orders", filters=[{"column": "ammount", "op": ">", "value": 1}])
    message = str(info.value)
    assert "\n" not in message
    assert "filter 1: unknown column 'ammount' in orders" in message
    assert "available: id, customer_id, amount, region, ordered_at" in message
    assert "did you mean amount?" in message
    assert info.value.code == "invalid_query_spec" and info.value.http_status == 400


def test_unknown_column_of_a_named_table(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InvalidQuerySpec, match=r"columns: unknown column 'customers.amount'"):
        build(
            con,
            table="orders",
            joins=[{"table": "customers", "on": [{"left": "customer_id", "right": "id"}]}],
            columns=["customers.amount"],
        )


def test_ambiguous_column(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(
        InvalidQuerySpec, match=r"'id' is ambiguous.*write orders.id or customers.id"
    ):
        build(
            con,
            table="orders",
            joins=[{"table": "customers", "on": [{"left": "customer_id", "right": "id"}]}],
            columns=["id"],
        )


def test_join_keys_belong_to_their_side(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InvalidQuerySpec, match="join 1 right: unknown column 'customer_id'"):
        build(
            con,
            table="orders",
            joins=[{"table": "customers", "on": [{"left": "id", "right": "customer_id"}]}],
        )


def test_unknown_table(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UnknownTable):
        build(con, table="nope")
    with pytest.raises(UnknownTable):
        build(con, table="orders", joins=[{"table": "nope", "on": [{"left": "id", "right": "id"}]}])
    with pytest.raises(InvalidQuerySpec, match="must be `table` or `schema.table`"):
        build(con, table="a..b")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"aggregates": [{"func": "count_distinct"}]},
            "aggregate 1: count_distinct needs a column",
        ),
        ({"aggregates": [{"func": "sum", "column": "*"}]}, "sum needs a column"),
        ({"aggregates": [{"func": "avg", "column": "region"}]}, "avg needs a numeric column"),
        (
            {"aggregates": [{"func": "count", "alias": "n"}, {"func": "count", "alias": "N"}]},
            "'N' is used twice",
        ),
        (
            {"group_by": ["region"], "aggregates": [{"func": "count", "alias": "region"}]},
            "'region' is used twice",
        ),
        ({"columns": ["id"], "aggregates": [{"func": "count"}]}, "'id' is neither grouped"),
        (
            {"group_by": ["region"], "order_by": [{"column": "id"}]},
            "order_by: 'id' is neither a group_by column nor an aggregate",
        ),
        (
            {"filters": [{"column": "id", "op": "between", "value": [1, 2, 3]}]},
            "exactly two values",
        ),
        ({"filters": [{"column": "id", "op": "between", "value": 1}]}, "exactly two values"),
        ({"filters": [{"column": "id", "op": "in", "value": []}]}, "non-empty list"),
        ({"filters": [{"column": "id", "op": "not in", "value": 1}]}, "non-empty list"),
        ({"filters": [{"column": "id", "op": "="}]}, "use 'is null'"),
        ({"filters": [{"column": "id", "op": "in", "value": [1, None]}]}, "use 'is null'"),
        ({"filters": [{"column": "id", "op": "is null", "value": 1}]}, "takes no value"),
        ({"filters": [{"column": "region", "op": "like", "value": 1}]}, "needs a text value"),
        ({"filters": [{"column": "id", "op": "=", "value": {"a": 1}}]}, "not dict"),
        ({"filters": [{"column": "id", "op": "=", "value": [1]}]}, "not list"),
    ],
)
def test_invalid_specs(con: duckdb.DuckDBPyConnection, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidQuerySpec, match=message.replace("(", r"\(")) as info:
        build(con, table="orders", **spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"table": "orders", "colums": ["id"]},
        {"table": "orders", "filters": [{"column": "id", "op": "=", "value": 1, "x": 1}]},
        {"table": "orders", "filters": [{"column": "id", "op": "==", "value": 1}]},
        {"table": "orders", "joins": [{"table": "customers", "on": []}]},
        {
            "table": "orders",
            "joins": [{"table": "customers", "on": [{"left": "a", "right": "b", "c": 1}]}],
        },
        {"table": "orders", "aggregates": [{"func": "median", "column": "id"}]},
        {"table": "orders", "order_by": [{"column": "id", "desc": True}]},
        {"table": "orders", "limit": 0},
        {"table": "orders", "limit": 1_000_001},
        {"table": ""},
    ],
)
def test_malformed_specs_fail_validation(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        QuerySpec.model_validate(spec)


def test_models_document_every_field() -> None:
    models: list[type[BaseModel]] = [
        QuerySpec,
        JoinSpec,
        JoinKey,
        FilterSpec,
        AggregateSpec,
        OrderSpec,
        BuiltQuery,
    ]
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
    assert QuerySpec.model_json_schema()["additionalProperties"] is False


# --- the governed path accepts what the builder writes ----------------------------------------


def test_built_sql_passes_the_governance_parser(con: duckdb.DuckDBPyConnection) -> None:
    built = build_query(
        QuerySpec(
            table="orders",
            joins=[
                JoinSpec(
                    table="customers", type="left", on=[JoinKey(left="customer_id", right="id")]
                )
            ],
            filters=[
                FilterSpec(column="ordered_at", op=">=", value="2024-02-01"),
                FilterSpec(column="name", op="contains", value="o"),
            ],
            group_by=["country"],
            aggregates=[AggregateSpec(func="sum", column="amount")],
            order_by=[OrderSpec(column="sum_amount", descending=True)],
            limit=10,
        ),
        catalog(con),
    )
    parse_one_statement(built.sql)
    parse_one_statement(built.display_sql)
    prepared = prepare(built.sql, known={"main.orders", "main.customers"})
    assert set(prepared.tables) == {"main.orders", "main.customers"}
    assert set(prepared.param_names) == set(built.params)
    rows = con.execute(prepared.sql, built.params).fetchall()
    assert rows == run(con, built) == [("IE", Decimal("100.00")), ("FR", Decimal("7.25"))]


def test_module_example() -> None:
    import doctest

    from dap_kernel import querybuild

    assert doctest.testmod(querybuild).failed == 0
