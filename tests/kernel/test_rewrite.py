"""The SQL check and qualification, driven by input/expected pairs in fixtures/rewrite.sql."""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_kernel import errors
from dap_kernel.governance.rewrite import MAX_SQL_CHARS, prepare

KNOWN = {"main.orders", "main.customers", "main.order_lines", "tpch.lineitem"}
FIXTURES = Path(__file__).parent.parent / "fixtures" / "rewrite.sql"


def load_cases() -> list[tuple[str, str]]:
    cases = []
    for block in FIXTURES.read_text().split("\n\n"):
        lines = [ln for ln in block.strip().splitlines() if not ln.startswith("-- ")]
        if block.strip().startswith("-- Pairs"):
            continue
        if len(lines) == 1:  # a statement that is only a comment: the input is empty
            cases.append(("-- nothing", lines[0]))
        elif len(lines) == 2:
            cases.append((lines[0], lines[1]))
        else:
            raise AssertionError(f"malformed fixture block: {block!r}")
    return cases


CASES = load_cases()


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:50] for c in CASES])
def test_prepare(sql: str, expected: str) -> None:
    kind, _, message = expected.partition(": ")
    error_class = getattr(errors, kind, None)
    if isinstance(error_class, type) and issubclass(error_class, errors.DapError):
        with pytest.raises(error_class) as info:
            prepare(sql, known=KNOWN)
        assert message in str(info.value)
    else:
        assert prepare(sql, known=KNOWN).sql == expected


def test_fixture_file_has_cases() -> None:
    assert len(CASES) >= 30


def test_tables_and_parameters_are_reported() -> None:
    prepared = prepare(
        "SELECT * FROM orders o JOIN tpch.lineitem l ON o.id = l.id WHERE o.x = :a AND l.y = $b",
        known=KNOWN,
    )
    assert prepared.tables == ("main.orders", "tpch.lineitem")
    assert prepared.param_names == ("a", "b")


def test_huge_statement_is_refused_not_parsed() -> None:
    with pytest.raises(errors.QueryRefused, match="characters long"):
        prepare("SELECT " + "1+" * (MAX_SQL_CHARS // 2) + "1", known=KNOWN)


def test_deep_nesting_gives_a_clear_error() -> None:
    depth = 5000
    with pytest.raises((errors.QueryRefused, errors.SqlSyntaxError)):
        prepare("SELECT " + "(" * depth + "1" + ")" * depth, known=KNOWN)


def test_table_names_are_case_insensitive_and_keep_catalog_spelling() -> None:
    assert prepare("SELECT * FROM ORDERS", known=KNOWN).sql == "SELECT * FROM main.orders"


def test_docstring_examples() -> None:
    import doctest

    from dap_kernel.governance import rewrite

    assert doctest.testmod(rewrite).failed == 0


def test_cached_statement_follows_the_catalog() -> None:
    """A repeated statement is re-resolved: a table that disappears is no longer accepted."""
    sql = "SELECT * FROM cached_t"
    assert prepare(sql, known={"main.cached_t"}).tables == ("main.cached_t",)
    assert prepare(sql, known={"main.cached_t"}).tables == ("main.cached_t",)
    assert prepare(sql, known={"other.x", "MAIN.Cached_T"}).sql == "SELECT * FROM MAIN.Cached_T"
    with pytest.raises(errors.UnknownTable):
        prepare(sql, known={"main.other"})
