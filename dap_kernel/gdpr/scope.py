"""Which tables hold rows about a data subject, and by which column each is searched.

The scope of a request starts at the tables with a declared subject key and follows lineage
downstream: a table made from a keyed table (``CREATE TABLE … AS SELECT``, a pipeline) is
searched by the same key column when it carries one under that name, or by its own declared
key. A derived table without either is **not searchable**: it is listed with the reason, never
skipped, and an erasure refuses to certify while one is left. Copies of those tables' rows are
in scope too: their quarantine (the raw rows as JSON text) and their archive.

Only names are decided here; :mod:`.export` and :mod:`.erase` read and delete.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select

from ..catalog import TableInfo
from ..errors import DapError
from ..governance.copies import archive_parents, quarantine_parent
from ..lineage.rows import LineageColumnEdgeRow, LineageEdgeRow
from ..quarantine import quarantine_name
from .keys import NOT_PERSONAL, SubjectKey, all_keys

if TYPE_CHECKING:
    from ..session import Session

Kind = Literal["subject_key", "derived", "quarantine", "archive"]
MAX_DEPTH = 50  # lineage levels followed from a keyed table (a loop stops earlier)


@dataclass(frozen=True)
class Target:
    """One table in scope. ``column`` None: not searchable (``reason`` says why)."""

    table: str
    kind: Kind
    column: str | None
    reason: str
    origin: str  # the keyed table its rows come from
    json_record: bool = False  # a quarantine: the row is JSON text in ``_dap_record``

    @property
    def searchable(self) -> bool:
        return self.column is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "kind": self.kind,
            "key_column": self.column,
            "searchable": self.searchable,
            "reason": self.reason,
            "origin": self.origin,
        }


@dataclass
class Scope:
    targets: list[Target] = field(default_factory=list)
    # Tables with a column named like a subject key that neither a key nor lineage covers:
    # possibly about the subject, shown so a steward can declare them, not searched.
    unkeyed: list[tuple[str, str]] = field(default_factory=list)
    # Tables a steward declared to hold no personal rows: (table, who), left out of scope.
    not_personal: list[tuple[str, str]] = field(default_factory=list)

    @property
    def uncovered(self) -> list[Target]:
        return [t for t in self.targets if not t.searchable]

    def names(self) -> list[str]:
        return [t.table for t in self.targets]


def plan_scope(session: Session) -> Scope:
    """Every table a request for one subject must search (no privilege check: the requests
    check that the caller is an administrator first). With no key declared anywhere there
    is nothing to search by, and an empty answer (or certificate) would be a false one."""
    keys = all_keys(session)
    exempt = {n.lower(): k for n, k in keys.items() if k.column == NOT_PERSONAL}
    keys = {n: k for n, k in keys.items() if k.column != NOT_PERSONAL}
    if not keys:
        raise DapError(
            "no table has a data-subject key: declare one per table with "
            "dap gdpr key TABLE COLUMN first"
        )
    tables = {t.qualified_name.lower(): t for t in session.catalog.list_tables()}
    found: dict[str, Target] = {}
    for name, key in keys.items():
        found[name.lower()] = _target(tables[name.lower()], "subject_key", key.column, name, "")
    _follow_lineage(session, keys, tables, found, set(exempt))
    _add_copies(tables, found)
    scope = Scope(targets=sorted(found.values(), key=lambda t: (_ORDER[t.kind], t.table)))
    scope.not_personal = sorted((k.table, k.declared_by) for k in exempt.values())
    key_names = {k.column.lower() for k in keys.values()}
    for name, info in sorted(tables.items()):
        if name in found or name in exempt or quarantine_parent(name) is not None:
            continue
        for column in info.columns:
            if column.name.lower() in key_names:
                scope.unkeyed.append((info.qualified_name, column.name))
    return scope


_ORDER = {"subject_key": 0, "derived": 1, "archive": 2, "quarantine": 3}


def _target(info: TableInfo, kind: Kind, column: str | None, origin: str, reason: str) -> Target:
    if info.kind != "delta" and column is not None:
        column, reason = (
            None,
            (
                f"an external {info.kind} source ({info.location}): DAP cannot search or erase it, "
                "do it at the source and drop or re-register the table"
            ),
        )
    return Target(info.qualified_name, kind, column, reason, origin)


def _follow_lineage(
    session: Session,
    keys: dict[str, SubjectKey],
    tables: dict[str, TableInfo],
    found: dict[str, Target],
    exempt: set[str],
) -> None:
    """Breadth first from every keyed table; a table's children inherit its key column name.
    A table declared not personal is left out, and so is what is made from it only."""
    declared = {name.lower(): key.column for name, key in keys.items()}
    queue: deque[tuple[str, str, str, int]] = deque(
        (name.lower(), key.column, name, 0) for name, key in keys.items()
    )
    with session.workspace.meta.session() as s:
        while queue:
            parent, key_name, origin, depth = queue.popleft()
            if depth >= MAX_DEPTH:
                continue
            children = {
                r.target
                for r in s.execute(
                    select(LineageEdgeRow).where(
                        LineageEdgeRow.source == parent, LineageEdgeRow.source_kind == "table"
                    )
                ).scalars()
            }
            column_edges = list(
                s.execute(
                    select(LineageColumnEdgeRow).where(LineageColumnEdgeRow.source_table == parent)
                ).scalars()
            )
            for child in sorted(children):
                if child in found or child in exempt or child not in tables:
                    continue  # already in scope, or dropped since (no rows left to search)
                info = tables[child]
                columns = {c.name.lower(): c.name for c in info.columns}
                if child in declared:
                    column: str | None = declared[child]
                    reason = f"derived from {parent}; its own subject key"
                elif key_name.lower() in columns:
                    column = columns[key_name.lower()]
                    reason = f"derived from {parent}; carries the key column {column}"
                else:
                    column = None
                    made_from = sorted(
                        e.target_column
                        for e in column_edges
                        if e.target_table == child and e.source_column == key_name.lower()
                    )
                    hint = (
                        f" (its column {', '.join(made_from)} is computed from {parent}."
                        f"{key_name}: if it holds the key as is, declare it with "
                        f"dap gdpr key {child} {made_from[0]})"
                        if made_from
                        else f" (declare one with dap gdpr key {child} COLUMN, or that it "
                        f"holds no personal rows with dap gdpr key {child} --not-personal)"
                    )
                    reason = f"derived from {parent} but has no column {key_name} to search{hint}"
                found[child] = _target(info, "derived", column, origin, reason)
                queue.append((child, column or key_name, origin, depth + 1))


def _add_copies(tables: dict[str, TableInfo], found: dict[str, Target]) -> None:
    """Quarantines and archives of the tables in scope (searched by their parent's key)."""
    archives = archive_parents([(t.qualified_name, t.options) for t in tables.values()])
    for copy, parent_name in sorted(archives.items()):
        if parent_name in found and copy in tables and copy not in found:
            p = found[parent_name]
            reason = f"the archive of {p.table}" + ("" if p.searchable else f": {p.reason}")
            found[copy] = _target(tables[copy], "archive", p.column, p.origin, reason)
    for parent in list(found.values()):
        q = quarantine_name(parent.table).lower()
        if q in tables and q not in found:
            reason = f"rows of {parent.table} that could not be loaded, as JSON text"
            if not parent.searchable:
                reason += f": {parent.reason}"
            target = _target(tables[q], "quarantine", parent.column, parent.origin, reason)
            found[q] = Target(
                target.table, "quarantine", target.column, target.reason, parent.origin, True
            )
