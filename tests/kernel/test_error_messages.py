"""What a user is told when a statement fails: one line in DAP's words.

Never the engine's or the parser's internals (``Binder Error:``, ``Values list``, sqlglot class
names, ``LINE 1:`` carets, the engine's private schema names), and a did-you-mean that names
only columns the caller may see. Under a row filter or masks the governed rule still holds: a
runtime error tells only its kind. And Ctrl-C stops a running ``dap.sql`` query.
"""

from __future__ import annotations

import re
import signal
import threading
from typing import Any

import pytest

from dap_kernel.engine_errors import engine_error, with_suggestion
from dap_kernel.errors import DapError, QueryCancelled, QueryFailed, SqlSyntaxError
from dap_kernel.governance.enforce import governed_message
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace
from tests.attacks import ERROR_ATTACKS, NAME_ATTACKS

JOIN = "FROM customers c JOIN orders o ON c.customer_id = o.customer_id"

# Bad statement -> exactly what the (ungoverned) caller is told.
MESSAGES = [
    (
        "SELECT * FROM customers c JOIN orders o ON c.id = o.id",
        "column c.id does not exist in customers; did you mean customer_id?",
    ),
    (
        "SELECT regin FROM customers",
        "column regin does not exist in customers; did you mean region?",
    ),
    (
        "SELECT c.nme FROM customers c",
        "column c.nme does not exist in customers; did you mean name?",
    ),
    (
        "SELECT regin FROM main.customers",
        "column regin does not exist in customers; did you mean region?",
    ),
    ("SELECT * FROM customers ORDER BY nope", "column nope does not exist in customers"),
    (
        "SELECT * FROM customers WHERE customer_id IN (SELECT regn FROM orders)",
        "column regn does not exist in customers or orders; did you mean region?",
    ),
    ("SELECT c.region FROM customers", "c is not a table or alias in the FROM clause"),
    (
        f"SELECT customer_id {JOIN}",
        "column customer_id is ambiguous: write c.customer_id or o.customer_id",
    ),
    (
        "SELECT region, count(*) FROM customers",
        "column region must appear in the GROUP BY clause or must be part of an aggregate function",
    ),
    ("SELECT 1 +* 2", "SQL syntax error at line 1, column 13 near '2': unexpected text"),
    (
        "SELECT * FROM",
        "SQL syntax error at line 1, column 10 near 'FROM': Expected table name but the "
        "statement ends",
    ),
    ("SELECT sum( FROM t", "SQL syntax error at line 1, column 18 near 't': expected )"),
    (
        "SELECT FROM t WHERE",
        "SQL syntax error at line 1, column 15 near 'WHERE': WHERE needs a condition",
    ),
    (
        "SELECT 1\nFROM customers\nWHERE",
        "SQL syntax error at line 3, column 1 near 'WHERE': WHERE needs a condition",
    ),
    (
        "SELECT * FROM t WHERE a =",
        "SQL syntax error at line 1, column 25 near '=': an operator is missing a value",
    ),
    (
        "SELECT a FROM t ORDER BY",
        "SQL syntax error at line 1, column 17 near 'ORDER BY': ORDER BY needs at least one "
        "expression",
    ),
    ("", "SQL syntax error: the statement is empty"),
    ("SELEC 1", "SQL syntax error at line 1, column 7 near '1': unexpected text"),
    ("SELECT 'abc", 'SQL syntax error at line 1, column 8 near "\'abc": a quote is not closed'),
    ("SELECT CAST('x' AS INT)", "could not convert string 'x' to INT32"),
    ("SELECT 2147483647::int + 1", "overflow in addition of INT32 (2147483647 + 1)"),
    ("SELECT error('boom')", "invalid input: boom"),
    (
        "SELECT 1 // 0",
        "invalid input: division by zero in expression (1 // 0). Use TRY(...) to return NULL "
        "for this expression",
    ),
    ("SELECT CAST(1 AS nosuchtype)", "type with name nosuchtype does not exist"),
    (
        "SELECT 'a' + 1",
        "+ does not take arguments of types (STRING, INTEGER): add casts",
    ),
]

_INTERNALS = re.compile(
    r"sqlglot|<class|<Token|Values list|LINE \d|Traceback|#[0-9a-f]{8,}|"
    r"\b(?:Binder|Parser|Catalog|Conversion|Invalid Input|Out of Range|Syntax) Error"
)


def internals(message: str) -> str:
    """What in ``message`` is the engine's or the parser's, not DAP's ("" when clean)."""
    found = _INTERNALS.search(message)
    if found:
        return found.group(0)
    return "more than one line" if "\n" in message else ""


def message_of(session: Session, sql: str) -> str | None:
    try:
        session.sql(sql)
    except DapError as e:
        return e.message
    return None


def test_each_bad_statement_gets_its_one_line(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    wrong = [
        (sql, got, want) for sql, want in MESSAGES if (got := message_of(session, sql)) != want
    ]
    assert not wrong


def test_no_message_shows_engine_or_parser_internals(governed: Workspace) -> None:
    """The table above and the attack lists, for the owner and for a governed analyst."""
    statements = [sql for sql, _ in MESSAGES] + NAME_ATTACKS + ERROR_ATTACKS
    failed = 0
    for user in ("tester", "ann"):
        session = governed.session(Principal(user, source="test"))
        for sql in statements:
            message = message_of(session, sql)
            if message is None:
                continue
            failed += 1
            assert not internals(message), (user, sql, message)
            assert "#" in sql or "#" not in message, (user, sql, message)  # a private name
    assert failed > len(MESSAGES)  # the check must see failures to check


def test_syntax_errors_are_syntax_errors(demo_workspace: Workspace) -> None:
    with pytest.raises(SqlSyntaxError, match=r"^SQL syntax error at line 1, column 15 "):
        demo_workspace.session().sql("SELECT FROM t WHERE")


def test_governed_analyst_wrong_column_keeps_the_statement_rule(governed: Workspace) -> None:
    """A wrong column of a filtered, masked table is a statement error: shown, with a
    suggestion among the columns ann may select (a masked column keeps its name)."""
    ann = governed.session(Principal("ann", source="test"))
    assert message_of(ann, "SELECT emial FROM customers") == (
        "column emial does not exist in customers; did you mean email?"
    )
    assert message_of(ann, "SELECT c.regin FROM customers c WHERE c.region = 'EMEA'") == (
        "column c.regin does not exist in customers; did you mean region?"
    )


def test_governed_runtime_error_tells_only_its_kind(governed: Workspace) -> None:
    ann = governed.session(Principal("ann", source="test"))
    message = message_of(ann, "SELECT CAST(email AS INT) FROM customers")
    assert message is not None
    assert message.startswith("a value could not be converted (details hidden")
    assert "@" not in message and "INT32" not in message


def test_only_visible_columns_are_suggested() -> None:
    """The suggestion comes from the caller's view of the table, never from the engine."""
    error = engine_error('Binder Error: Referenced column "secrt" not found in FROM clause!')
    told = with_suggestion(error, "SELECT secrt FROM main.t", lambda: {"main.t": ["a", "b"]})
    assert told.message == "column secrt does not exist in t"
    told = with_suggestion(error, "SELECT secrt FROM main.t", lambda: {"main.t": ["a", "secret"]})
    assert told.message == "column secrt does not exist in t; did you mean secret?"


def test_a_runtime_error_of_unknown_origin_stays_hidden_when_governed() -> None:
    """Only an engine's statement kinds are shown under governance: anything else (another
    engine's error, a new DuckDB kind) tells its summary only."""
    assert governed_message(QueryFailed("value 'EMEA-secret' broke it")).startswith(
        "the query failed (details hidden"
    )
    unknown = engine_error("Frobnicate Error: value 'EMEA-secret' broke it")
    assert not unknown.about_statement
    assert "EMEA-secret" not in governed_message(unknown)
    binder = engine_error('Binder Error: Referenced table "x" not found!')
    assert governed_message(binder) == "x is not a table or alias in the FROM clause"


# -- Ctrl-C ---------------------------------------------------------------------------------

ENDLESS = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range <> b.range"


def _when_running(ws: Workspace, query_id: str, then: threading.Event) -> None:
    while query_id not in ws.engine._running:  # type: ignore[attr-defined]
        if then.wait(0.01):
            return


def _assert_idle_after(ws: Workspace, session: Session) -> None:
    assert not ws.engine._running  # type: ignore[attr-defined]
    assert session.sql("SELECT 42 AS x")["x"].to_list() == [42]


@pytest.mark.timeout(120)
def test_sigint_cancels_a_query_on_the_main_thread(workspace: Workspace) -> None:
    """What a notebook kernel does on interrupt: SIGINT to the thread running ``dap.sql``."""
    session = workspace.session()
    main, stop = threading.main_thread().ident, threading.Event()
    assert main is not None

    def interrupt() -> None:
        _when_running(workspace, "endless-1", stop)
        signal.pthread_kill(main, signal.SIGINT)

    killer = threading.Thread(target=interrupt, daemon=True)
    killer.start()
    try:
        with pytest.raises(QueryCancelled, match="interrupted"):
            session.query(ENDLESS, query_id="endless-1")
    finally:
        stop.set()
        killer.join()
    _assert_idle_after(workspace, session)


def test_only_the_main_thread_waits_on_a_helper_thread(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C reaches the main thread only: queries from other threads (the service's query
    workers, cancelled through ``engine.cancel``) run where they are called, no extra thread."""
    from dap_kernel.engines import duckdb as engine_module

    calls: list[str] = []
    real = engine_module._interruptible

    def recording(work: Any, interrupt: Any) -> Any:
        calls.append(threading.current_thread().name)
        return real(work, interrupt)

    monkeypatch.setattr(engine_module, "_interruptible", recording)
    session = workspace.session()
    assert session.sql("SELECT 1 AS x")["x"].to_list() == [1]
    worker = threading.Thread(target=lambda: session.sql("SELECT 2 AS x"), name="rest-worker")
    worker.start()
    worker.join()
    assert calls == ["MainThread"]
