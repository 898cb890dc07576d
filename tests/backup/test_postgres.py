"""PostgreSQL metadata: exported in one REPEATABLE READ transaction, restored into PostgreSQL
(production) or into SQLite (a laptop rebuilding a service's home), answering as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_kernel.backup import BackupRefused, backup, restore
from dap_kernel.backup import create as create_module
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import answers, build_home, events_frame, new_database


def test_postgres_metadata_restores_into_postgres_and_into_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: str
) -> None:
    source = build_home(tmp_path / "pg-home", monkeypatch, tmp_path, new_database(postgres_server))
    try:
        result = backup(source.ws.session(), tmp_path / "backup")
        key = source.path / "secrets.key"
        m = result.manifest
        assert m.metadata["backend"] == "postgresql"
        assert m.metadata["method"] == "repeatable-read-json"
        assert m.metadata["table_rows"]["catalog_tables"] == 8  # the demo, its tour, events
        assert "s3cret" not in (tmp_path / "backup/metadata/secrets.jsonl").read_text()

        # a database that is not empty is refused, before anything is written
        with pytest.raises(BackupRefused, match="is not empty"):
            restore(
                tmp_path / "backup",
                Settings(home=tmp_path / "r0", user="tester", meta_url=source.settings.meta_url),
                key_file=key,
            )
        assert not (tmp_path / "r0").exists()

        for settings in (
            Settings(home=tmp_path / "r-pg", user="tester", meta_url=new_database(postgres_server)),
            Settings(home=tmp_path / "r-sqlite", user="tester"),
        ):
            restore(tmp_path / "backup", settings, key_file=key)
            new = Workspace(settings)
            try:
                assert answers(new) == source.before, settings.meta_url
                assert new.audit.verify() is None
                # ids continue after the restored rows (sequences moved past them)
                new.admin("tester").add_user("zoe")
            finally:
                new.close()

        # a commit after the exported snapshot is left out, however the export is timed
        dump = create_module.dump_metadata

        def dump_then_append(meta, root):  # type: ignore[no-untyped-def]
            snap = dump(meta, root)
            source.ws.catalog.write("events", events_frame(4), "append")
            return snap

        monkeypatch.setattr(create_module, "dump_metadata", dump_then_append)
        late = backup(source.ws.session(), tmp_path / "backup-late").manifest
        events = next(t for t in late.tables if t["table"] == "main.events")
        assert (events["version"], events["latest"]) == (3, 4)
        rows = (tmp_path / "backup-late/metadata/catalog_tables.jsonl").read_text().splitlines()
        assert any('"name": "events"' in r and '"version": 3' in r for r in rows)
    finally:
        source.ws.close()
