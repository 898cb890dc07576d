"""The metadata part of a backup: one consistent view of the database, and its revision.

* SQLite (the embedded default): SQLite's online backup API copies one read transaction's
  view of the live file (writers carry on) into ``metadata/meta.db``.
* PostgreSQL: every table exported as JSON lines inside **one** ``REPEATABLE READ READ ONLY``
  transaction, so all tables — and the catalog versions the lake snapshot follows — are of the
  same instant. Chosen over ``pg_dump`` because the dump then restores through DAP's own
  Alembic migrations into PostgreSQL *or* SQLite, needs no client binary matching the server's
  major version, and the catalog rows are read in the very snapshot that is exported.

A restore loads either form into the target's metadata URL at the backup's revision, then
migrates it to the newest one.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, Table, insert, select, text

from ..meta import MetaStore
from ..meta.store import MIGRATIONS_DIR, redact_url
from .files import Written, private_dir, sha256_file, sqlite_snapshot
from .manifest import BackupError, BackupRefused

FOLDER = "metadata"
SQLITE_FILE = f"{FOLDER}/meta.db"


@dataclass(frozen=True)
class CatalogRow:
    schema: str
    name: str
    kind: str
    location: str
    version: int


@dataclass
class MetaSnapshot:
    """What the lake snapshot and the manifest need from the metadata as it was dumped."""

    backend: str
    method: str
    revision: str | None
    catalog: list[CatalogRow]
    secret_count: int
    files: list[Written] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)


def sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).expanduser()
    return None


def dump(meta: MetaStore, root: Path) -> MetaSnapshot:
    """Dump the metadata under ``root/metadata`` (see the module docstring for how)."""
    private_dir(root / FOLDER)
    path = sqlite_path(meta.url)
    if path is not None:
        if not path.is_file():
            raise BackupError(f"the metadata database {path} does not exist")
        written = sqlite_snapshot(path, root / SQLITE_FILE, root)
        con = sqlite3.connect(root / SQLITE_FILE)
        try:
            snap = MetaSnapshot(
                "sqlite",
                "sqlite-online-backup",
                _one(con.execute("SELECT version_num FROM alembic_version").fetchall()),
                [CatalogRow(*r) for r in con.execute(_CATALOG).fetchall()],
                int(con.execute("SELECT count(*) FROM secrets").fetchone()[0]),
                [written],
            )
        finally:
            con.close()
        return snap
    if meta.engine.dialect.name != "postgresql":
        raise BackupError(f"cannot back up metadata on {meta.engine.dialect.name}")
    return _dump_postgres(meta, root)


_CATALOG = "SELECT schema_name, name, kind, location, version FROM catalog_tables ORDER BY id"


def _one(rows: list[Any]) -> str | None:
    return str(rows[0][0]) if rows else None


def _dump_postgres(meta: MetaStore, root: Path) -> MetaSnapshot:
    engine = meta.engine.execution_options(isolation_level="REPEATABLE READ")
    with engine.connect() as con, con.begin():
        con.execute(text("SET TRANSACTION READ ONLY"))
        tables = MetaData()
        tables.reflect(bind=con)
        snap = MetaSnapshot(
            "postgresql",
            "repeatable-read-json",
            _one(list(con.execute(text("SELECT version_num FROM alembic_version")))),
            [CatalogRow(*r) for r in con.execute(text(_CATALOG))],
            int(con.execute(text("SELECT count(*) FROM secrets")).scalar_one()),
        )
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            target = root / FOLDER / f"{table.name}.jsonl"
            snap.table_rows[table.name] = _export(con, table, target)
            size, sha = sha256_file(target)
            snap.files.append(Written(target.relative_to(root).as_posix(), size, sha))
    return snap


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot export a {type(value).__name__}")


def _export(con: Connection, table: Table, target: Path) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    result = con.execution_options(stream_results=True).execute(select(table).order_by(*order))
    count = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for row in result.mappings():
            f.write(json.dumps(dict(row), default=_encode, sort_keys=True) + "\n")
            count += 1
        f.flush()
        os.fsync(f.fileno())
    return count


# -- restore ----------------------------------------------------------------------------------


def _alembic(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def known_revision(revision: str | None) -> bool:
    """Whether this DAP's migrations know ``revision`` (a newer DAP's backup: they do not)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    if revision is None:
        return True
    return any(r.revision == revision for r in script.walk_revisions())


def require_empty(meta: MetaStore) -> None:
    names = [n for n in meta.table_names() if n != "alembic_version"]
    if names:
        raise BackupRefused(
            f"the metadata database {redact_url(meta.url)} is not empty ({len(names)} tables): "
            "restore into a new database"
        )


def load_rows(root: Path, files: list[str], meta: MetaStore, revision: str | None) -> int:
    """Load a JSON-lines dump into an empty database at ``revision``; returns rows loaded."""
    require_empty(meta)
    by_table = {Path(f).stem: root / f for f in files if f.endswith(".jsonl")}
    loaded = 0
    with meta.engine.begin() as con:
        if revision is not None:
            _alembic(con, revision)
        tables = MetaData()
        tables.reflect(bind=con)
        for table in reversed(tables.sorted_tables):
            if table.name in by_table:  # rows the migrations seed (audit head, policy state)
                con.execute(table.delete())
        for table in tables.sorted_tables:
            source = by_table.pop(table.name, None)
            if source is None:
                continue
            decode = _decoders(table)
            batch: list[dict[str, Any]] = []
            for row in _lines(source):
                batch.append({k: decode[k](v) if k in decode else v for k, v in row.items()})
                if len(batch) >= 500:
                    con.execute(insert(table), batch)
                    loaded, batch = loaded + len(batch), []
            if batch:
                con.execute(insert(table), batch)
                loaded += len(batch)
        if by_table:
            raise BackupRefused(
                f"the backup has tables the schema at revision {revision} lacks: "
                f"{', '.join(sorted(by_table))}"
            )
        if con.dialect.name == "postgresql":
            for table in tables.sorted_tables:
                _reset_sequence(con, table)
    return loaded


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _decoders(table: Table) -> dict[str, Callable[[Any], Any]]:
    found: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        try:
            kind = column.type.python_type
        except NotImplementedError:
            continue
        parse: Callable[[str], Any] | None = {
            datetime: datetime.fromisoformat,
            date: date.fromisoformat,
            time: time.fromisoformat,
            Decimal: Decimal,
            bytes: base64.b64decode,
        }.get(kind)
        if parse is not None:
            found[column.name] = _if_text(parse)
    return found


def _if_text(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    return lambda v: parse(v) if isinstance(v, str) else v


def _reset_sequence(con: Connection, table: Table) -> None:
    """Rows came with their ids: move each serial's sequence past them."""
    for column in table.primary_key.columns:
        sequence = con.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
        ).scalar()
        if sequence:
            con.execute(
                text(
                    f'SELECT setval(:s, coalesce((SELECT max("{column.name}") '
                    f'FROM "{table.name}"), 0) + 1, false)'
                ),
                {"s": sequence},
            )


def relocate(meta: MetaStore, old_home: str, new_home: str) -> int:
    """Point what the metadata records by absolute path (scheduled runs' outputs, under
    ``DAP_HOME/reports``) at the restored home; returns how many rows moved. The audit log is
    left as it was: its statements are history, and its hash chain covers them."""
    tables = MetaData()
    with meta.engine.begin() as con:
        tables.reflect(bind=con, only=lambda name, _: name == "schedule_runs")
        runs = tables.tables.get("schedule_runs")
        if runs is None:
            return 0
        moved = 0
        for run_id, outputs in con.execute(select(runs.c.id, runs.c.outputs)).all():
            value = json.loads(outputs) if isinstance(outputs, str) else dict(outputs or {})
            new = {
                k: new_home + v[len(old_home) :] if str(v).startswith(old_home + "/") else v
                for k, v in value.items()
            }
            if new != value:
                con.execute(runs.update().where(runs.c.id == run_id).values(outputs=new))
                moved += 1
    return moved


def migrate(meta: MetaStore) -> None:
    """Bring a restored database to this DAP's newest revision (a no-op when current)."""
    meta.migrate()
