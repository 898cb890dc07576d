"""The %dap magics in a real IPython shell whose failing cells fail the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace


@pytest.fixture
def shell(demo_workspace: Workspace) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    magics = DapMagics(shell=ip, session_factory=demo_workspace.session)
    ip.register_magics(magics)
    ip.user_ns.clear()
    yield ip
    InteractiveShell.clear_instance()


def run(shell: InteractiveShell, line: str, cell: str | None = None) -> Any:
    if cell is None:
        return shell.run_line_magic("dap", line)
    return shell.run_cell_magic("dap", line, cell)


def test_load_ext_registers_the_magics() -> None:
    ip = InteractiveShell.instance()
    try:
        result = ip.run_cell("%load_ext dap_kernel")
        assert result.success
        assert "dap" in ip.magics_manager.magics["line"]
        assert "dap" in ip.magics_manager.magics["cell"]
        assert any(isinstance(c, DapMagics) for c in ip.configurables)
    finally:
        InteractiveShell.clear_instance()


def test_cell_magic_returns_polars_and_binds_python_variables(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["region"] = "EMEA"
    frame = run(shell, "sql", "SELECT count(*) AS n FROM customers WHERE region = :region")
    assert isinstance(frame, pl.DataFrame)
    expected = run(shell, "sql SELECT count(*) AS n FROM customers WHERE region = 'EMEA'")
    assert frame["n"][0] == expected["n"][0] > 0
    assert "1 row in" in capsys.readouterr().out


def test_dollar_parameter_and_hostile_value_stay_values(shell: InteractiveShell) -> None:
    shell.user_ns["r"] = "x' OR '1'='1"
    assert run(shell, "sql", "SELECT count(*) AS n FROM customers WHERE region = $r")["n"][0] == 0


def test_name_and_limit_options(shell: InteractiveShell) -> None:
    assert run(shell, "sql --name top --limit 3", "SELECT * FROM orders ORDER BY order_id") is None
    top = shell.user_ns["top"]
    assert isinstance(top, pl.DataFrame)
    assert top["order_id"].to_list() == [1, 2, 3]
    line = run(shell, "sql --limit 2 SELECT * FROM orders")
    assert line.height == 2


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("sql", "SELECT * FROM custmers", "did you mean customers"),
        ("sql", "SELECT * FRO orders", "SQL syntax error at line 1, column 14"),
        ("sql", "SELECT * FROM orders WHERE status = :nope", "no Python variable named nope"),
        ("sql", "SELECT * FROM read_csv('/etc/passwd')", "not allowed"),
        ("sql", "   ", "no SQL given"),
        ("sqll", None, "did you mean %dap sql"),
        ("describe", None, "name a table"),
    ],
)
def test_mistakes_are_one_line_usage_errors(
    shell: InteractiveShell, line: str, cell: str | None, message: str
) -> None:
    with pytest.raises(UsageError) as info:
        run(shell, line, cell)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_catalog_describe_whoami_and_help(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(shell, "catalog")["table"].to_list() == [
        "main.customers",
        "main.experiment_exposures",
        "main.order_lines",
        "main.orders",
        "main.products",
        "main.web_events",
    ]
    assert run(shell, "catalog pii")["table"].to_list() == ["main.customers"]
    described = run(shell, "describe customers")
    assert "email" in described["column"].to_list()
    assert run(shell, "whoami")["user"] == "tester"
    run(shell, "help")
    assert "%%dap sql" in capsys.readouterr().out


def test_ctrl_c_cancels_a_long_query(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt while waiting cancels the engine query and reports it."""
    import threading
    from concurrent.futures import Future

    magics = next(m for m in shell.magics_manager.registry.values() if isinstance(m, DapMagics))
    session = magics.session
    cancelled = threading.Event()
    original_cancel = session.cancel

    def cancel(query_id: str) -> bool:
        cancelled.set()
        return original_cancel(query_id)

    monkeypatch.setattr(session, "cancel", cancel)
    monkeypatch.setattr(magics, "_session_factory", lambda: session)
    calls = {"n": 0}
    real_result = Future.result

    def result(self: Future[Any], timeout: float | None = None) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the user presses Ctrl-C while the query runs
            raise KeyboardInterrupt
        return real_result(self, timeout)

    monkeypatch.setattr(Future, "result", result)
    with pytest.raises(UsageError, match="query cancelled"):
        run(
            shell,
            "sql",
            "SELECT count(*) FROM range(100000000000) a, range(10) b WHERE a.range % 7 = b.range",
        )
    assert cancelled.is_set()
    monkeypatch.undo()
    # The worker is free again: the next query runs.
    assert run(shell, "sql SELECT 1 AS one")["one"][0] == 1


def test_as_of_and_writes_from_a_cell(shell: InteractiveShell, demo_workspace: Workspace) -> None:
    run(shell, "sql", "CREATE TABLE picked AS SELECT customer_id FROM customers LIMIT 3")
    run(shell, "sql", "INSERT INTO picked SELECT customer_id FROM customers LIMIT 2")
    assert run(shell, "sql", "SELECT count(*) AS n FROM picked")["n"].item() == 5
    assert run(shell, "sql --as-of 0", "SELECT count(*) AS n FROM picked")["n"].item() == 3
    assert run(shell, "sql --as-of 0 SELECT count(*) AS n FROM picked")["n"].item() == 3


def test_a_bare_cell_magic_has_the_parser_defaults() -> None:
    """``%%dap sql`` with no options skips the parser: its defaults must stay the same."""
    from dap_kernel.magics import _sql_parser

    assert vars(_sql_parser().parse_args([])) == {
        "name": None,
        "limit": None,
        "as_of": None,
        "engine": None,
        "query": [],
    }


def test_a_trailing_comment_is_not_an_argument(shell: InteractiveShell) -> None:
    assert run(shell, "describe customers  # the shop's customers")["column"].to_list()
    assert run(shell, "catalog pii # tagged tables")["table"].to_list() == ["main.customers"]
    frame = run(shell, "sql SELECT '# kept' AS a, 1 AS b  # dropped")
    assert frame.to_dicts() == [{"a": "# kept", "b": 1}]
    assert run(shell, "sql --limit 1  # one row", "SELECT * FROM main.orders").height == 1


@pytest.mark.parametrize(
    ("line", "stripped"),
    [
        ("describe t # why", "describe t"),
        ("# only a comment", ""),
        ("sql SELECT '#' AS h # c", "sql SELECT '#' AS h"),
        ('sql SELECT "a # b" # c', 'sql SELECT "a # b"'),
        ("catalog tag#1", "catalog tag#1"),
    ],
)
def test_strip_comment(line: str, stripped: str) -> None:
    from dap_kernel.magics import strip_comment

    assert strip_comment(line) == stripped
