"""Everything else under DAP_HOME: MLflow's store, report outputs, dashboards, certificates.

Any SQLite database found (MLflow's ``mlflow.db``) is copied through the online backup API,
never as a file; other files are copied as they are. Left out: the metadata database and the
lake (backed up on their own terms), lock and temporary files, SQLite's ``-wal``/``-shm``
side files, symbolic links (they may point anywhere), and the secret key — unless asked.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .files import Written, copy_private, sqlite_snapshot

HOME = "home"  # the folder of a backup that mirrors DAP_HOME
KEY_FILE = "secrets.key"
_SIDE_FILES = ("-wal", "-shm", "-journal")
_SKIP_DIRS = {"locks"}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def home_files(home: Path, *, skip: Iterable[Path], include_key: bool) -> list[Path]:
    """The files of ``home`` to back up as files, relative to it."""
    skipped = {p.resolve() for p in skip}
    found: list[Path] = []
    for folder, dirs, names in os.walk(home):
        base = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIP_DIRS and (base / d).resolve() not in skipped
        )
        for name in sorted(names):
            path = base / name
            rel = path.relative_to(home)
            if path.resolve() in skipped or name.endswith((".tmp", ".pid", ".lock")):
                continue
            if name.endswith(_SIDE_FILES) and (base / name.rsplit("-", 1)[0]).exists():
                continue
            if rel.as_posix() == KEY_FILE and not include_key:
                continue
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):
                continue  # links, sockets, fifos
            found.append(rel)
    return found


def copy_home(home: Path, root: Path, files: list[Path]) -> list[Written]:
    """Copy ``files`` (relative to ``home``) to ``root/home``; a file gone meanwhile is skipped."""
    written: list[Written] = []
    for rel in files:
        source, target = home / rel, root / HOME / rel
        try:
            if is_sqlite(source):
                written.append(sqlite_snapshot(source, target, root))
            else:
                written.append(copy_private(source, target, root))
        except FileNotFoundError:
            continue  # a temporary output that went away between listing and copying
    return written
