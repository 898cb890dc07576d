"""The governance attack suite on chDB and Spark: DuckDB's outcome, or a refusal; never raw rows.

Governance is engine-independent (the same checked, secured statement, transpiled): what is
refused on DuckDB is refused on every engine with the same words, and what is answered gives
the same governed rows. Every engine holds raw relations only under private names, so a rewrite
that left a reference alone fails there as it does on DuckDB.
"""

from __future__ import annotations

import pytest

from dap_kernel.errors import DapError, QueryFailed, QueryRefused
from dap_kernel.governance import rewrite, statement
from dap_kernel.session import Workspace
from tests.attacks import ERROR_ATTACKS, NAME_ATTACKS, leaks
from tests.kernel.test_governance import ATTACKS

from .conftest import OTHER_ENGINES, as_user, outcome, same_rows

STATEMENTS = [*NAME_ATTACKS, *ATTACKS, *ERROR_ATTACKS]
USERS = {"ann": False, "bob": True}  # name -> has no grant


@pytest.mark.parametrize("engine", OTHER_ENGINES)
@pytest.mark.parametrize("user", sorted(USERS))
def test_attacks_give_duckdbs_outcome(engines_ws: Workspace, user: str, engine: str) -> None:
    session = as_user(engines_ws, user)
    answered = engine_only = 0
    for sql in STATEMENTS:
        duck = outcome(session, sql, "duckdb", loose=True)
        ch = outcome(session, sql, engine, loose=True)
        if ch[0] == "rows":
            assert not leaks(ch[1], no_grant=USERS[user]), (sql, leaks(ch[1]))
        else:
            assert not leaks(ch[1].message, no_grant=USERS[user]), (sql, ch[1].message)
        if duck[0] == "error" and isinstance(duck[1], QueryRefused):
            # Refused by governance, before any engine: the same refusal on both.
            assert ch[0] == "error" and ch[1].message == duck[1].message, (sql, ch)
        elif duck[0] == "rows" and ch[0] == "rows":
            answered += 1
            assert same_rows(duck[1], ch[1]), (sql, duck[1][:2], ch[1][:2])
        elif duck[0] == "rows":
            # DuckDB-only SQL the engine cannot run: an error, never data. Seen here (chdb
            # 4.4): recursive CTEs, PIVOT, SUMMARIZE, DESCRIBE, a row as a struct
            # (to_json(c)), COLUMNS(*), LATERAL, USING SAMPLE, POSITIONAL/ASOF JOIN, and the
            # table functions range()/unnest() (which the engine's own check refuses).
            engine_only += 1
            assert isinstance(ch[1], QueryFailed), (sql, ch[1])
    if not USERS[user]:
        assert answered > 40  # the suite also compares statements that are answered
    assert engine_only <= len(STATEMENTS) // 4, engine_only


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_fail_closed_without_the_secure_step(
    engines_ws: Workspace, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """The secure step replaced by a no-op: every governed statement is an error on every
    engine (raw relations are bound only under private names, and the engine's own check of
    the final SQL refuses any other table), for the analyst and for the admin alike."""
    statements = _governed_statements(engines_ws)
    assert len(statements) >= 60
    monkeypatch.setattr(statement, "secure_tables", lambda tree, *args, **kwargs: tree)
    monkeypatch.setattr(rewrite, "_PREPARED", type(rewrite._PREPARED)())  # no cached rewrite
    token = engines_ws.engine_named(engine).names.token
    for user in ("ann", "tester"):
        session = as_user(engines_ws, user)
        for sql in statements:
            with pytest.raises(DapError) as info:
                session.query(sql, engine=engine)
            assert token not in info.value.message  # it stays private


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
