"""Backup and restore of a DAP home: ``dap backup PATH`` while it runs, ``dap restore PATH``.

* :mod:`.create` — the backup: metadata first, the lake at the catalog's versions, the rest.
* :mod:`.restore` — verified whole, assembled aside, renamed into place, migrated, audited.
* :mod:`.metadata` — SQLite online backup, or PostgreSQL in one REPEATABLE READ transaction.
* :mod:`.delta` — each Delta table as of its catalog version, nothing of a later commit.
* :mod:`.homefiles` — MLflow, reports, dashboards, certificates; the secret key only if asked.
* :mod:`.manifest` — what a backup holds and every file's sha256.

A feature above the session, like :mod:`dap_kernel.archive`: a backup is made through a
session (administrators only, audited); a restore makes a home, so it has none to ask.
"""

from __future__ import annotations

from .create import BackupResult, backup, require_admin
from .manifest import BackupError, BackupRefused, Manifest, read_manifest, verify
from .restore import RestoreResult, restore

__all__ = [
    "BackupError",
    "BackupRefused",
    "BackupResult",
    "Manifest",
    "RestoreResult",
    "backup",
    "read_manifest",
    "require_admin",
    "restore",
    "verify",
]
