"""Name resolution exactly as DuckDB does it, driven by tests/fixtures/scope.sql.

Two checks per statement: the secured SQL is the expected one (fixture pairs), and — the one
that catches a scope rule we got wrong — DuckDB itself agrees: the statement run on plain tables
and its rewrite run on the engine's hidden relations give the same rows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_secure_rewrite import KNOWN, NAMES, secure

from dap_kernel import errors
from dap_kernel.governance.enforce import secure_tables
from dap_kernel.governance.identity import Principal
from dap_kernel.governance.rewrite import prepare
from dap_kernel.session import Workspace

FIXTURES = Path(__file__).parent.parent / "fixtures" / "scope.sql"
TABLES = {
    "customers": "SELECT 100 + i AS id, 'raw' || i || '@x.org' AS email, "
    "CASE WHEN i % 2 = 0 THEN 'EMEA' ELSE 'APAC' END AS region, 'p' || i AS phone "
    "FROM range(4) t(i)",
    "orders": "SELECT 200 + i AS id, 'ann' AS owner, 10.0 * i AS amount FROM range(3) t(i)",
    "products": "SELECT 300 + i AS id FROM range(2) t(i)",
    "emea_only": "SELECT 1 AS id, 's' AS secret",
    "notes": "SELECT 1 AS id, 'body' AS body, 'code' AS code",
}


def cases() -> list[tuple[str, str]]:
    blocks = [b.strip().splitlines() for b in FIXTURES.read_text().split("\n\n")]
    return [(b[0], b[1]) for b in blocks if b and not b[0].startswith("--")]


def _expected_error(expected: str) -> type[errors.DapError] | None:
    kind = expected.partition(": ")[0]
    error = getattr(errors, kind, None)
    return error if isinstance(error, type) and issubclass(error, errors.DapError) else None


@pytest.mark.parametrize(("sql", "expected"), cases(), ids=[c[0][:60] for c in cases()])
def test_scope_fixture(sql: str, expected: str) -> None:
    error = _expected_error(expected)
    if error is None:
        assert secure(sql) == expected
    else:
        with pytest.raises(error, match=expected.partition(": ")[2]):
            secure(sql)


def test_fixture_covers_every_form() -> None:
    text = FIXTURES.read_text().upper()
    for form in ("RECURSIVE", "MATERIALIZED", "UNION", "INTERSECT", "BY NAME", "VERSION AS OF"):
        assert form in text
    assert len(cases()) >= 30


def _connections() -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
    """Plain tables where the user's names point, and the same rows under hidden names only."""
    plain, hidden = duckdb.connect(), duckdb.connect()
    hidden.execute(f'CREATE SCHEMA "{NAMES.schema("main")}"')
    for name, rows in TABLES.items():
        plain.execute(f"CREATE TABLE main.{name} AS {rows}")
        hidden.execute(f'CREATE TABLE "{NAMES.schema("main")}".{name} AS {rows}')
    return plain, hidden


def as_stored(sql: str) -> str:
    """The rewrite for someone who sees every table as stored (no filters, no masks)."""
    step = lambda tree: secure_tables(tree, lambda t: None, Principal("root"), NAMES)  # noqa: E731
    return prepare(sql, known=KNOWN, steps=[step]).sql


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]] | str:
    try:
        return sorted(con.sql(sql).fetchall(), key=repr)
    except duckdb.Error as e:
        return f"error: {str(e).splitlines()[0]}"


AGREE = [c[0] for c in cases() if _expected_error(c[1]) is None and "AS OF" not in c[0]]


@pytest.mark.parametrize("sql", AGREE, ids=[s[:60] for s in AGREE])
def test_duckdb_agrees(sql: str) -> None:
    """Same rows from DuckDB's own resolution and from ours: every name resolved alike."""
    plain, hidden = _connections()
    expected = _rows(plain, sql)
    assert not isinstance(expected, str), expected
    assert _rows(hidden, as_stored(sql)) == expected


NAMES_DRAWN = st.sampled_from(["customers", "orders", "products", "Customers", '"ORDERS"', "x"])


@st.composite
def statements(draw: st.DrawFn) -> str:
    """A statement whose CTE and alias names are drawn from the catalog's own table names."""
    recursive = draw(st.booleans())
    ctes = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(NAMES_DRAWN)
        body_source = draw(NAMES_DRAWN)
        if recursive and draw(st.booleans()):
            body = f"SELECT 1 AS id UNION SELECT id FROM {body_source} WHERE id < 0"
        else:
            body = f"SELECT id FROM {body_source}"
        ctes.append(f"{name} AS ({body})")
    head = ("WITH RECURSIVE " if recursive else "WITH ") + ", ".join(ctes) + " " if ctes else ""
    main = draw(NAMES_DRAWN)
    alias = draw(NAMES_DRAWN).strip('"')
    inner = draw(NAMES_DRAWN)
    shape = draw(st.integers(0, 4))
    if shape == 4:
        body = f"SELECT * FROM {main} AS {alias}"
    elif shape == 0:
        body = f"SELECT id FROM {main} AS {alias}"
    elif shape == 1:
        body = (
            f"SELECT id FROM {main} UNION ALL "
            f"(WITH {inner} AS (SELECT 7 AS id) SELECT id FROM {inner})"
        )
    elif shape == 2:
        body = f"SELECT (SELECT count(*) FROM {inner}) AS id FROM {main}"
    else:
        body = f"SELECT id FROM (WITH {alias} AS (SELECT id FROM {main}) SELECT id FROM {alias}) q"
    return head + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_property_names_from_the_catalog(sql: str) -> None:
    """Whatever names CTEs and aliases take, DuckDB and DAP resolve them alike, and for ann no
    raw e-mail or other region ever comes back."""
    plain, hidden = _connections()
    expected = _rows(plain, sql)
    try:
        stored = as_stored(sql)
    except errors.DapError:
        return  # refused before any engine saw it
    assert _rows(hidden, stored) == expected
    governed = _rows(hidden, secure(sql))
    assert "raw" not in repr(governed) and "APAC" not in repr(governed)


SINGLE_USER_FORMS = {
    "SUMMARIZE customers": 2,
    "DESCRIBE customers": 2,
    "PIVOT customers ON region USING count(*)": 2,
    "UNPIVOT customers ON region INTO NAME k VALUE v": 2,
    "SELECT main.customers.id FROM main.customers": 2,
    "SELECT customers.id FROM customers": 2,
    "FROM customers c SELECT c.id": 2,
    "SELECT * FROM customers TABLESAMPLE 100%": 2,
    "SELECT * FROM customers FOR VERSION AS OF 0": 2,
    "SELECT * FROM customers, unnest([1, 2])": 4,
    "DESCRIBE SELECT * FROM customers": 2,
    "WITH RECURSIVE customers AS (SELECT 1 AS id UNION ALL SELECT id + 1 FROM customers "
    "WHERE id < 5) SELECT * FROM customers": 5,
}


def test_single_user_answers_stay_the_same(workspace: Workspace) -> None:
    """Every table is secured (renamed to its private relation) also for the single user: the
    forms that name a table in unusual places still answer."""
    data = pl.DataFrame({"id": [1, 2], "region": ["a", "b"]}).to_arrow()
    workspace.catalog.create_table("main.customers", data, owner="tester")
    session = workspace.session()
    for sql, rows in SINGLE_USER_FORMS.items():
        assert session.sql(sql).height == rows, sql


def test_statement_inputs_resolve_like_tables(governed: Workspace) -> None:
    """A statement's own inputs (a pipeline's batch) are names like tables: a CTE of the same
    name shadows them, a catalog table of the same name is shadowed by them, and a filtered
    user reading an input next to a governed table still gets only her rows."""
    ann = governed.session(Principal("ann", source="test"))
    batch = pl.DataFrame({"x": [1, 2, 3]})
    assert ann.sql("SELECT count(*) FROM batch", inputs={"batch": batch}).item() == 3
    assert ann.sql("SELECT count(*) FROM main.batch", inputs={"batch": batch}).item() == 3
    shadowed = "WITH batch AS (SELECT 9 AS x) SELECT sum(x) FROM batch"
    assert ann.sql(shadowed, inputs={"batch": batch}).item() == 9
    mine = pl.DataFrame({"region": ["APAC"]})
    joined = ann.sql(
        "SELECT DISTINCT c.region FROM customers c JOIN customers_in i USING (region)",
        inputs={"customers_in": mine},
    )
    assert joined.height == 0  # the input names APAC; the governed table has no APAC row
    same_name = ann.sql("SELECT region FROM customers", inputs={"customers": mine})
    assert same_name["region"].to_list() == ["APAC"]  # her own data, not the catalog table


def test_a_deeply_nested_statement_is_refused_not_a_crash(workspace: Workspace) -> None:
    """Deep enough for Python's recursion limit in sqlglot's generator: one clear refusal."""
    workspace.catalog.create_table("main.t", pl.DataFrame({"x": [1]}).to_arrow(), owner="me")
    nested = "SELECT * FROM " + "(SELECT * FROM " * 600 + "t" + ")" * 600
    with pytest.raises(errors.QueryRefused, match="nested too deeply"):
        workspace.session().sql(nested)
    shallow = "SELECT * FROM " + "(SELECT * FROM " * 100 + "t" + ")" * 100
    assert workspace.session().sql(shallow).height == 1  # the walk itself has no depth limit
