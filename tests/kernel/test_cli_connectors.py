"""`dap connector …`: in-process through typer's CliRunner, plus one real subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dap_kernel.cli import app
from dap_kernel.errors import DapError
from dap_kernel.session import reset_default_workspace

PASSWORD = "Hunter2-very-secret"

Dap = Callable[..., Result]


@pytest.fixture
def dap(monkeypatch: pytest.MonkeyPatch) -> Dap:
    """Run one command as a user; the default workspace is reopened so DAP_USER counts."""
    runner = CliRunner()

    def run(*args: str, user: str = "cli-user") -> Result:
        monkeypatch.setenv("DAP_USER", user)
        reset_default_workspace()
        return runner.invoke(app, list(args))

    return run


def _error(result: Result) -> str:
    """The message `dap` would print on stderr (main() turns a DapError into one line)."""
    assert result.exit_code == 1
    assert isinstance(result.exception, DapError), result.output
    return str(result.exception)


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.commit()
    con.close()
    return path


def test_add_list_test_remove(dap: Dap, shop_db: Path) -> None:
    added = dap("connector", "add", "shop", f"sqlite:///{shop_db}", "--description", "Shop")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == f"connector shop saved: sqlite sqlite:///{shop_db}"
    secret_url = f"postgresql://app:{PASSWORD}@127.0.0.1:1/crm"
    assert dap("connector", "add", "crm", secret_url).exit_code == 0

    listed = dap("connector", "list")
    assert listed.exit_code == 0, listed.output
    assert PASSWORD not in listed.output
    assert listed.stdout.splitlines() == [
        "crm\tpostgresql\tpostgresql://app:***@127.0.0.1:1/crm\tcli-user\t",
        f"shop\tsqlite\tsqlite:///{shop_db}\tcli-user\tShop",
    ]

    tested = dap("connector", "test", "shop")
    assert tested.exit_code == 0, tested.output
    assert tested.stdout.startswith("connector shop ok: connected, 1 tables (")
    assert tested.stdout.splitlines()[1:] == ["  orders"]

    message = _error(dap("connector", "test", "crm", "--timeout", "2"))
    assert message.startswith("connector crm failed: ") and PASSWORD not in message

    assert dap("connector", "remove", "crm").stdout.strip() == "removed connector crm"
    assert dap("secrets", "list").stdout == ""
    assert dap("connector", "list").stdout.startswith("shop\t")


def test_errors(dap: Dap, shop_db: Path, tmp_path: Path) -> None:
    assert dap("connector", "add", "shop", f"sqlite:///{shop_db}").exit_code == 0
    cases = [
        (("connector", "add", "shop", f"sqlite:///{shop_db}"), "already exists"),
        (("connector", "add", "Bad-Name", "/data"), "invalid connector name"),
        (("connector", "add", "ftp", f"ftp://u:{PASSWORD}@h/x"), "unsupported connector URL"),
        (("connector", "test", "nope"), "connector 'nope' does not exist"),
        (("connector", "remove", "nope"), "connector 'nope' does not exist"),
    ]
    for args, expected in cases:
        message = _error(dap(*args))
        assert expected in message and PASSWORD not in message, message
    replaced = dap("connector", "add", "shop", str(tmp_path), "--replace")
    assert replaced.stdout.strip() == f"connector shop saved: file {tmp_path}"


def test_relative_folder_becomes_absolute(
    dap: Dap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n")
    monkeypatch.chdir(tmp_path)
    added = dap("connector", "add", "landing", "data")
    assert added.stdout.strip() == f"connector landing saved: file {tmp_path / 'data'}"
    assert dap("connector", "test", "landing").stdout.splitlines()[1:] == ["  x.csv"]


def test_privileges_in_multi_user_mode(dap: Dap, shop_db: Path, tmp_path: Path) -> None:
    steps = [
        ["init", "--multi-user"],
        ["connector", "add", "shop", f"sqlite:///{shop_db}"],
        ["role", "add-member", "analyst", "--user", "ann"],
        ["role", "add-member", "engineer", "--user", "eve"],
    ]
    for step in steps:
        result = dap(*step, user="boss")
        assert result.exit_code == 0, (step, result.output)

    # an analyst may use connectors, not define or remove them
    assert dap("connector", "list", user="ann").exit_code == 0
    assert dap("connector", "test", "shop", user="ann").exit_code == 0
    assert (
        _error(dap("connector", "add", "x", "/data", user="ann"))
        == "ann may not CREATE *: no grant"
    )
    assert "may not CREATE" in _error(dap("connector", "remove", "shop", user="ann"))

    # someone without any grant may not even list them
    assert "may not USE_CONNECTOR" in _error(dap("connector", "list", user="bob"))
    assert "may not USE_CONNECTOR" in _error(dap("connector", "test", "shop", user="bob"))

    # an engineer may define them
    assert dap("connector", "add", "x", str(tmp_path), user="eve").exit_code == 0
    assert dap("connector", "remove", "x", user="eve").exit_code == 0


def test_real_command_fails_in_one_line_without_the_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(tmp_path / "home"), "DAP_USER": "u"})
    exe = str(Path(sys.executable).parent / "dap")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)

    url = f"postgresql://app:{PASSWORD}@127.0.0.1:1/crm"
    assert run("connector", "add", "crm", url).returncode == 0
    dead = run("connector", "test", "crm", "--timeout", "2")
    assert dead.returncode == 1 and dead.stdout == ""
    assert dead.stderr.startswith("error: connector crm failed: ")
    assert len(dead.stderr.splitlines()) == 1 and PASSWORD not in dead.stderr
