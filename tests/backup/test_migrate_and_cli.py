"""A backup of an older metadata revision is migrated on restore; the CLI doors and their
one-line refusals."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dap_kernel.backup import BackupRefused, restore
from dap_kernel.backup.files import sha256_file
from dap_kernel.backup.metadata import _alembic
from dap_kernel.cli import app
from dap_kernel.meta import MetaStore
from dap_kernel.meta.store import MIGRATIONS_DIR
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Home, answers

HEAD = sorted(p.name[:4] for p in MIGRATIONS_DIR.joinpath("versions").glob("0*.py"))[-1]


def _rehash(root: Path, rel: str, **metadata: str) -> None:
    """What an older DAP's backup looks like: its file, its hash, its revision."""
    manifest = json.loads((root / "manifest.json").read_text())
    size, sha = sha256_file(root / rel)
    manifest["files"][rel] = {"size": size, "sha256": sha}
    manifest["metadata"].update(metadata)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_an_older_revision_is_migrated_on_restore(source: Home, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["backup", str(tmp_path / "backup")], catch_exceptions=False)
    assert result.exit_code == 0 and f"metadata revision {HEAD}" in result.output
    db = tmp_path / "backup" / "metadata" / "meta.db"
    meta = MetaStore(f"sqlite:///{db}")
    with meta.engine.begin() as con:
        _alembic_downgrade(con, "0010")
    meta.dispose()
    assert "gdpr_subject_keys" not in _tables(db)
    _rehash(tmp_path / "backup", "metadata/meta.db", revision="0010")

    settings = Settings(home=tmp_path / "restored", user="tester")
    done = restore(tmp_path / "backup", settings, key_file=source.path / "secrets.key")
    assert (done.revision_from, done.revision_to) == ("0010", HEAD)
    assert "gdpr_subject_keys" in _tables(tmp_path / "restored" / "meta.db")
    new = Workspace(settings)
    try:
        assert answers(new) == source.before
    finally:
        new.close()


def _alembic_downgrade(con: object, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from dap_kernel.meta.store import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = con
    command.downgrade(config, revision)


def _tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def test_a_backup_from_a_newer_dap_is_refused(source: Home, tmp_path: Path) -> None:
    from dap_kernel.backup import backup

    backup(source.ws.session(), tmp_path / "backup")
    _rehash(tmp_path / "backup", "metadata/meta.db", revision="9999")
    with pytest.raises(BackupRefused, match="made by a newer DAP"):
        restore(tmp_path / "backup", Settings(home=tmp_path / "restored", user="tester"))
    assert not (tmp_path / "restored").exists()
    assert _alembic  # the helper restore uses to stop at a backup's revision


def test_the_cli_backs_up_restores_and_refuses_in_one_line(
    source: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["backup", str(tmp_path / "backup")], catch_exceptions=False)
    assert out.exit_code == 0
    assert "manifest sha256" in out.output and "their key is NOT" in out.output
    monkeypatch.setenv("DAP_HOME", str(tmp_path / "restored"))
    key = str(source.path / "secrets.key")
    out = runner.invoke(app, ["restore", str(tmp_path / "backup"), "--key-file", key])
    assert out.exit_code == 0, out.output
    assert "restored" in out.output and f"{HEAD} -> {HEAD}" in out.output
    # a second restore into the now non-empty home: refused, the home untouched
    again = runner.invoke(app, ["restore", str(tmp_path / "backup"), "--key-file", key])
    assert isinstance(again.exception, BackupRefused) and "not empty" in str(again.exception)
    assert "\n" not in str(again.exception)


def test_a_manifest_rewritten_to_match_altered_files_is_caught_by_the_offsite_sum(
    source: Home, tmp_path: Path
) -> None:
    from dap_kernel.backup import backup

    result = backup(source.ws.session(), tmp_path / "backup")
    parquet = next((tmp_path / "backup").rglob("*.parquet"))
    parquet.write_bytes(parquet.read_bytes() + b"\0")
    _rehash(tmp_path / "backup", parquet.relative_to(tmp_path / "backup").as_posix())
    target = Settings(home=tmp_path / "restored", user="tester")
    key = source.path / "secrets.key"
    with pytest.raises(BackupRefused, match="manifest's sha256 is not the one given"):
        restore(tmp_path / "backup", target, key_file=key, manifest_sha256=result.manifest_sha256)
    assert not (tmp_path / "restored").exists()


def test_dap_restore_says_why_in_one_line_and_exits_1(source: Home, tmp_path: Path) -> None:
    from dap_kernel.backup import backup

    backup(source.ws.session(), tmp_path / "backup")
    (tmp_path / "backup" / "manifest.json").unlink()
    env = {**os.environ, "DAP_HOME": str(tmp_path / "restored")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dap_kernel.cli import main; main()",
            "restore",
            str(tmp_path / "backup"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'backup'} is not a complete backup: it has no manifest.json"
    ]
    assert not (tmp_path / "restored").exists()
