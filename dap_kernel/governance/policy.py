"""Authorization: who may do what, and which rows and values they see.

Two implementations of one protocol:

* :class:`AllowAllPolicy` — the single local user (``dap init`` without ``--multi-user``).
* :class:`GrantPolicy` — grants to users, groups and roles, inherited downward from ``*`` to a
  schema, a table and a column; row filters and column masks from the metadata store. It is what
  runs once ``dap init --multi-user`` switched the workspace to deny-by-default.

Policies are read from the metadata store into an in-memory snapshot keyed by the policy
version, so a query costs one tiny version read unless something changed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select

from ..errors import MetaStoreError
from ..meta import MetaStore
from ..meta.models import (
    CatalogColumn,
    CatalogTable,
    ColumnMask,
    Grant,
    Membership,
    RowFilter,
)
from ..meta.models import Principal as PrincipalRow
from .copies import archive_parents, quarantine_parent
from .identity import Principal

PRIVILEGES = ("SELECT", "MODIFY", "CREATE", "USE_CONNECTOR", "MANAGE_GRANTS", "UNMASK")
BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "admin": PRIVILEGES,
    "steward": ("SELECT", "MODIFY", "CREATE", "MANAGE_GRANTS", "UNMASK"),
    "engineer": ("SELECT", "MODIFY", "CREATE", "USE_CONNECTOR"),
    "analyst": ("SELECT", "USE_CONNECTOR"),
    "viewer": (),
}


_ClosureKey = tuple[str, frozenset[str], frozenset[str]]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class TablePolicy:
    """How one principal sees one table: a row filter and masked columns (raw SQL, checked)."""

    columns: tuple[tuple[str, str], ...]  # (name, type) in table order
    row_filters: tuple[str, ...] = ()
    masks: dict[str, str] = field(default_factory=dict)  # column -> mask kind or sql:…


class Policy(Protocol):
    def authorize(self, principal: Principal, action: str, tables: Sequence[str]) -> Decision: ...

    def table_policy(self, principal: Principal, table: str) -> TablePolicy | None: ...

    def check(self, principal: Principal, action: str, securable: str) -> Decision: ...

    def principal_details(self, principal: Principal) -> Principal: ...

    def version(self) -> int:
        """Changes whenever grants, filters, masks, memberships or table schemas change."""
        ...

    def enforcing(self) -> bool:
        """True when grants, filters and masks apply (multi-user mode)."""
        ...

    def pinned(self) -> AbstractContextManager[None]:
        """One consistent policy view for one statement (and one version read)."""
        ...


class AllowAllPolicy:
    """Everything is allowed: the single-user embedded default."""

    def authorize(self, principal: Principal, action: str, tables: Sequence[str]) -> Decision:
        return Decision(True, f"single-user mode: {principal.name} may {action}")

    def table_policy(self, principal: Principal, table: str) -> TablePolicy | None:
        return None

    def check(self, principal: Principal, action: str, securable: str) -> Decision:
        return self.authorize(principal, action, [securable])

    def principal_details(self, principal: Principal) -> Principal:
        return principal

    def version(self) -> int:
        return 0

    def enforcing(self) -> bool:
        return False

    def pinned(self) -> AbstractContextManager[None]:
        return nullcontext()


@dataclass
class _Snapshot:
    version: int
    multi_user: bool
    memberships: list[tuple[str, str, str, str]]  # parent_kind, parent, member_kind, member
    grants: list[tuple[str, str, str, str]]  # privilege, securable, grantee_kind, grantee
    filters: dict[str, list[str]]  # table -> predicates
    masks: dict[str, str]  # target -> mask
    attributes: dict[str, dict[str, object]]  # user -> attributes
    columns: dict[str, list[tuple[str, str, list[str]]]]  # table -> (name, type, tags)
    # (user, direct groups, own roles) -> (all groups, roles): fixed within a policy version
    closures: dict[_ClosureKey, tuple[set[str], set[str]]] = field(default_factory=dict)
    # Copies of governed rows (see governance.copies); lower-case names.
    owners: dict[str, str] = field(default_factory=dict)  # table -> owner
    archives: dict[str, str] = field(default_factory=dict)  # archive table -> parent table
    names: dict[str, str] = field(default_factory=dict)  # lower-case -> qualified name


def ancestors(securable: str) -> list[str]:
    """``main.t.c`` → ``["main.t.c", "main.t", "main", "*"]``: grants inherit downward."""
    parts = securable.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)] + ["*"]


class GrantPolicy:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def pinned(self) -> Iterator[None]:
        if getattr(self._local, "snapshot", None) is not None:
            yield
            return
        self._local.snapshot = self.snapshot()
        try:
            yield
        finally:
            self._local.snapshot = None

    # -- snapshot ---------------------------------------------------------------------------

    def state(self) -> tuple[int, bool]:
        """The policy version and mode, read on every statement (a lost server:
        MetaStoreError, one line)."""
        row = self.meta.first_row("SELECT version, multi_user FROM policy_state WHERE id = 1")
        if row is None:
            raise MetaStoreError("the metadata database has no policy state row")
        return int(row[0]), bool(row[1])

    def snapshot(self) -> _Snapshot:
        pinned: _Snapshot | None = getattr(self._local, "snapshot", None)
        if pinned is not None:
            return pinned
        version, multi_user = self.state()
        with self._lock:
            if self._snapshot is not None and self._snapshot.version == version:
                return self._snapshot
        if not multi_user:
            # Single-user mode decides nothing from the rules: skip reading them (catalog
            # writes bump the version, so this path runs after every write).
            return _Snapshot(version, False, [], [], {}, {}, {}, {})
        with self.meta.session() as s:
            columns: dict[str, list[tuple[str, str, list[str]]]] = {}
            for table, col in s.execute(
                select(CatalogTable, CatalogColumn)
                .join(CatalogColumn, CatalogColumn.table_id == CatalogTable.id)
                .order_by(CatalogTable.id, CatalogColumn.position)
            ).tuples():
                columns.setdefault(table.qualified_name, []).append(
                    (col.name, col.data_type, list(col.tags or []))
                )
            tables = [
                (f"{schema}.{name}", owner or "", dict(options or {}))
                for schema, name, owner, options in s.execute(
                    select(
                        CatalogTable.schema_name,
                        CatalogTable.name,
                        CatalogTable.owner,
                        CatalogTable.options,
                    )
                ).tuples()
            ]
            filters: dict[str, list[str]] = {}
            for f in s.execute(select(RowFilter).order_by(RowFilter.id)).scalars():
                filters.setdefault(f.table_name, []).append(f.predicate)
            snap = _Snapshot(
                version=version,
                multi_user=multi_user,
                memberships=[
                    (m.parent_kind, m.parent, m.member_kind, m.member)
                    for m in s.execute(select(Membership)).scalars()
                ],
                grants=[
                    (g.privilege, g.securable, g.grantee_kind, g.grantee)
                    for g in s.execute(select(Grant)).scalars()
                ],
                filters=filters,
                masks={m.target: m.mask for m in s.execute(select(ColumnMask)).scalars()},
                attributes={
                    p.name: dict(p.attributes or {})
                    for p in s.execute(select(PrincipalRow)).scalars()
                },
                columns=columns,
                owners={name.lower(): owner for name, owner, _ in tables},
                archives=archive_parents([(name, options) for name, _, options in tables]),
                names={name.lower(): name for name, _, _ in tables},
            )
        with self._lock:
            self._snapshot = snap
        return snap

    def enforcing(self) -> bool:
        return self.snapshot().multi_user

    def version(self) -> int:
        return self.snapshot().version

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    # -- who is who -------------------------------------------------------------------------

    def principal_details(self, principal: Principal) -> Principal:
        """The principal with its groups (transitively) and attributes from the store."""
        snap = self.snapshot()
        groups, _ = self._closure(snap, principal)
        return Principal(
            name=principal.name,
            kind=principal.kind,
            groups=frozenset(groups),
            roles=principal.roles,
            attributes={**snap.attributes.get(principal.name, {}), **principal.attributes},
            source=principal.source,
            run=principal.run,
        )

    @staticmethod
    def _closure(snap: _Snapshot, principal: Principal) -> tuple[set[str], set[str]]:
        """Groups (transitively) and roles of a principal, computed once per policy version."""
        key = (principal.name, frozenset(principal.groups), principal.roles)
        known = snap.closures.get(key)
        if known is not None:
            return known
        groups: set[str] = set(principal.groups)
        frontier = [("user", principal.name)] + [("group", g) for g in principal.groups]
        roles: set[str] = set(principal.roles)
        while frontier:
            kind, name = frontier.pop()
            for parent_kind, parent, member_kind, member in snap.memberships:
                if member_kind != kind or member != name:
                    continue
                if parent_kind == "group" and parent not in groups:
                    groups.add(parent)
                    frontier.append(("group", parent))
                elif parent_kind == "role":
                    roles.add(parent)
        snap.closures[key] = (groups, roles)
        return groups, roles

    # -- decisions --------------------------------------------------------------------------

    def has(self, principal: Principal, privilege: str, securable: str) -> bool:
        """Does a grant (direct, by group or role, or inherited) give ``privilege``?

        Copies of governed rows are decided by their parent (see :mod:`.copies`): an archive
        table by the grants of the table it archives; a quarantine table only by ownership of
        the parent or MANAGE_GRANTS on it, so schema-wide, ``*`` and role grants never reach
        the raw rows it keeps.
        """
        snap = self.snapshot()
        if not snap.multi_user:
            return True
        parts = securable.split(".")
        if len(parts) >= 2:
            table = ".".join(parts[:2]).lower()
            parent = quarantine_parent(table)
            if parent is not None:
                return self._reads_quarantine(snap, principal, parent, table)
            source = _source(snap, table)
            if source != table:
                securable = ".".join([source, *parts[2:]])
        return self._granted(snap, principal, privilege, securable)

    def _granted(
        self,
        snap: _Snapshot,
        principal: Principal,
        privilege: str,
        securable: str,
        *,
        via_all: bool = True,
    ) -> bool:
        """``via_all=False``: only a grant naming ``privilege`` itself (or a role) counts."""
        groups, roles = self._closure(snap, principal)
        if any(privilege in BUILTIN_ROLES.get(r, ()) for r in roles):
            return True
        holders = {("user", principal.name)} | {("group", g) for g in groups}
        holders |= {("role", r) for r in roles}
        targets = set(ancestors(securable.lower()))
        return any(
            (priv == privilege or (via_all and priv == "ALL"))
            and sec.lower() in targets
            and (kind, name) in holders
            for priv, sec, kind, name in snap.grants
        )

    def _reads_quarantine(
        self, snap: _Snapshot, principal: Principal, parent: str, quarantine: str
    ) -> bool:
        """The parent's owner (the quarantine's own while there is no parent) and stewards:
        MANAGE_GRANTS named in a grant or a role, not implied by ``ALL`` (often granted on a
        schema as "every data privilege")."""
        owner = snap.owners[parent] if parent in snap.owners else snap.owners.get(quarantine, "")
        if owner and owner == principal.name:
            return True
        source = _source(snap, parent)
        return self._granted(snap, principal, "MANAGE_GRANTS", source, via_all=False)

    def granted_columns(self, principal: Principal, privilege: str, table: str) -> set[str]:
        """Columns of ``table`` granted one by one (``schema.table.column`` securables)."""
        snap = self.snapshot()
        return {
            name
            for name, _type, _tags in snap.columns.get(table, [])
            if self.has(principal, privilege, f"{table}.{name}")
        }

    def authorize(self, principal: Principal, action: str, tables: Sequence[str]) -> Decision:
        for table in tables:
            if self.has(principal, action, table):
                continue
            if action == "SELECT" and self.granted_columns(principal, action, table):
                continue  # column-level SELECT: the rewrite projects only those columns
            return Decision(False, f"{principal.name} may not {action} {table}: no grant")
        return Decision(True, f"{principal.name} may {action} {', '.join(tables) or 'this'}")

    def check(self, principal: Principal, action: str, securable: str) -> Decision:
        action = action.upper()
        if action not in PRIVILEGES:
            return Decision(False, f"unknown action {action}: use {', '.join(PRIVILEGES)}")
        return self.authorize(principal, action, [securable])

    def table_policy(self, principal: Principal, table: str) -> TablePolicy | None:
        """Filters and masks for this principal, or None when the table is seen as stored.

        An archive gets its parent's row filters and masks on top of its own (its columns are
        the parent's); a quarantine is seen as stored by those who may read it at all.
        """
        snap = self.snapshot()
        if not snap.multi_user or self._granted(snap, principal, "MANAGE_GRANTS", "*"):
            return None
        if quarantine_parent(table.lower()) is not None:
            # Raw JSON text of every column: no filter or mask could apply, so all or nothing.
            return None if self.has(principal, "SELECT", table) else TablePolicy(columns=())
        source = snap.names.get(_source(snap, table.lower()), table)
        filters = tuple(snap.filters.get(table, ()))
        parent_tags: dict[str, list[str]] = {}
        if source != table:
            filters = tuple(snap.filters.get(source, ())) + filters
            parent_tags = {n: tags for n, _t, tags in snap.columns.get(source, [])}
        masks: dict[str, str] = {}
        columns = snap.columns.get(table, [])
        restricted = not self.has(principal, "SELECT", table)
        if restricted:
            visible = self.granted_columns(principal, "SELECT", table)
            columns = [c for c in columns if c[0] in visible]
        for name, _type, tags in columns:
            targets = dict.fromkeys((f"{source}.{name}", f"{table}.{name}"))
            mask = next((snap.masks[t] for t in targets if t in snap.masks), None)
            if mask is None:
                every_tag = [*parent_tags.get(name, []), *tags]
                mask = next(
                    (snap.masks[f"tag:{t}"] for t in every_tag if f"tag:{t}" in snap.masks),
                    None,
                )
            if mask is not None and not self.has(principal, "UNMASK", f"{table}.{name}"):
                masks[name] = mask
        if not filters and not masks and not restricted:
            return None
        return TablePolicy(
            columns=tuple((n, t) for n, t, _ in columns), row_filters=filters, masks=masks
        )


def _source(snap: _Snapshot, table: str) -> str:
    """The table whose grants and rules govern ``table`` (lower-case): its archive parent,
    followed to the original, or itself."""
    seen = {table}
    while table in snap.archives:
        table = snap.archives[table]
        if table in seen:
            break  # a loop of copy records: stop at a table already met
        seen.add(table)
    return table


def table_rules(policy: Policy, table: str) -> list[dict[str, str]]:
    """Grants that reach ``table`` (from ``*``, its schema, itself, its columns), its row
    filters and its masks, one row each: what ``%dap grants TABLE`` shows."""
    if not isinstance(policy, GrantPolicy):
        return []
    snap = policy.snapshot()
    reach = set(ancestors(table))
    rows = [
        {"kind": "grant", "rule": f"{priv} ON {sec}", "applies_to": f"{kind} {name}"}
        for priv, sec, kind, name in snap.grants
        if sec in reach or sec.startswith(f"{table}.")
    ]
    rows += [
        {
            "kind": "role",
            "rule": f"{role}: {', '.join(privs) or 'no table privileges'}",
            "applies_to": "members of the role",
        }
        for role, privs in BUILTIN_ROLES.items()
    ]
    rows += [
        {"kind": "row filter", "rule": predicate, "applies_to": "everyone but managers"}
        for predicate in snap.filters.get(table, [])
    ]
    columns = snap.columns.get(table, [])
    for name, _type, tags in columns:
        for target in (f"{table}.{name}", *(f"tag:{t}" for t in tags)):
            if target in snap.masks:
                rows.append(
                    {
                        "kind": "mask",
                        "rule": f"{name}: {snap.masks[target]} ({target})",
                        "applies_to": "everyone without UNMASK",
                    }
                )
                break
    return rows
