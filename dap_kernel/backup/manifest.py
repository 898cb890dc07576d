"""The manifest of a backup: what it holds, at which versions, and the sha256 of every file.

``manifest.json`` is written last, so a backup without one was cut short. A restore checks
every file against it before it writes anything: a missing, extra, resized or altered file
refuses the whole backup. The hashes find corruption and truncation; against someone who can
rewrite the manifest too, keep the manifest's own sha256 (``dap backup`` prints it) offsite.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DapError
from .files import Written, sha256_file, write_private

FORMAT = "dap-backup/1"
MANIFEST = "manifest.json"


class BackupError(DapError):
    """A backup or a restore could not be done (nothing is left under its path)."""

    code = "backup_error"
    http_status = 500


class BackupRefused(DapError):
    """A backup will not be restored: incomplete, altered, or the target is not empty."""

    code = "backup_refused"
    http_status = 400


@dataclass
class Manifest:
    dap_version: str
    created_at: str
    created_by: str
    source_home: str
    metadata: dict[str, Any]  # backend, method, revision, files
    tables: list[dict[str, Any]] = field(default_factory=list)  # lake snapshot per table
    external: list[dict[str, Any]] = field(default_factory=list)  # sources not in DAP_HOME
    secrets: dict[str, Any] = field(default_factory=dict)  # count, key_included, key_source
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path → size, sha256
    elapsed_s: float = 0.0
    format: str = FORMAT

    def add(self, written: Written) -> None:
        self.files[written.path] = {"size": written.size, "sha256": written.sha256}

    @property
    def total_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.files.values())

    def write(self, root: Path) -> str:
        """Write ``manifest.json`` (0600) and return its sha256."""
        data = json.dumps(self.__dict__, indent=1, sort_keys=True).encode()
        write_private(root / MANIFEST, data, root)
        return hashlib.sha256(data).hexdigest()


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not root.is_dir():
        raise BackupRefused(f"{root} is not a backup: no such folder")
    if not path.is_file():
        raise BackupRefused(f"{root} is not a complete backup: it has no {MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise BackupRefused(
                f"{root} is a backup of format {data.get('format')!r}; this DAP reads {FORMAT}"
            )
        return Manifest(**data)
    except (ValueError, TypeError) as e:
        raise BackupRefused(f"{root}/{MANIFEST} is damaged: {e}") from e


def verify(root: Path, manifest: Manifest) -> None:
    """Refuse unless the folder holds exactly the manifest's files with their sizes and hashes."""
    found: set[str] = set()
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if rel != MANIFEST:
                found.add(rel)
    listed = set(manifest.files)
    if missing := sorted(listed - found):
        raise BackupRefused(
            f"backup {root} is incomplete: {len(missing)} file(s) missing, e.g. {missing[0]}"
        )
    if extra := sorted(found - listed):
        raise BackupRefused(
            f"backup {root} was altered: {len(extra)} file(s) not in its manifest, e.g. {extra[0]}"
        )
    for rel in sorted(listed):
        expected = manifest.files[rel]
        path = root / rel
        if path.is_symlink():
            raise BackupRefused(f"backup {root} was altered: {rel} is a symbolic link")
        size, sha = sha256_file(path)
        if size != int(expected["size"]) or sha != expected["sha256"]:
            raise BackupRefused(
                f"backup {root} was altered or damaged: {rel} does not match its sha256 "
                "in the manifest"
            )
