"""A backup of an older metadata revision is migrated on restore; the CLI doors and their
one-line refusals."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dap_kernel.backup import BackupRefused, restore
from dap_kernel.backup.files import sha256_file
from dap_kernel.backup.metadata import _alembic
from dap_kernel.cli import app
from dap_kernel.meta import MetaStore
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import Home, answers


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
    assert result.exit_code == 0 and "metadata revision 0011" in result.output
    db = tmp_path / "backup" / "metadata" / "meta.db"
    meta = MetaStore(f"sqlite:///{db}")
    with meta.engine.begin() as con:
        _alembic_downgrade(con, "0010")
    meta.dispose()
    assert "gdpr_subject_keys" not in _tables(db)
    _rehash(tmp_path / "backup", "metadata/meta.db", revision="0010")

    settings = Settings(home=tmp_path / "restored", user="tester")
    done = restore(tmp_path / "backup", settings, key_file=source.path / "secrets.key")
    assert (done.revision_from, done.revision_to) == ("0010", "0011")
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
    assert "restored" in out.output and "0011 -> 0011" in out.output
    # a second restore into the now non-empty home: refused, the home untouched
    again = runner.invoke(app, ["restore", str(tmp_path / "backup"), "--key-file", key])
    assert isinstance(again.exception, BackupRefused) and "not empty" in str(again.exception)
    assert "\n" not in str(again.exception)
