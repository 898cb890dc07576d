"""The row-filter/mask rewrite, driven by input/expected pairs in fixtures/secure.sql."""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_kernel import errors
from dap_kernel.engines.names import RelationNames
from dap_kernel.governance.enforce import MaskKey, secure_tables
from dap_kernel.governance.identity import Principal
from dap_kernel.governance.policy import TablePolicy
from dap_kernel.governance.rewrite import prepare

ANN = Principal("ann", groups=frozenset({"emea"}), attributes={"region": "EMEA", "level": 3})
POLICIES = {
    "main.customers": TablePolicy(
        columns=(
            ("id", "BIGINT"),
            ("email", "VARCHAR"),
            ("region", "VARCHAR"),
            ("phone", "VARCHAR"),
        ),
        row_filters=("region = current_user_attr('region')",),
        masks={"email": "mask_email", "phone": "null"},
    ),
    "main.orders": TablePolicy(
        columns=(("id", "BIGINT"), ("owner", "VARCHAR"), ("amount", "DOUBLE")),
        row_filters=(
            "owner = current_user() OR is_member('auditors')",
            "amount < current_user_attr('level') * 1000",
        ),
    ),
    "main.emea_only": TablePolicy(
        columns=(("id", "BIGINT"), ("secret", "VARCHAR")),
        row_filters=("is_member('emea')",),
        masks={"secret": "hash"},
    ),
    "main.notes": TablePolicy(
        columns=(("id", "BIGINT"), ("body", "VARCHAR"), ("code", "VARCHAR")),
        masks={"body": "partial", "code": "sql:upper(left({col}, 1))"},
    ),
}
KNOWN = set(POLICIES) | {"main.products"}
FIXTURES = Path(__file__).parent.parent / "fixtures" / "secure.sql"
NAMES = RelationNames("secret")  # the engine's private token, fixed for the fixtures
KEY = MaskKey.from_secret(b"k" * 32)  # the workspace's hash-mask key, fixed likewise


def cases() -> list[tuple[str, str]]:
    blocks = [b.strip().splitlines() for b in FIXTURES.read_text().split("\n\n")]
    return [(b[0], b[1]) for b in blocks if b and not b[0].startswith("--")]


def secure(sql: str) -> str:
    step = lambda tree: secure_tables(tree, POLICIES.get, ANN, NAMES, KEY)  # noqa: E731
    return prepare(sql, known=KNOWN, steps=[step]).sql


@pytest.mark.parametrize(("sql", "expected"), cases(), ids=[c[0][:50] for c in cases()])
def test_secure_rewrite(sql: str, expected: str) -> None:
    kind, _, message = expected.partition(": ")
    error = getattr(errors, kind, None)
    if isinstance(error, type) and issubclass(error, errors.DapError):
        with pytest.raises(error, match=message.split(":")[0]):
            secure(sql)
    else:
        assert secure(sql) == expected


def test_fixture_has_cases() -> None:
    assert len(cases()) >= 15


def test_no_reference_to_a_governed_table_survives_unwrapped() -> None:
    """Every FROM of a governed table is the inner FROM of its secured subquery."""
    import sqlglot
    from sqlglot import exp

    for sql, expected in cases():
        if expected.startswith("QueryRefused"):
            continue
        tree = sqlglot.parse_one(expected, read="duckdb")
        for table in tree.find_all(exp.Table):
            name = f"{table.db.removesuffix(NAMES.suffix)}.{table.name}"
            assert name not in POLICIES or NAMES.is_hidden(table.db), sql
            if name in POLICIES:
                select = table.find_ancestor(exp.Select)
                assert select is not None and isinstance(select.parent, exp.Subquery), sql
