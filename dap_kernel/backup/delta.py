"""A consistent snapshot of the lake: each Delta table as of the version its catalog row names.

Queries read a table at the catalog's version (``catalog_tables.version``), and a writer
commits to Delta *before* it records the new version in the catalog. So the metadata snapshot
fixes, per table, a version V that is already committed; copying ``_delta_log`` up to V and the
data files those commits add gives the restored home exactly the rows its catalog promises. A
commit made after the metadata snapshot (V+1, a stream's batch still appending) has its own
new log entry and new files: neither is copied, so nothing of it is half-included.

History is kept where it still exists: the data files of earlier versions are copied when
vacuum has not removed them, so time travel answers as it did.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from .files import Written, copy_private
from .manifest import BackupError
from .metadata import CatalogRow

LOG = "_delta_log"
_COMMIT = re.compile(r"^(\d{20})\.(json|crc)$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


@dataclass(frozen=True)
class TableSnapshot:
    table: str  # schema.table
    version: int  # the version copied
    latest: int  # the newest version committed when it was copied
    in_catalog: bool
    files: int
    bytes: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def delta_tables(lake_root: Path) -> list[Path]:
    """Table folders under the lake (``schema/table`` with a ``_delta_log``)."""
    if not lake_root.is_dir():
        return []
    return sorted(p.parent for p in lake_root.glob(f"*/*/{LOG}") if p.is_dir())


def snapshot_table(
    folder: Path, lake_root: Path, catalog: list[CatalogRow], root: Path, target: Path
) -> tuple[TableSnapshot, list[Written]]:
    """Copy one table as of its catalog version (or, outside the catalog, its newest) into
    ``target`` (the lake folder inside the backup)."""
    rel = folder.relative_to(lake_root).as_posix()
    name = rel.replace("/", ".")
    row = next((r for r in catalog if r.kind == "delta" and r.location == f"lake:{rel}"), None)
    try:
        latest = int(DeltaTable(str(folder)).version())
        version = row.version if row is not None else latest
        if version > latest:
            raise BackupError(
                f"the catalog says {name} is at version {version} but its Delta log ends at "
                f"{latest}: the lake and the metadata disagree (restore or repair first)"
            )
        active = DeltaTable(str(folder), version=version).file_uris()
    except DeltaError as e:
        raise BackupError(f"cannot read the Delta table {name}: {e}") from e
    log_files, history = _log_upto(folder / LOG, version)
    needed = {Path(u).resolve().relative_to(folder.resolve()).as_posix() for u in active}
    written: list[Written] = []
    for entry in log_files:
        written.append(_copy(folder / LOG / entry, target / rel / LOG / entry, root, name))
    for data in sorted(needed | history):
        source = folder / data
        if data not in needed and not source.is_file():
            continue  # an older version's file, already vacuumed: that history was gone
        written.append(_copy(source, target / rel / data, root, name))
    data_files = [w for w in written if f"/{LOG}/" not in w.path]
    return (
        TableSnapshot(
            name,
            version,
            latest,
            row is not None,
            len(data_files),
            sum(w.size for w in data_files),
        ),
        written,
    )


def _copy(source: Path, target: Path, root: Path, name: str) -> Written:
    try:
        return copy_private(source, target, root)
    except FileNotFoundError as e:
        raise BackupError(
            f"{name} changed during the backup ({source.name} was removed, e.g. by a vacuum): "
            "run the backup again"
        ) from e


def _log_upto(log: Path, version: int) -> tuple[list[str], set[str]]:
    """The log entries of versions up to ``version``, and the data files their commits add."""
    entries: list[str] = []
    added: set[str] = set()
    for path in sorted(log.iterdir()):
        name = path.name
        if m := _COMMIT.match(name):
            if int(m.group(1)) > version:
                continue
            entries.append(name)
            if m.group(2) == "json":
                added |= _added_paths(path)
        elif m := _CHECKPOINT.match(name):
            if int(m.group(1)) <= version:
                entries.append(name)
        elif name == "_last_checkpoint":
            try:
                pointed = int(json.loads(path.read_text())["version"])
            except (ValueError, KeyError, OSError):
                continue  # optional: readers list the log without it
            if pointed <= version:
                entries.append(name)
    if f"{version:020d}.json" not in entries and not any(
        e.startswith(f"{version:020d}.checkpoint") for e in entries
    ):
        raise BackupError(f"the Delta log in {log} has no entry for version {version}")
    return entries, added


def _added_paths(commit: Path) -> set[str]:
    found: set[str] = set()
    for line in commit.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        for kind in ("add", "cdc"):
            if kind in action:
                path = urllib.parse.unquote(action[kind]["path"])
                if "://" in path or path.startswith("/") or ".." in Path(path).parts:
                    raise BackupError(
                        f"{commit}: a file outside its table ({path}) is not backed up"
                    )
                found.add(path)
    return found
