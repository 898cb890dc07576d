"""The admin CLI in multi-user mode, run as different users (DAP_USER)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def dap(*args: str, home: Path, user: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": user})
    exe = str(Path(sys.executable).parent / "dap")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("gov-cli")
    steps = [
        ["demo", "--scale", "0.01"],
        ["init", "--multi-user"],
        ["user", "add", "ann", "--attr", "region=EMEA"],
        ["role", "add-member", "analyst", "--user", "ann"],
        ["policy", "row-filter", "main.customers", "region = current_user_attr('region')"],
        ["policy", "mask", "tag:pii", "redact"],
        ["grant", "SELECT", "main.products", "--user", "bob"],
    ]
    for step in steps:
        result = dap(*step, home=home, user="boss")
        assert result.returncode == 0, (step, result.stderr)
    return home


def test_analyst_sees_only_her_region_masked(home: Path) -> None:
    result = dap(
        "sql", "SELECT DISTINCT region, name FROM customers", "-f", "csv", home=home, user="ann"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["region,name", "EMEA,***"]


def test_user_without_grant_is_refused_in_one_line(home: Path) -> None:
    result = dap("sql", "SELECT count(*) FROM orders", home=home, user="bob")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: bob may not SELECT main.orders: no grant"
    ok = dap("sql", "SELECT count(*) AS n FROM products", "-f", "csv", home=home, user="bob")
    assert ok.returncode == 0 and ok.stdout.startswith("n\n")


def test_access_check(home: Path) -> None:
    assert (
        dap(
            "access", "check", "SELECT", "main.orders", "--user", "ann", home=home, user="boss"
        ).returncode
        == 0
    )
    denied = dap(
        "access", "check", "SELECT", "main.orders", "--user", "bob", home=home, user="boss"
    )
    assert denied.returncode == 1 and "no grant" in denied.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "--user", "boss"],  # her own records she may read (test_cli_rules.py)
        ["audit", "verify"],
        ["grant", "SELECT", "*", "--user", "ann"],
        ["policy", "mask", "main.orders.status", "redact"],
        ["user", "add", "eve"],
    ],
)
def test_non_admins_cannot_administer(home: Path, command: list[str]) -> None:
    result = dap(*command, home=home, user="ann")
    assert result.returncode == 1
    assert "ann may not administer DAP" in result.stderr


def test_admin_reads_the_audit_log_and_it_verifies(home: Path) -> None:
    listing = dap("audit", "--limit", "50", home=home, user="boss")
    assert listing.returncode == 0 and "ann" in listing.stdout
    assert dap("audit", "verify", home=home, user="boss").returncode == 0


@pytest.mark.parametrize(
    "command", ["user", "group", "role", "grant", "revoke", "policy", "access"]
)
def test_help(command: str, tmp_path: Path) -> None:
    result = dap(command, "--help", home=tmp_path, user="x")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_registering_needs_create(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n")
    denied = dap("catalog", "register", "x", str(csv), home=home, user="ann")
    assert denied.returncode == 1 and "ann may not CREATE main" in denied.stderr
    assert dap("catalog", "register", "x", str(csv), home=home, user="boss").returncode == 0
