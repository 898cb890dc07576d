"""Files a backup writes: owner-only (folders 0700, files 0600), each hashed as it is written.

A backup holds governed rows, the encrypted secrets and the audit log: nobody but the owner of
DAP_HOME may read it, whatever the umask of the shell that made it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class Written:
    """One file of a backup: where it sits (relative to the backup), its size and sha256."""

    path: str
    size: int
    sha256: str


def private_dir(path: Path) -> Path:
    """Make ``path`` and every missing parent owner-only (mkdir's mode goes through the
    umask, and ``parents=True`` would make the parents with the default mode)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    if not missing:
        os.chmod(path, 0o700)
    return path


def sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _create_private(path: Path) -> int:
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def copy_private(source: Path, target: Path, root: Path) -> Written:
    """Copy one file to ``target`` (mode 0600, never over an existing file), hashing it."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, os.fdopen(_create_private(target), "wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return Written(target.relative_to(root).as_posix(), size, digest.hexdigest())


def write_private(target: Path, data: bytes, root: Path) -> Written:
    with os.fdopen(_create_private(target), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Written(target.relative_to(root).as_posix(), len(data), hashlib.sha256(data).hexdigest())


def sqlite_snapshot(source: Path, target: Path, root: Path) -> Written:
    """A consistent copy of a live SQLite database through SQLite's online backup API.

    A file copy of a WAL database can miss committed pages still in ``-wal`` or catch a
    checkpoint half-way; the backup API copies one read transaction's view. The copy is a
    single file (journal mode DELETE), so what is hashed is all there is.
    """
    os.close(_create_private(target))  # sqlite3 opens the empty 0600 file as a new database
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # pages=-1: every page in one step, one snapshot of the source
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.commit()
    finally:
        dst.close()
        src.close()
    size, sha = sha256_file(target)
    return Written(target.relative_to(root).as_posix(), size, sha)
