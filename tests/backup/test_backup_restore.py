"""The proof: a governed home backed up while a table is being appended, restored into a new
home, answers every query exactly as before; a tampered or partial backup, a non-empty home and
a missing key are refused with nothing written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dap_kernel.backup import BackupRefused, backup, restore
from dap_kernel.backup import create as create_module
from dap_kernel.connectors.registry import Connectors
from dap_kernel.dashboards.store import published_notebook
from dap_kernel.errors import QueryRefused
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import CONNECTOR_URL, ROWS_PER_APPEND, Home, answers, as_user, events_frame

EVENTS = "SELECT batch, count(*) AS n, sum(v) AS s FROM events GROUP BY 1 ORDER BY 1"


def _wait(condition: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _restored(tmp_path: Path, source: Home, name: str = "restored") -> Workspace:
    settings = Settings(home=tmp_path / name, user="tester")
    restore(tmp_path / "backup", settings, key_file=source.path / "secrets.key")
    return Workspace(settings)


def test_a_home_backed_up_while_appending_answers_every_query_as_before(
    source: Home, tmp_path: Path
) -> None:
    # given a writer appending ROWS_PER_APPEND rows per commit to main.events, non-stop
    stop, appended, errors = threading.Event(), [], []

    def append() -> None:
        writer = Workspace(source.settings)
        try:
            batch = 4
            while not stop.is_set():
                writer.catalog.write("events", events_frame(batch), "append")
                appended.append(batch)
                batch += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            writer.close()

    thread = threading.Thread(target=append, daemon=True)
    thread.start()
    _wait(lambda: len(appended) >= 2)
    # when the home is backed up meanwhile
    result = backup(source.ws.session(), tmp_path / "backup")
    during = len(appended)
    _wait(lambda: len(appended) >= during + 2)
    stop.set()
    thread.join(60)
    assert not errors
    events = next(t for t in result.manifest.tables if t["table"] == "main.events")
    final = source.ws.lake.version("main", "events")
    assert 3 + 2 <= events["version"] < final  # mid-stream: appends before and after it

    # then the restored home answers the fixed queries exactly as the source did
    new = _restored(tmp_path, source)
    try:
        assert answers(new) == source.before
        # ... and main.events is whole at the version its catalog row names: no partial append
        version = events["version"]
        info = new.catalog.get("events")
        assert info.version == version == new.lake.version("main", "events")
        restored = new.session().sql(EVENTS)
        assert restored["batch"].to_list() == list(range(version + 1))
        assert set(restored["n"].to_list()) == {ROWS_PER_APPEND}
        assert info.row_count == ROWS_PER_APPEND * (version + 1)
        assert restored.equals(source.ws.session().sql(EVENTS, as_of=version))
        # the secret opens with the key kept apart; the dashboard is served as published
        assert Connectors(new.meta, new.secrets).url("crm") == CONNECTOR_URL
        info_nb, data = published_notebook(as_user(new, "ann"), "sales")
        assert info_nb.name == "sales" and data
        # the audit chain came across whole, and says who backed up and restored
        assert new.audit.verify() is None
        (record,) = new.audit.tail(action="restore")
        assert record.decision == "allowed" and "main.events" in record.tables
    finally:
        new.close()
    assert [r.decision for r in source.ws.audit.tail(action="backup")] == ["allowed"]


def test_a_commit_between_the_metadata_and_the_lake_copy_is_left_out(
    source: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministically: version 4 is committed (and catalogued) after the metadata snapshot
    fixed version 3, before the lake is copied — the backup holds version 3, all of it."""
    dump = create_module.dump_metadata

    def dump_then_append(meta, root):  # type: ignore[no-untyped-def]
        snap = dump(meta, root)
        source.ws.catalog.write("events", events_frame(4), "append")
        return snap

    monkeypatch.setattr(create_module, "dump_metadata", dump_then_append)
    result = backup(source.ws.session(), tmp_path / "backup")
    events = next(t for t in result.manifest.tables if t["table"] == "main.events")
    assert (events["version"], events["latest"]) == (3, 4)
    monkeypatch.undo()
    new = _restored(tmp_path, source)
    try:
        assert new.lake.version("main", "events") == new.catalog.get("events").version == 3
        assert new.session().sql("SELECT count(*) FROM events").item() == 4 * ROWS_PER_APPEND
        assert answers(new) == source.before
    finally:
        new.close()


def test_the_backup_is_owner_only_and_holds_the_secrets_encrypted_without_the_key(
    source: Home, tmp_path: Path
) -> None:
    result = backup(source.ws.session(), tmp_path / "backup")
    root = result.path
    for folder, _dirs, names in os.walk(root):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
        for name in names:
            assert stat.S_IMODE(os.stat(Path(folder) / name).st_mode) == 0o600, name
    assert not list(root.rglob("secrets.key"))
    assert result.manifest.secrets["count"] >= 2  # the connector's password, the mask key
    assert result.manifest.secrets["key_included"] is False

    def ciphertexts(db: Path) -> list[tuple[str, str]]:
        con = sqlite3.connect(db)
        try:
            return sorted(con.execute("SELECT name, ciphertext FROM secrets").fetchall())
        finally:
            con.close()

    assert ciphertexts(root / "metadata/meta.db") == ciphertexts(source.path / "meta.db")
    data = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    assert b"s3cret-Pa55" not in data
    m = result.manifest
    assert (
        m.metadata["revision"] and m.dap_version and m.metadata["method"] == "sqlite-online-backup"
    )
    assert {t["table"] for t in m.tables} >= {"main.customers", "main.events", "main.orders"}
    assert all(len(f["sha256"]) == 64 and f["size"] >= 0 for f in m.files.values())


def test_only_an_administrator_may_back_up(source: Home, tmp_path: Path) -> None:
    with pytest.raises(QueryRefused, match="ann may not back up DAP"):
        backup(as_user(source.ws, "ann"), tmp_path / "backup")
    assert not (tmp_path / "backup").exists()
    refused = source.ws.audit.tail(limit=5)
    assert any(r.action == "backup" and r.decision == "refused" for r in refused)


def _tamper_cases(root: Path) -> dict[str, tuple[object, str]]:
    parquet = next(p for p in root.rglob("*.parquet"))
    return {
        "altered": (lambda: parquet.write_bytes(parquet.read_bytes()[:-1] + b"x"), "sha256"),
        "truncated": (lambda: parquet.write_bytes(parquet.read_bytes()[:100]), "sha256"),
        "missing file": (lambda: parquet.unlink(), "incomplete"),
        "extra file": (lambda: (root / "home" / "evil.py").write_text("x"), "not in its manifest"),
        "no manifest": (lambda: (root / "manifest.json").unlink(), "no manifest.json"),
    }


def test_a_tampered_or_partial_backup_is_refused_and_nothing_is_written(
    source: Home, tmp_path: Path
) -> None:
    backup(source.ws.session(), tmp_path / "backup")
    for case in _tamper_cases(tmp_path / "backup"):
        copy = tmp_path / f"copy-{case.replace(' ', '-')}"
        shutil.copytree(tmp_path / "backup", copy)
        damage, message = _tamper_cases(copy)[case]
        damage()  # type: ignore[operator]
        target = tmp_path / f"home-{case.replace(' ', '-')}"
        with pytest.raises(BackupRefused, match=message):
            restore(
                copy, Settings(home=target, user="tester"), key_file=source.path / "secrets.key"
            )
        assert not target.exists(), case
        assert not list(tmp_path.glob(".home-*")), case  # no staging folder left either


def test_restore_refuses_a_non_empty_home_unless_forced_and_keeps_the_old_one(
    source: Home, tmp_path: Path
) -> None:
    backup(source.ws.session(), tmp_path / "backup")
    target = tmp_path / "restored"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(BackupRefused, match="is not empty"):
        restore(tmp_path / "backup", Settings(home=target, user="tester"))
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    result = restore(
        tmp_path / "backup",
        Settings(home=target, user="tester"),
        force=True,
        key_file=source.path / "secrets.key",
    )
    assert result.replaced is not None and (result.replaced / "notes.txt").read_text() == "mine"
    new = Workspace(Settings(home=target, user="tester"))
    try:
        assert answers(new) == source.before
    finally:
        new.close()


def test_restore_needs_the_key_that_opens_the_secrets(source: Home, tmp_path: Path) -> None:
    backup(source.ws.session(), tmp_path / "backup")
    target = tmp_path / "restored"
    with pytest.raises(BackupRefused, match="not their key"):
        restore(tmp_path / "backup", Settings(home=target, user="tester"))
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(Fernet.generate_key() + b"\n")
    with pytest.raises(BackupRefused, match="does not open the backup's secret"):
        restore(tmp_path / "backup", Settings(home=target, user="tester"), key_file=wrong)
    assert not target.exists()
    # DAP_SECRET_KEY works as well as a key file
    key = (source.path / "secrets.key").read_text().split()[0]
    restore(tmp_path / "backup", Settings(home=target, user="tester", secret_key=key))
    assert (target / "meta.db").is_file()


def test_include_key_puts_the_key_in_the_backup_on_request(source: Home, tmp_path: Path) -> None:
    result = backup(source.ws.session(), tmp_path / "backup", include_key=True)
    assert result.manifest.secrets["key_included"] is True
    key = tmp_path / "backup" / "home" / "secrets.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    target = Settings(home=tmp_path / "restored", user="tester")
    restore(tmp_path / "backup", target)  # no key file needed
    new = Workspace(target)
    try:
        assert answers(new) == source.before
    finally:
        new.close()


def test_the_fixed_queries_answer_differently_per_user(source: Home) -> None:
    """The list is worth comparing: no query fails, and filters and masks show in it."""
    before = source.before
    assert not [a for a in before if "error" in a]
    admin_count, ann_count, mia_count = before[0], before[3], before[6]
    assert ann_count["rows"][0][0] < admin_count["rows"][0][0] == mia_count["rows"][0][0]
    assert all(row[1] == "***" for row in before[4]["rows"])  # ann: names redacted
    assert all(str(row[1]).startswith("***@") for row in before[7]["rows"])  # mia: e-mails
    raw_channels = {
        row[0] for row in source.ws.session().sql("SELECT DISTINCT channel FROM orders").rows()
    }
    assert not raw_channels & {row[0] for row in before[8]["rows"]}  # mia: hashed
