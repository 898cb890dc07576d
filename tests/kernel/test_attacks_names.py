"""Attacks on name resolution, in-process: refused, or only permitted data, never raw rows.

And the construction behind it: with the secure step removed, every governed statement fails —
the engine holds raw relations only under names that user SQL cannot spell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_kernel.errors import DapError
from dap_kernel.governance import rewrite, statement
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.attacks import ERROR_ATTACKS, NAME_ATTACKS, leaks
from tests.kernel.test_governance import ATTACKS

USERS = {"ann": False, "bob": True}  # name -> has no grant


@pytest.mark.parametrize("user", sorted(USERS))
def test_name_attacks_refused_or_permitted_only(governed: Workspace, user: str) -> None:
    session = governed.session(Principal(user, source="test"))
    answered = 0
    for sql in NAME_ATTACKS:
        try:
            rows = session.sql(sql).to_dicts()
        except DapError as e:
            assert not leaks(e.message, no_grant=USERS[user]), (sql, e.message)
            continue
        answered += 1
        assert not leaks(rows, no_grant=USERS[user]), (sql, leaks(rows))
    if not USERS[user]:  # the suite must also exercise statements that are answered
        assert answered > 10


def test_ann_still_gets_her_own_rows_through_shadowing_ctes(governed: Workspace) -> None:
    """Not everything is refused: a CTE over the table gives exactly the governed rows."""
    ann = governed.session(Principal("ann", source="test"))
    direct = ann.sql("SELECT customer_id, email FROM customers ORDER BY 1")
    shadow = ann.sql(
        "WITH customers AS (SELECT * FROM customers) SELECT customer_id, email "
        "FROM customers ORDER BY 1"
    )
    assert direct.equals(shadow) and direct.height > 0
    assert set(ann.sql("SELECT DISTINCT region FROM customers")["region"]) == {"EMEA"}


@pytest.mark.parametrize("sql", ERROR_ATTACKS)
def test_error_messages_carry_no_hidden_value(governed: Workspace, sql: str) -> None:
    ann = governed.session(Principal("ann", source="test"))
    try:
        rows = ann.sql(sql).to_dicts()
    except DapError as e:
        assert not leaks(e.message), e.message
        assert "@" not in e.message and "Customer" not in e.message, e.message
        return
    assert not leaks(rows)


def _governed_statements(ws: Workspace) -> list[str]:
    """Attack statements that read at least one catalog table (the checker's own view)."""
    known = ws.catalog.resolver()
    out = []
    for sql in [*NAME_ATTACKS, *ATTACKS]:
        try:
            if rewrite.prepare(sql, known=known).tables:
                out.append(sql)
        except DapError:
            continue
    return out


def test_fail_closed_without_the_secure_step(
    governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secure step (and its own final check) replaced by a no-op: the engine cannot
    resolve any name the user wrote to raw rows, so every governed statement is an error."""
    statements = _governed_statements(governed)
    assert len(statements) >= 60
    monkeypatch.setattr(statement, "secure_tables", lambda tree, *args, **kwargs: tree)
    monkeypatch.setattr(rewrite, "_PREPARED", type(rewrite._PREPARED)())  # no cached rewrite
    for user in ("ann", "tester"):  # tester: an admin, who sees every table as stored
        session = governed.session(Principal(user, source="test"))
        for sql in statements:
            with pytest.raises(DapError) as info:
                session.sql(sql)
            assert governed.engine.names.token not in info.value.message  # it stays private


def test_unsecured_reference_is_refused_before_the_engine(governed: Workspace) -> None:
    """The second, independent check: a name the secure step did not write is refused."""
    from sqlglot import parse_one

    from dap_kernel.governance.enforce import refuse_unsecured

    names = governed.engine.names
    for sql in ("SELECT * FROM main.customers", "SELECT * FROM duckdb_tables"):
        with pytest.raises(DapError, match="not a secured catalog table"):
            refuse_unsecured(parse_one(sql, read="duckdb"), names)
    refuse_unsecured(
        parse_one(f'SELECT * FROM "{names.schema("main")}".customers', read="duckdb"), names
    )


def test_did_you_mean_names_only_readable_tables(governed: Workspace) -> None:
    bob = governed.session(Principal("bob", source="test"))
    with pytest.raises(DapError) as info:
        bob.sql("SELECT * FROM customer")
    assert "customers" not in info.value.message
    ann = governed.session(Principal("ann", source="test"))
    with pytest.raises(DapError, match="did you mean customers"):
        ann.sql("SELECT * FROM customer")


def test_create_if_not_exists_is_checked_like_create(governed: Workspace) -> None:
    """Without CREATE, IF NOT EXISTS must neither succeed silently nor tell what exists."""
    ann = governed.session(Principal("ann", source="test"))
    answers = []
    for target in ("main.customers", "main.no_such_table"):
        with pytest.raises(DapError) as info:
            ann.sql(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT 1 AS x")
        answers.append(info.value.message.replace(target, "T"))
    assert answers[0] == answers[1] and "may not CREATE" in answers[0]


def test_hash_masks_are_keyed_per_workspace(governed: Workspace, tmp_path: Path) -> None:
    """A hash mask is HMAC-SHA256 with the workspace's key: not a dictionary-reversible sha256,
    and the same value hashes alike across sessions of one workspace."""
    import hashlib
    import hmac

    governed.admin().set_mask("main.customers.region", "hash")
    ann = governed.session(Principal("ann", source="test"))
    hashed = set(ann.sql("SELECT DISTINCT region FROM customers")["region"])
    assert len(hashed) == 1
    (value,) = hashed
    assert value != hashlib.sha256(b"EMEA").hexdigest()
    assert value == ann.sql("SELECT region FROM customers LIMIT 1").item()
    key = bytes.fromhex(governed.secrets.get("dap-internal:mask-key"))
    assert value == hmac.new(key, b"EMEA", hashlib.sha256).hexdigest()
    shown = ann.query("SELECT region FROM customers").sql  # what a caller may see of the SQL
    assert governed.mask_key.inner not in shown and governed.mask_key.outer not in shown
    assert governed.engine.names.token not in shown and "customers" in shown
    other = Workspace(Settings(home=tmp_path / "other-home", user="tester"))
    try:
        assert other.mask_key != governed.mask_key  # another workspace, another key
    finally:
        other.close()


def test_a_wrong_secret_key_fails_hash_masks_and_keeps_the_mask_key(tmp_path: Path) -> None:
    """With a secret key that does not open the store, a hash-masked query fails closed: the
    stored mask key is never replaced by a new one (that silently changed every hash)."""
    import dataclasses

    from cryptography.fernet import Fernet

    settings = Settings(home=tmp_path / "home", user="tester")
    first = Workspace(settings)
    try:
        key = first.mask_key
        stored = first.secrets.names()
    finally:
        first.close()
    wrong = Workspace(dataclasses.replace(settings, secret_key=Fernet.generate_key().decode()))
    try:
        with pytest.raises(DapError, match="cannot decrypt secret 'dap-internal:mask-key'"):
            _ = wrong.mask_key
        assert wrong.secrets.names() == stored
    finally:
        wrong.close()
    again = Workspace(settings)
    try:
        assert again.mask_key == key  # the right key still opens the same mask key
    finally:
        again.close()


def test_a_python_caller_cannot_raise_the_timeout_past_the_maximum(tmp_path: Path) -> None:
    """The same clamp as REST: timeout_s lowers the limit, never lifts it."""
    settings = Settings(
        home=tmp_path / "t", user="tester", query_timeout_s=0.2, max_query_timeout_s=0.2
    )
    ws = Workspace(settings)
    try:
        runaway = "SELECT count(*) FROM range(100000000000) a"
        with pytest.raises(DapError, match="longer than 0.2 s"):
            ws.session().query(runaway, timeout_s=3600)
    finally:
        ws.close()
