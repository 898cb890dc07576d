"""Administration of identities and policies: users, groups, roles, grants, filters, masks.

Every change bumps the policy version, so each process reloads its policy snapshot before the
next query, and is recorded in the audit log.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select, text, update

from ..errors import DapError
from ..meta import MetaStore
from ..meta.models import (
    CatalogTable,
    ColumnMask,
    Connector,
    Grant,
    Membership,
    PolicyState,
    RowFilter,
)
from ..meta.models import Principal as PrincipalRow
from .audit import AuditEvent, AuditLog
from .enforce import MASKS, parse_policy_sql
from .policy import BUILTIN_ROLES, PRIVILEGES

GRANTEE_KINDS = ("user", "group", "role")


class PolicyAdmin:
    def __init__(self, meta: MetaStore, audit: AuditLog, actor: str) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor

    def _require_securable(self, securable: str) -> None:
        """A table or column named in a rule must exist: a typo would otherwise protect
        nothing, silently. ``*`` and schemas are accepted as they are."""
        if securable.startswith("dashboard:"):
            name = securable.removeprefix("dashboard:")
            with self.meta.session() as s:
                found = s.execute(
                    text("SELECT 1 FROM dashboards WHERE name = :name"), {"name": name}
                ).scalar()
            if found is None:
                raise DapError(f"dashboard {name} is not published")
            return
        if securable.startswith("model:"):  # may be granted before the model is registered
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", securable.removeprefix("model:")):
                raise DapError(f"invalid model name in {securable!r}")
            return
        if securable.startswith("connector:"):
            with self.meta.session() as s:
                name = securable.removeprefix("connector:")
                if s.execute(select(Connector).where(Connector.name == name)).scalar() is None:
                    raise DapError(f"connector {name} does not exist")
            return
        parts = securable.split(".")
        if securable == "*" or len(parts) == 1:
            return
        if len(parts) > 3:
            raise DapError(
                f"invalid securable {securable!r}: use *, SCHEMA, SCHEMA.TABLE[.COLUMN], "
                "connector:NAME, dashboard:NAME or model:NAME"
            )
        with self.meta.session() as s:
            table = s.execute(
                select(CatalogTable).where(
                    CatalogTable.schema_name == parts[0], CatalogTable.name == parts[1]
                )
            ).scalar()
            if table is None:
                raise DapError(f"table {parts[0]}.{parts[1]} is not in the catalog")
            if len(parts) == 3 and parts[2] not in {c.name for c in table.columns}:
                raise DapError(f"{parts[0]}.{parts[1]} has no column {parts[2]!r}")

    def _changed(self, session: Any, what: str) -> None:
        session.execute(update(PolicyState).values(version=PolicyState.version + 1))
        self.audit.record(
            AuditEvent(principal=self.actor, action="admin", decision="allowed", statement=what)
        )

    def set_multi_user(self, enabled: bool = True) -> None:
        """Deny by default: from now on only grants let anyone read anything."""
        with self.meta.session() as s:
            s.execute(update(PolicyState).values(multi_user=enabled))
            if enabled:
                self._ensure_member(s, "role", "admin", "user", self.actor)
            self._changed(s, f"multi-user {'on' if enabled else 'off'}")

    def add_user(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        with self.meta.session() as s:
            row = s.execute(select(PrincipalRow).where(PrincipalRow.name == name)).scalar()
            if row is None:
                s.add(PrincipalRow(name=name, attributes=dict(attributes or {})))
            else:
                row.attributes = {**(row.attributes or {}), **(attributes or {})}
            self._changed(s, f"user {name} {attributes or {}}")

    def sync_attributes(self, name: str, values: dict[str, str | None]) -> bool:
        """Set the given attributes of user ``name`` (``None`` removes one), creating the user.

        Nothing is written when nothing differs: an identity provider's claims come at every
        login and refresh, and a policy version bump empties every process's policy cache.
        Returns whether anything changed.
        """
        with self.meta.session() as s:
            row = s.execute(select(PrincipalRow).where(PrincipalRow.name == name)).scalar()
            old = dict(row.attributes or {}) if row is not None else {}
            new = {k: v for k, v in {**old, **values}.items() if v is not None}
            if row is not None and new == old:
                return False
            if row is None:
                s.add(PrincipalRow(name=name, attributes=new))
            else:
                row.attributes = new
            changed = sorted(k for k in values if old.get(k) != new.get(k))
            self._changed(
                s, f"user {name}: attributes {', '.join(changed)} from the identity provider"
            )
            return True

    def add_member(self, parent_kind: str, parent: str, member_kind: str, member: str) -> None:
        """Put a user or group into a group or role (``group`` → ``group`` nests)."""
        if parent_kind not in ("group", "role") or member_kind not in ("user", "group"):
            raise DapError("members are users or groups; parents are groups or roles")
        with self.meta.session() as s:
            self._ensure_member(s, parent_kind, parent, member_kind, member)
            self._changed(s, f"{member_kind} {member} member of {parent_kind} {parent}")

    @staticmethod
    def _ensure_member(s: Any, parent_kind: str, parent: str, kind: str, member: str) -> None:
        exists = s.execute(
            select(Membership).where(
                Membership.parent_kind == parent_kind,
                Membership.parent == parent,
                Membership.member_kind == kind,
                Membership.member == member,
            )
        ).scalar()
        if exists is None:
            s.add(
                Membership(parent_kind=parent_kind, parent=parent, member_kind=kind, member=member)
            )

    def grant(self, privilege: str, securable: str, grantee_kind: str, grantee: str) -> None:
        privilege = privilege.upper()
        if privilege not in (*PRIVILEGES, "ALL"):
            raise DapError(f"unknown privilege {privilege}: use {', '.join(PRIVILEGES)} or ALL")
        if grantee_kind not in GRANTEE_KINDS:
            raise DapError(f"grantee must be one of {', '.join(GRANTEE_KINDS)}")
        if grantee_kind == "role" and grantee in BUILTIN_ROLES and grantee == "admin":
            raise DapError("the admin role already holds every privilege")
        self._require_securable(securable)
        with self.meta.session() as s:
            exists = s.execute(
                select(Grant).where(
                    Grant.privilege == privilege,
                    Grant.securable == securable,
                    Grant.grantee_kind == grantee_kind,
                    Grant.grantee == grantee,
                )
            ).scalar()
            if exists is None:
                s.add(
                    Grant(
                        privilege=privilege,
                        securable=securable,
                        grantee_kind=grantee_kind,
                        grantee=grantee,
                    )
                )
            self._changed(s, f"GRANT {privilege} ON {securable} TO {grantee_kind} {grantee}")

    def revoke(self, privilege: str, securable: str, grantee_kind: str, grantee: str) -> int:
        with self.meta.session() as s:
            result = s.execute(
                delete(Grant).where(
                    Grant.privilege == privilege.upper(),
                    Grant.securable == securable,
                    Grant.grantee_kind == grantee_kind,
                    Grant.grantee == grantee,
                )
            )
            self._changed(s, f"REVOKE {privilege} ON {securable} FROM {grantee_kind} {grantee}")
            return int(getattr(result, "rowcount", 0) or 0)

    def add_row_filter(self, table: str, predicate: str, name: str = "") -> None:
        """``predicate`` may use current_user(), is_member('g'), current_user_attr('k')."""
        parse_policy_sql(predicate)
        if len(table.split(".")) != 2:
            raise DapError(f"a row filter attaches to SCHEMA.TABLE, not {table!r}")
        self._require_securable(table)
        with self.meta.session() as s:
            s.add(
                RowFilter(table_name=table, name=name or f"filter on {table}", predicate=predicate)
            )
            self._changed(s, f"row filter on {table}: {predicate}")

    def set_mask(self, target: str, mask: str) -> None:
        """``target`` is ``schema.table.column`` or ``tag:NAME``."""
        if mask not in MASKS and not mask.startswith("sql:"):
            raise DapError(f"unknown mask {mask!r}: use {', '.join(MASKS)} or sql:EXPRESSION")
        if mask.startswith("sql:"):
            parse_policy_sql(mask[4:].replace("{col}", "x"))
        if not target.startswith("tag:"):
            if len(target.split(".")) != 3:
                raise DapError(f"a mask attaches to SCHEMA.TABLE.COLUMN or tag:TAG, not {target!r}")
            self._require_securable(target)
        with self.meta.session() as s:
            row = s.execute(select(ColumnMask).where(ColumnMask.target == target)).scalar()
            if row is None:
                s.add(ColumnMask(target=target, mask=mask))
            else:
                row.mask = mask
            self._changed(s, f"mask {target}: {mask}")
