"""``dap backup PATH``: a consistent, verifiable copy of a running DAP home.

Order matters: the metadata first (it fixes which version of every table the backup holds),
then the lake at those versions, then the rest of the home (MLflow, reports, dashboards), which
can only be newer than the metadata — a model or report made meanwhile is extra, never missing.
Everything is written into a private folder beside ``PATH`` and renamed into place at the end,
so ``PATH`` is either a whole backup or absent.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..errors import QueryRefused
from ..governance.policy import PRIVILEGES
from ..meta.store import redact_url
from .delta import delta_tables, snapshot_table
from .files import private_dir, write_private
from .homefiles import HOME, KEY_FILE, copy_home, home_files
from .manifest import BackupError, Manifest
from .metadata import dump as dump_metadata
from .metadata import sqlite_path

if TYPE_CHECKING:
    from ..session import Session, Workspace


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    manifest_sha256: str


def require_admin(session: Session, what: str) -> None:
    """Refuse unless the caller holds every privilege on ``*`` (the admin role; in single-user
    mode the one local user). A backup holds every raw row, the audit log and the secrets."""
    for privilege in PRIVILEGES:
        if not session.check(privilege, "*").allowed:
            raise QueryRefused(
                f"{session.principal.name} may not {what}: it holds every table's raw rows, "
                "the audit log and the encrypted secrets, so only an administrator may"
            )


def backup(session: Session, path: Path, *, include_key: bool = False) -> BackupResult:
    """Back up the session's DAP home to the new folder ``path`` (administrators, audited)."""
    with session.audit_change("backup", statement=f"backup to {path}") as change:
        require_admin(session, "back up DAP")  # inside: a refusal is audited too
        result = _backup(session, path.expanduser().absolute(), include_key=include_key)
        change.touch(*(t["table"] for t in result.manifest.tables))
        change.rows = len(result.manifest.files)
    return result


def _backup(session: Session, path: Path, *, include_key: bool) -> BackupResult:
    try:
        return _backup_into(session, path, include_key=include_key)
    except OSError as e:  # a full disk, a folder we may not write: one line, not a traceback
        raise BackupError(f"cannot back up to {path}: {e.strerror or e} ({e.filename})") from e


def _backup_into(session: Session, path: Path, *, include_key: bool) -> BackupResult:
    ws = session.workspace
    home = ws.settings.home.expanduser().absolute()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} already exists: back up into a new folder")
    if path == home or home in path.parents:
        raise BackupError(f"{path} is inside DAP_HOME {home}: back up somewhere else")
    if not path.parent.exists():
        private_dir(path.parent)
    started = time.monotonic()
    staging = path.parent / f".{path.name}.partial-{os.getpid()}"
    private_dir(staging)
    try:
        manifest = _write(ws, home, staging, include_key=include_key, started=started)
        digest = manifest.write(staging)
        if path.exists():
            path.rmdir()  # the empty folder the caller made
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BackupResult(path, manifest, digest)


def _write(ws: Workspace, home: Path, root: Path, *, include_key: bool, started: float) -> Manifest:
    settings = ws.settings
    ws.audit.flush()  # queued audit records belong to the instant the backup is of
    snap = dump_metadata(ws.meta, root)
    manifest = Manifest(
        dap_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=settings.user,
        source_home=str(home),
        metadata={
            "backend": snap.backend,
            "method": snap.method,
            "revision": snap.revision,
            "url": redact_url(ws.meta.url),
            "table_rows": snap.table_rows,
        },
    )
    for dumped in snap.files:
        manifest.add(dumped)

    lake_root = settings.lake_dir.expanduser().absolute()
    tables = delta_tables(lake_root)
    for folder in tables:
        table, copied = snapshot_table(folder, lake_root, snap.catalog, root, root / HOME / "lake")
        manifest.tables.append(table.to_dict())
        for w in copied:
            manifest.add(w)
    manifest.external = [
        {"table": f"{r.schema}.{r.name}", "kind": r.kind, "location": redact_url(r.location)}
        for r in snap.catalog
        if r.kind != "delta"
    ]

    skip = [lake_root, *tables]
    meta_file = sqlite_path(ws.meta.url)
    if meta_file is not None:
        skip.append(meta_file)
    for w in copy_home(
        home, root, home_files(home, skip=skip, include_key=include_key and not settings.secret_key)
    ):
        manifest.add(w)
    key_included = (home / KEY_FILE).is_file() and include_key
    if include_key and settings.secret_key:
        keys = [k.strip() for k in settings.secret_key.split(",") if k.strip()]
        manifest.add(write_private(root / HOME / KEY_FILE, ("\n".join(keys) + "\n").encode(), root))
        key_included = True
    manifest.secrets = {
        "count": snap.secret_count,
        "key_included": key_included,
        "key_source": "DAP_SECRET_KEY" if settings.secret_key else f"{home / KEY_FILE}",
    }
    manifest.elapsed_s = round(time.monotonic() - started, 3)
    return manifest
