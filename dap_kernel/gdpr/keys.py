"""Data-subject keys: the one column per table that says whom a row is about, declared once.

A key is governance metadata: declaring one decides what an export hands over and what an
erasure deletes, so only a steward of the table may (MANAGE_GRANTS on it: the steward and admin
roles, or a grant on that table). Every declaration is in the audit chain.

The requests themselves (:mod:`.export`, :mod:`.erase`) read and delete raw rows past every
row filter and mask, on the subject's behalf: only an administrator of the whole workspace may
make them (:func:`require_admin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from ..errors import DapError, QueryRefused
from ..governance.policy import PRIVILEGES
from ..meta.models import utcnow
from .rows import SubjectKeyRow

if TYPE_CHECKING:
    from ..session import Session


@dataclass(frozen=True)
class SubjectKey:
    table: str  # schema.table
    column: str
    declared_by: str
    declared_at: datetime


def require_admin(session: Session, what: str) -> None:
    """Refuse unless the caller holds every privilege on ``*`` (what the admin role gives).

    A steward manages grants but holds no USE_CONNECTOR; an analyst's grants never reach raw
    rows. In single-user mode the one local user is the administrator.
    """
    for privilege in PRIVILEGES:
        if not session.check(privilege, "*").allowed:
            raise QueryRefused(
                f"{session.principal.name} may not {what}: it reads or deletes raw rows of "
                "every table on a data subject's behalf, so only an administrator may"
            )


NOT_PERSONAL = ""  # the key of a table declared to hold no row about any one person


def declare_key(session: Session, table: str, column: str) -> SubjectKey:
    """Declare (or move) the subject key of ``table``; needs MANAGE_GRANTS on the table.

    ``column`` :data:`NOT_PERSONAL` declares instead that the table holds no row about any
    one person (an aggregate made from a keyed table): requests then leave it out of scope,
    on the steward's word, which the audit log and every certificate name.
    """
    info = session.governed_catalog.find(table)  # "did you mean" only readable tables
    name = info.qualified_name
    said = column or "none (holds no personal rows)"
    with session.audit_change("gdpr_key", (name,), statement=f"subject key of {name}: {said}"):
        session.require("MANAGE_GRANTS", name)
        names = {c.name.lower(): c.name for c in info.columns}
        if column != NOT_PERSONAL and column.lower() not in names:
            raise DapError(f"{name} has no column {column}: {', '.join(names.values())}")
        column = names.get(column.lower(), NOT_PERSONAL)
        with session.workspace.meta.session() as s:
            row = s.execute(
                select(SubjectKeyRow).where(SubjectKeyRow.table_name == name.lower())
            ).scalar_one_or_none()
            if row is None:
                row = SubjectKeyRow(table_name=name.lower())
                s.add(row)
            row.column_name = column
            row.declared_by = session.principal.name
            row.declared_at = utcnow()
            s.flush()
            return SubjectKey(name, column, row.declared_by, row.declared_at)


def remove_key(session: Session, table: str) -> bool:
    """Forget the subject key of ``table``; True if it had one."""
    info = session.governed_catalog.find(table)  # "did you mean" only readable tables
    name = info.qualified_name
    with session.audit_change("gdpr_key", (name,), statement=f"subject key of {name}: none"):
        session.require("MANAGE_GRANTS", name)
        with session.workspace.meta.session() as s:
            gone = s.execute(delete(SubjectKeyRow).where(SubjectKeyRow.table_name == name.lower()))
            return bool(getattr(gone, "rowcount", 0))


def subject_keys(session: Session) -> dict[str, SubjectKey]:
    """Every declared key of a table still in the catalog, by qualified table name.

    Listing them is metadata about every table, so it needs what declaring needs somewhere:
    the keys of the tables the caller may steward.
    """
    keys = all_keys(session)
    return {t: k for t, k in keys.items() if session.check("MANAGE_GRANTS", t).allowed}


def all_keys(session: Session) -> dict[str, SubjectKey]:
    """Every declared key (no check: for the admin-only requests)."""
    names = {n.lower(): n for n in session.catalog.known_names()}
    with session.workspace.meta.session() as s:
        rows = list(s.execute(select(SubjectKeyRow)).scalars())
    return {
        names[r.table_name]: SubjectKey(
            names[r.table_name], r.column_name, r.declared_by, r.declared_at
        )
        for r in rows
        if r.table_name in names
    }
