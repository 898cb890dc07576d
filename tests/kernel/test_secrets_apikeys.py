"""Secrets encrypted at rest, database passwords kept out of the catalog, API keys, audit CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text, update

from dap_kernel.errors import DapError
from dap_kernel.governance.apikeys import ApiKeyError
from dap_kernel.governance.secrets import SecretError, SecretStore
from dap_kernel.meta.models import ApiKey
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings


def test_secret_is_encrypted_at_rest_and_key_file_is_private(workspace: Workspace) -> None:
    workspace.secrets.put("warehouse", "postgresql://u:hunter2@db/x")
    with workspace.meta.engine.connect() as con:
        stored = con.execute(text("SELECT ciphertext FROM secrets")).scalar_one()
    assert "hunter2" not in stored
    assert workspace.secrets.get("warehouse") == "postgresql://u:hunter2@db/x"
    key_file = workspace.settings.home / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_rotation_keeps_secrets_readable_and_changes_ciphertext(workspace: Workspace) -> None:
    workspace.secrets.put("a", "one")
    with workspace.meta.engine.connect() as con:
        before = con.execute(text("SELECT ciphertext FROM secrets")).scalar_one()
    assert workspace.secrets.rotate() == 1
    with workspace.meta.engine.connect() as con:
        after = con.execute(text("SELECT ciphertext FROM secrets")).scalar_one()
    assert before != after
    assert workspace.secrets.get("a") == "one"
    assert len((workspace.settings.home / "secrets.key").read_text().split()) == 2


def test_wrong_key_is_a_clear_error(workspace: Workspace) -> None:
    workspace.secrets.put("a", "one")
    other = SecretStore(
        workspace.meta, Path("/nonexistent"), env_keys=Fernet.generate_key().decode()
    )
    with pytest.raises(SecretError, match="key does not match"):
        other.get("a")
    with pytest.raises(SecretError, match="malformed"):
        SecretStore(workspace.meta, Path("/x"), env_keys="not-a-key").get("a")


def test_readable_key_file_is_refused(workspace: Workspace) -> None:
    workspace.secrets.put("a", "one")
    os.chmod(workspace.settings.home / "secrets.key", 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        workspace.secrets.get("a")


@pytest.mark.postgres
def test_database_password_lives_only_in_the_secret_store(
    workspace: Workspace, postgres_server: str, postgres_url: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("CREATE ROLE reader LOGIN PASSWORD 's3cr3t-pw'")
        con.execute("CREATE TABLE t (x int)")
        con.execute("INSERT INTO t VALUES (1), (2)")
        con.execute("GRANT SELECT ON t TO reader")
    url = postgres_url.replace("postgresql://postgres@", "postgresql://reader:s3cr3t-pw@")
    info = workspace.catalog.register_database_table("pg_t", url, "t")
    assert "s3cr3t-pw" not in info.location
    with workspace.meta.engine.connect() as con:
        dumped = " ".join(
            str(v) for row in con.execute(text("SELECT * FROM catalog_tables")) for v in row
        )
    assert "s3cr3t-pw" not in dumped
    assert workspace.session().sql("SELECT sum(x) AS s FROM pg_t")["s"][0] == 3
    workspace.catalog.drop("pg_t")
    assert workspace.secrets.names() == []


def test_api_key_lifecycle(workspace: Workspace) -> None:
    keys = workspace.apikeys
    info, token = keys.create("alice", "dashboards", scopes=["query"])
    assert token.startswith(f"dap_{info.key_id}_")
    assert keys.authenticate(token, scope="query").name == "alice"
    assert keys.list_keys("alice")[0].last_used_at is not None
    with pytest.raises(ApiKeyError, match="scope"):
        keys.authenticate(token, scope="admin")
    with pytest.raises(ApiKeyError, match="invalid API key"):
        keys.authenticate(token[:-2] + "xx")
    with pytest.raises(ApiKeyError, match="invalid API key"):
        keys.authenticate("Bearer nonsense")
    keys.revoke(info.key_id)
    with pytest.raises(ApiKeyError, match="revoked"):
        keys.authenticate(token)
    with workspace.meta.engine.connect() as con:
        stored = con.execute(text("SELECT key_hash FROM api_keys")).scalar_one()
    assert token.split("_", 2)[2] not in stored


def test_expired_key_and_bad_requests(workspace: Workspace) -> None:
    _, token = workspace.apikeys.create("bob", "short", expires_in_days=1)
    with workspace.meta.engine.begin() as con:
        con.execute(update(ApiKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(ApiKeyError, match="expired"):
        workspace.apikeys.authenticate(token)
    assert workspace.apikeys.list_keys()[0].state == "expired"
    with pytest.raises(DapError, match="unknown scope"):
        workspace.apikeys.create("bob", "x", scopes=["root"])


def dap(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "cli-user"})
    exe = str(Path(sys.executable).parent / "dap")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_audit_verify_and_apikeys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert dap("sql", "SELECT 1", home=home).returncode == 0
    assert dap("sql", "SELECT * FROM nowhere", home=home).returncode == 1
    ok = dap("audit", "verify", home=home)
    assert ok.returncode == 0 and "intact" in ok.stdout
    listing = dap("audit", "--limit", "5", home=home)
    assert "refused" in listing.stdout or "failed" in listing.stdout
    created = dap("apikey", "create", "--name", "ci", home=home)
    assert created.returncode == 0 and created.stdout.startswith("dap_")
    key_id = created.stdout.split("_")[1]
    assert key_id in dap("apikey", "list", home=home).stdout
    assert dap("apikey", "revoke", key_id, home=home).returncode == 0
    assert "revoked" in dap("apikey", "list", home=home).stdout
    import sqlite3

    con = sqlite3.connect(home / "meta.db")
    with con:
        con.execute("UPDATE audit_log SET statement = 'SELECT 2' WHERE seq = 1")
    con.close()
    broken = dap("audit", "verify", home=home)
    assert broken.returncode == 1
    assert "chain breaks at record 1" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.parametrize("command", ["audit", "apikey", "secrets"])
def test_help(command: str, tmp_path: Path) -> None:
    result = dap(command, "--help", home=tmp_path)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_a_key_carries_its_own_rate_limit_which_only_a_manager_sets(governed: Workspace) -> None:
    from dap_kernel.errors import QueryRefused
    from dap_kernel.governance.apikeys import KeyAdmin
    from dap_kernel.governance.identity import Principal

    def admin_of(name: str) -> KeyAdmin:
        return KeyAdmin(governed.apikeys, governed.policy, Principal(name), audit=governed.audit)

    with pytest.raises(QueryRefused, match="may not set a key's rate limit"):
        admin_of("ann").create(None, "fast", rate_limit_per_min=100_000)
    _, plain = admin_of("ann").create(None, "plain")  # without one: anyone, as before
    assert governed.apikeys.authenticate(plain).rate_limit_per_min is None
    info, token = admin_of("tester").create("ann", "slow", rate_limit_per_min=60)
    assert info.rate_limit_per_min == 60
    principal = governed.apikeys.authenticate(token)
    assert (principal.name, principal.key_id, principal.rate_limit_per_min) == (
        "ann",
        info.key_id,
        60,
    )
    with pytest.raises(DapError, match="0 \\(no limit\\) or more"):
        governed.apikeys.create("ann", "negative", rate_limit_per_min=-1)


def test_cli_creates_a_key_with_a_rate_limit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = dap("apikey", "create", "--name", "bot", "--rate-limit", "60", home=home)
    assert created.returncode == 0, created.stderr
    assert "60 requests a minute" in created.stderr
    ws = Workspace(Settings(home=home, user="cli-user"))
    try:
        assert ws.apikeys.authenticate(created.stdout.strip()).rate_limit_per_min == 60
    finally:
        ws.close()
    refused = dap("apikey", "create", "--name", "bad", "--rate-limit", "-5", home=home)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
