"""The CLI and REST give the same allow/deny for audit reads and for API keys of others: both
ask the same core rule (dap_kernel.governance.audit.read_audit, apikeys.KeyAdmin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from dap_kernel.cli import app
from dap_kernel.session import Workspace, reset_default_workspace
from tests.server.conftest import Api

USERS = ("tester", "ann", "bob")  # an admin, an analyst, someone without any grant

Cli = Callable[..., Result]


@pytest.fixture
def cli(governed: Workspace, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`dap …` in-process as ``user`` on the server's own DAP home."""
    runner = CliRunner()
    monkeypatch.setenv("DAP_HOME", str(governed.settings.home))

    def run(*args: str, user: str) -> Result:
        monkeypatch.setenv("DAP_USER", user)
        reset_default_workspace()
        try:
            return runner.invoke(app, list(args))
        finally:
            reset_default_workspace()

    return run


async def _answers(api: Api, cli: Cli, governed: Workspace) -> list[tuple[str, str, bool, bool]]:
    """(case, user, CLI allowed, REST allowed) for every case and user."""
    for user in ("ann", "raj"):
        assert (await api("POST", "query", as_=user, body={"sql": "SELECT 1 AS x"})).status == 200
    found = []
    for user in USERS:
        raj_keys = [governed.apikeys.create("raj", f"raj-{user}-{i}")[0].key_id for i in (1, 2)]
        cases: dict[str, tuple[list[str], tuple[str, str, Any, dict[str, str] | None]]] = {
            "audit: own": (["audit"], ("GET", "audit", None, None)),
            "audit: own, named": (
                ["audit", "--user", user],
                ("GET", "audit", None, {"user": user}),
            ),
            "audit: raj's": (
                ["audit", "--user", "raj"],
                ("GET", "audit", None, {"user": "raj"}),
            ),
            "audit: verify": (["audit", "verify"], ("GET", "audit", None, {"verify": "true"})),
            "key: own": (
                ["apikey", "create", "--name", "cli"],
                ("POST", "apikeys", {"name": "rest"}, None),
            ),
            "key: for raj": (
                ["apikey", "create", "--name", "cli", "--user", "raj"],
                ("POST", "apikeys", {"name": "rest", "user": "raj"}, None),
            ),
            "key: revoke raj's": (
                ["apikey", "revoke", raj_keys[0]],
                ("DELETE", f"apikeys/{raj_keys[1]}", None, None),
            ),
        }
        for case, (argv, (method, path, body, params)) in cases.items():
            by_cli = cli(*argv, user=user)
            by_rest = await api(method, path, as_=user, body=body, params=params)
            found.append((case, user, by_cli.exit_code == 0, by_rest.status < 400))
    return found


async def test_cli_and_rest_agree_on_who_may(api: Api, cli: Cli, governed: Workspace) -> None:
    answers = await _answers(api, cli, governed)
    disagree = [(case, user, c, r) for case, user, c, r in answers if c != r]
    assert not disagree, disagree
    allowed = {(case, user) for case, user, c, _ in answers if c}
    everyone = {"audit: own", "audit: own, named", "key: own"}
    managers_only = {"audit: raj's", "audit: verify", "key: for raj", "key: revoke raj's"}
    assert allowed == {(c, u) for c in everyone for u in USERS} | {
        (c, "tester") for c in managers_only
    }


async def test_own_audit_records_are_the_same_through_both_doors(
    api: Api, cli: Cli, governed: Workspace
) -> None:
    for user in ("ann", "raj"):
        assert (await api("POST", "query", as_=user, body={"sql": "SELECT 7 AS x"})).status == 200
    rest = await api("GET", "audit", as_="ann", params={"limit": "100"})
    assert {r["user"] for r in rest.body["records"]} == {"ann"}
    listing = cli("audit", "--limit", "100", user="ann")
    assert listing.exit_code == 0, listing.output
    assert "ann" in listing.stdout and "raj" not in listing.stdout
    assert listing.stdout.count("SELECT 7 AS x") == 1
