"""``dap restore PATH``: a backup into a new DAP home, checked whole before anything is written.

Refused, writing nothing: a backup that is partial or altered (every file against the
manifest's sha256), one made by a newer DAP (an unknown metadata revision), a home that is not
empty (unless ``force``, which moves the old one aside, never deletes it), and a backup with
encrypted secrets but no key that opens them (the key is kept apart from the backup: see
docs/operations.md). The home is assembled in a private folder beside the target and renamed
into place; the metadata is migrated if the backup's revision is older, and the restore is the
first record the restored audit chain appends.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..meta import MetaStore
from ..meta.store import redact_url
from ..settings import Settings
from .files import private_dir, sha256_file
from .homefiles import HOME, KEY_FILE
from .manifest import MANIFEST, BackupError, BackupRefused, Manifest, read_manifest, verify
from .metadata import (
    FOLDER,
    SQLITE_FILE,
    known_revision,
    load_rows,
    migrate,
    relocate,
    require_empty,
    sqlite_path,
)


@dataclass(frozen=True)
class RestoreResult:
    home: Path
    manifest: Manifest
    revision_from: str | None
    revision_to: str | None
    replaced: Path | None  # where the old home went (--force)
    elapsed_s: float


def restore(
    source: Path,
    settings: Settings,
    *,
    force: bool = False,
    key_file: Path | None = None,
    manifest_sha256: str | None = None,
) -> RestoreResult:
    """Restore the backup at ``source`` into ``settings.home`` (and its metadata URL).

    ``manifest_sha256`` is the sum ``dap backup`` printed, kept offsite: given, a manifest
    rewritten to match altered files is refused too."""
    try:
        return _restore(source, settings, force=force, key_file=key_file, expect=manifest_sha256)
    except OSError as e:  # a full disk, a folder we may not write: one line, not a traceback
        raise BackupError(
            f"cannot restore into {settings.home}: {e.strerror or e} ({e.filename})"
        ) from e


def _restore(
    source: Path, settings: Settings, *, force: bool, key_file: Path | None, expect: str | None
) -> RestoreResult:
    started = time.monotonic()
    source = source.expanduser().absolute()
    if expect is not None and (source / MANIFEST).is_file():
        _, digest = sha256_file(source / MANIFEST)
        if digest != expect.strip().lower():
            raise BackupRefused(
                f"backup {source} was altered: its manifest's sha256 is not the one given"
            )
    manifest = read_manifest(source)
    verify(source, manifest)
    revision = manifest.metadata.get("revision")
    if not known_revision(revision):
        raise BackupRefused(
            f"the backup's metadata is at revision {revision}, which this DAP does not know: "
            f"it was made by a newer DAP ({manifest.dap_version}); restore with that version"
        )
    home = settings.home.expanduser().absolute()
    _check_target(home, force=force)
    keys = _key_lines(source, manifest, settings, key_file)
    target_file = sqlite_path(settings.meta_url)
    sqlite_backup = manifest.metadata.get("backend") == "sqlite"
    in_home = target_file is not None and home in target_file.absolute().parents
    if sqlite_backup and not in_home:
        raise BackupRefused(
            "a SQLite metadata backup restores into DAP_HOME/meta.db: unset DAP_META_URL "
            f"(it names {redact_url(settings.meta_url)})"
        )
    if not in_home:
        require_empty(MetaStore(settings.meta_url))

    staging = home.parent / f".{home.name}.restoring-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    private_dir(staging)
    try:
        _copy_tree(source / HOME, staging)
        if keys is not None:
            _write_key(staging / KEY_FILE, keys)
        staged_url = settings.meta_url
        if in_home:
            assert target_file is not None
            staged_file = staging / target_file.absolute().relative_to(home)
            staged_url = f"sqlite:///{staged_file}"
            if sqlite_backup:
                private_dir(staged_file.parent)
                shutil.copyfile(source / SQLITE_FILE, staged_file)
                os.chmod(staged_file, 0o600)
        meta = MetaStore(staged_url)
        try:
            if not sqlite_backup:
                load_rows(source, list(manifest.files), meta, revision)
            migrate(meta)
            revision_to = _revision(meta)
            if manifest.source_home != str(home):
                relocate(meta, manifest.source_home, str(home))
        finally:
            meta.dispose()
        if manifest.source_home != str(home):
            _move_mlflow_paths(staging, manifest.source_home, str(home))
        replaced = _swap(staging, home)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result = RestoreResult(
        home, manifest, revision, revision_to, replaced, round(time.monotonic() - started, 3)
    )
    _audit(settings, source, result)
    return result


def _check_target(home: Path, *, force: bool) -> None:
    if not home.exists():
        return
    if not home.is_dir():
        raise BackupRefused(f"{home} is not a folder")
    if home.stat().st_uid != os.getuid():
        raise BackupRefused(f"{home} belongs to another user: restore as its owner")
    if any(home.iterdir()) and not force:
        raise BackupRefused(
            f"{home} is not empty: restore into a new DAP_HOME, or pass --force to move the "
            "current one aside"
        )


def _key_lines(
    source: Path, manifest: Manifest, settings: Settings, key_file: Path | None
) -> list[str] | None:
    """The key to install (None: the backup's own or DAP_SECRET_KEY), checked against the
    backup's secrets before anything is written: a wrong key would leave every connector
    unusable and make hash masks unreadable."""
    count = int(manifest.secrets.get("count", 0))
    lines: list[str] | None = None
    if key_file is not None:
        try:
            lines = [ln.strip() for ln in key_file.read_text().splitlines() if ln.strip()]
        except OSError as e:
            raise BackupRefused(f"cannot read the key file {key_file}: {e.strerror}") from e
        check = lines
    elif settings.secret_key:
        check = [k.strip() for k in settings.secret_key.split(",") if k.strip()]
    elif manifest.secrets.get("key_included"):
        check = (source / HOME / KEY_FILE).read_text().split()
    elif count:
        raise BackupRefused(
            f"the backup holds {count} encrypted secret(s) but not their key: pass "
            "--key-file FILE (the secrets.key kept apart from backups) or set DAP_SECRET_KEY"
        )
    else:
        return None
    if count:
        _check_key(source, manifest, check)
    return lines


def _check_key(source: Path, manifest: Manifest, keys: list[str]) -> None:
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet

    try:
        fernet = MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as e:
        raise BackupRefused("the secret key is malformed (expected Fernet keys)") from e
    for name, token in _ciphertexts(source, manifest):
        try:
            fernet.decrypt(token.encode())  # checked, then dropped: no value leaves here
        except InvalidToken as e:
            raise BackupRefused(
                f"the key given does not open the backup's secret {name!r}: "
                "it is not the key this home's secrets were encrypted with"
            ) from e


def _ciphertexts(source: Path, manifest: Manifest) -> list[tuple[str, str]]:
    if manifest.metadata.get("backend") == "sqlite":
        con = sqlite3.connect(f"file:{source / SQLITE_FILE}?mode=ro", uri=True)
        try:
            return [
                (str(n), str(c)) for n, c in con.execute("SELECT name, ciphertext FROM secrets")
            ]
        finally:
            con.close()
    dump = source / FOLDER / "secrets.jsonl"
    with open(dump, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(str(r["name"]), str(r["ciphertext"])) for r in rows]


def _write_key(path: Path, keys: list[str]) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(keys) + "\n")


def _copy_tree(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    for folder, _dirs, names in os.walk(source):
        base = Path(folder)
        out = target / base.relative_to(source)
        private_dir(out)
        for name in names:
            shutil.copyfile(base / name, out / name)
            os.chmod(out / name, 0o600)


def _revision(meta: MetaStore) -> str | None:
    with meta.engine.connect() as con:
        row = con.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return str(row[0]) if row else None


def _move_mlflow_paths(staging: Path, old: str, new: str) -> None:
    """MLflow keeps absolute artifact locations: point them at the restored home."""
    db = staging / "mlflow" / "mlflow.db"
    if not db.is_file():
        return
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in con.execute(f'PRAGMA table_info("{table}")').fetchall():
                if "CHAR" in str(column[2]).upper() or "TEXT" in str(column[2]).upper():
                    name = column[1]
                    con.execute(
                        f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                        f'WHERE instr("{name}", ?) > 0',
                        (old + "/mlflow", new + "/mlflow", old + "/mlflow"),
                    )
        con.commit()
    finally:
        con.close()


def _swap(staging: Path, home: Path) -> Path | None:
    replaced: Path | None = None
    if home.exists():
        if any(home.iterdir()):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            replaced = home.with_name(f"{home.name}.replaced-{stamp}")
            os.replace(home, replaced)
        else:
            home.rmdir()
    os.replace(staging, home)
    return replaced


def _audit(settings: Settings, source: Path, result: RestoreResult) -> None:
    from ..session import Workspace

    ws = Workspace(settings)
    try:
        session = ws.session(channel="cli")
        m = result.manifest
        with session.audit_change(
            "restore",
            [t["table"] for t in m.tables],
            statement=f"restore from {source} (made {m.created_at} of {m.source_home}, "
            f"metadata revision {result.revision_from} -> {result.revision_to})",
        ) as change:
            change.rows = len(m.files)
    finally:
        ws.close()
