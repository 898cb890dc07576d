"""The register of processing activities (GDPR Art. 30): why personal data is processed, on
which legal basis, in which tables — and, read from the workspace itself, what the tables hold
and how long they keep it.

A record is written by a steward of every table it names (MANAGE_GRANTS on each), so no one
can file a purpose for tables they do not govern; every change is in the audit chain. Listing
shows the records whose tables the caller may read, each with the facts DAP knows rather than
what someone typed: the subject key, the personal-data tags of the columns, and the retention
policy (history kept, archive and deletion ages) that the archive job enforces.

>>> record_processing(s, "newsletter", purpose="Monthly product news",  # doctest: +SKIP
...                   legal_basis="consent", tables=["customers"])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from ..errors import DapError
from ..governance.copies import RETENTION
from ..meta.models import utcnow
from .keys import all_keys
from .pii import PII
from .rows import ProcessingRow

if TYPE_CHECKING:
    from ..session import Session

# The lawful bases of GDPR Art. 6(1), (a) to (f).
LEGAL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class ProcessedTable:
    """A table of a record, as the workspace knows it now."""

    table: str
    subject_key: str | None  # None: not declared; "" declared as holding no personal rows
    personal_columns: dict[str, list[str]]  # column -> its tags, for the tagged ones
    retention: dict[str, Any]  # the table's policy (keep_history_days, delete_after_days …)
    exists: bool = True


@dataclass(frozen=True)
class ProcessingRecord:
    name: str
    purpose: str
    legal_basis: str
    subjects: str
    recipients: str
    recorded_by: str
    recorded_at: datetime
    tables: tuple[ProcessedTable, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "subjects": self.subjects,
            "recipients": self.recipients,
            "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at.isoformat(timespec="seconds"),
            "tables": [t.__dict__ for t in self.tables],
        }


def record_processing(
    session: Session,
    name: str,
    *,
    purpose: str,
    legal_basis: str,
    tables: Sequence[str],
    subjects: str = "",
    recipients: str = "",
) -> ProcessingRecord:
    """File (or replace) the record ``name``; needs MANAGE_GRANTS on each of its tables."""
    if not isinstance(name, str) or not NAME.match(name):
        raise DapError(f"invalid record name {name!r}: lower-case letters, digits, _ and -")
    if legal_basis not in LEGAL_BASES:
        raise DapError(f"legal basis {legal_basis!r}: one of {', '.join(LEGAL_BASES)} (Art. 6)")
    if not purpose.strip():
        raise DapError("a processing record needs its purpose")
    if not tables:
        raise DapError("a processing record names the tables it processes")
    names = sorted({session.governed_catalog.find(t).qualified_name for t in tables})
    what = f"processing record {name}: {legal_basis}, {', '.join(names)}"
    with session.audit_change("gdpr_processing", names, statement=what):
        for table in names:
            session.require("MANAGE_GRANTS", table)
        with session.workspace.meta.session() as s:
            row = s.execute(
                select(ProcessingRow).where(ProcessingRow.name == name)
            ).scalar_one_or_none()
            if row is None:
                row = ProcessingRow(name=name)
                s.add(row)
            else:
                for table in row.tables:  # replacing needs the stewardship of the old tables
                    session.require("MANAGE_GRANTS", table)
            row.purpose, row.legal_basis = purpose.strip(), legal_basis
            row.tables = [t.lower() for t in names]
            row.subjects, row.recipients = subjects.strip(), recipients.strip()
            row.recorded_by, row.recorded_at = session.principal.name, utcnow()
            s.flush()
            return _record(session, row)


def remove_processing(session: Session, name: str) -> bool:
    """Delete the record ``name`` (needs MANAGE_GRANTS on its tables); True if there was one."""
    with session.workspace.meta.session() as s:
        row = s.execute(
            select(ProcessingRow).where(ProcessingRow.name == name)
        ).scalar_one_or_none()
        if row is None:
            return False
        tables = list(row.tables)
    with session.audit_change("gdpr_processing", tables, statement=f"remove record {name}"):
        for table in tables:
            session.require("MANAGE_GRANTS", table)
        with session.workspace.meta.session() as s:
            s.execute(delete(ProcessingRow).where(ProcessingRow.name == name))
    return True


def processing_records(session: Session) -> list[ProcessingRecord]:
    """The records whose every table the caller may read, with what DAP knows of each table."""
    with session.workspace.meta.session() as s:
        rows = list(s.execute(select(ProcessingRow).order_by(ProcessingRow.name)).scalars())
        found = [
            _record(session, row)
            for row in rows
            if all(session.check("SELECT", t).allowed for t in row.tables)
        ]
    return found


def _record(session: Session, row: ProcessingRow) -> ProcessingRecord:
    keys = all_keys(session)
    known = {n.lower(): n for n in session.catalog.known_names()}
    tables = []
    for table in row.tables:
        if table not in known:
            tables.append(ProcessedTable(table, None, {}, {}, exists=False))
            continue
        info = session.catalog.get(known[table])
        key = keys.get(info.qualified_name)
        tables.append(
            ProcessedTable(
                table=info.qualified_name,
                subject_key=key.column if key is not None else None,
                personal_columns={
                    c.name: list(c.tags) for c in info.columns if PII in {t.lower() for t in c.tags}
                },
                retention=dict(info.options.get(RETENTION) or {}),
            )
        )
    return ProcessingRecord(
        name=row.name,
        purpose=row.purpose,
        legal_basis=row.legal_basis,
        subjects=row.subjects,
        recipients=row.recipients,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        tables=tuple(tables),
    )
