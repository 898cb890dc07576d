"""Dashboards as governed objects: published notebooks with an owner, a description and grants.

``publish`` copies the notebook into ``DAP_HOME/dashboards/`` (what is served is what was
published, not a file someone keeps editing) and records it. Who may open a dashboard is a
``SELECT`` grant on the securable ``dashboard:<name>`` (the colon keeps it apart from schema
names), checked by the same policy as tables:
grants to users, groups or roles, inherited from ``*`` (someone who may read everything may open
every dashboard). The owner always may. Opening a dashboard gives no data by itself: its
queries run as the viewer, under the viewer's own grants, row filters and masks.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Integer, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from ..errors import DapError, QueryRefused
from ..governance.admin import PolicyAdmin
from ..meta.models import Base, Grant, PolicyState, utcnow

if TYPE_CHECKING:
    from ..session import Session, Workspace

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
SECURABLE_PREFIX = "dashboard:"
GRANTEE_KINDS = ("user", "group", "role")


class UnknownDashboard(DapError):
    """No published dashboard by that name."""

    code = "unknown_dashboard"
    http_status = 404


class DashboardRow(Base):
    """A published dashboard; the notebook lives at ``DAP_HOME/dashboards/<notebook>``."""

    __tablename__ = "dashboards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    notebook: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class DashboardInfo:
    name: str
    title: str
    description: str
    owner: str
    path: Path
    sha256: str
    created_at: datetime
    updated_at: datetime
    grants: tuple[str, ...] = ()  # "group:analysts", "user:ann"

    @property
    def securable(self) -> str:
        return securable(self.name)


def securable(name: str) -> str:
    return f"{SECURABLE_PREFIX}{name}"


def dashboards_dir(ws: Workspace) -> Path:
    return ws.settings.home / "dashboards"


def parse_grantee(text: str) -> tuple[str, str]:
    """``group:analysts`` / ``user:ann`` / ``role:viewer``; a bare name is a group."""
    kind, sep, name = text.partition(":")
    if not sep:
        kind, name = "group", text
    if kind not in GRANTEE_KINDS or not name:
        raise DapError(f"grantee {text!r}: use user:NAME, group:NAME or role:NAME")
    return kind, name


def _info(ws: Workspace, row: DashboardRow, grants: Sequence[str] = ()) -> DashboardInfo:
    return DashboardInfo(
        name=row.name,
        title=row.title,
        description=row.description,
        owner=row.owner,
        path=dashboards_dir(ws) / row.notebook,
        sha256=row.sha256,
        created_at=row.created_at,
        updated_at=row.updated_at,
        grants=tuple(grants),
    )


def _title_of(notebook: dict[str, Any], fallback: str) -> str:
    meta = notebook.get("metadata", {})
    dap = meta.get("dap", {}) if isinstance(meta.get("dap"), dict) else {}
    return str(dap.get("title") or meta.get("title") or fallback)


def _may_manage(session: Session, owner: str) -> bool:
    return owner == session.principal.name or session.check("MANAGE_GRANTS", "*").allowed


def publish(
    notebook: str | Path,
    *,
    name: str | None = None,
    description: str = "",
    owner: str | None = None,
    grants: Sequence[str] = (),
    session: Session | None = None,
) -> DashboardInfo:
    """Register ``notebook`` as dashboard ``name`` (default: the file's stem) and grant it.

    Needs CREATE on ``dashboard`` (or ``*``); replacing someone else's dashboard needs
    MANAGE_GRANTS. ``grants`` are ``group:NAME``/``user:NAME``/``role:NAME`` (SELECT on it).
    """
    import nbformat

    if session is None:
        from ..session import default_workspace

        session = default_workspace().session(channel="dashboard")
    ws = session.workspace
    source = Path(notebook)
    if not source.is_file():
        raise DapError(f"no notebook at {source}")
    name = (name or source.stem).lower()
    if not NAME.match(name):
        raise DapError(
            f"dashboard name {name!r}: use lower-case letters, digits, '-' and '_' (max 100)"
        )
    try:
        nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as e:  # nbformat raises several unrelated types for a bad file
        raise DapError(f"{source.name} is not a notebook: {str(e).splitlines()[0][:200]}") from e
    parsed = [parse_grantee(g) for g in grants]
    what = f"publish dashboard {name} ({source.name})"
    with session.audit_change("dashboard_publish", (securable(name),), statement=what):
        _publish(session, name, source, nb, description, owner)
    for kind, grantee in parsed:
        grant(session, name, kind, grantee)
    return _info_with_grants(ws, _row(ws, name))


def _publish(
    session: Session, name: str, source: Path, nb: Any, description: str, owner: str | None
) -> None:
    ws = session.workspace
    session.require("CREATE", "dashboard")
    owner = owner or session.principal.name
    target_dir = dashboards_dir(ws)
    target_dir.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    with ws.meta.session() as s:
        row = s.execute(select(DashboardRow).where(DashboardRow.name == name)).scalar()
        if row is not None and not _may_manage(session, row.owner):
            raise QueryRefused(
                f"{session.principal.name} may not replace dashboard {name}: it belongs to "
                f"{row.owner}"
            )
        tmp = target_dir / f".{name}.ipynb.tmp"
        tmp.write_bytes(data)
        tmp.replace(target_dir / f"{name}.ipynb")
        if row is None:
            row = DashboardRow(name=name, notebook=f"{name}.ipynb")
            s.add(row)
        row.title = _title_of(dict(nb), name)
        row.description = description or row.description or ""
        row.owner = owner
        row.sha256 = hashlib.sha256(data).hexdigest()
        row.updated_at = utcnow()
        s.flush()


def grant(session: Session, name: str, kind: str, grantee: str) -> None:
    """Let ``grantee`` open dashboard ``name`` (its owner or a grant manager may)."""
    _admin_of(session, name, kind).grant("SELECT", securable(name), kind, grantee)


def revoke(session: Session, name: str, kind: str, grantee: str) -> int:
    return _admin_of(session, name, kind).revoke("SELECT", securable(name), kind, grantee)


def _admin_of(session: Session, name: str, kind: str) -> PolicyAdmin:
    """The policy admin, acting for a dashboard's owner too: grants on a dashboard are the
    same grant rows (audited, versioned) as on tables, not a copy of that mechanism."""
    if kind not in GRANTEE_KINDS:
        raise DapError(f"grantee kind {kind!r}: use user, group or role")
    ws = session.workspace
    info = _row(ws, name)
    if not _may_manage(session, info.owner):
        raise QueryRefused(f"{session.principal.name} may not change grants of dashboard {name}")
    return PolicyAdmin(ws.meta, ws.audit, session.principal.name)


def _grants_of(ws: Workspace, name: str) -> list[str]:
    with ws.meta.session() as s:
        rows = s.execute(
            select(Grant).where(Grant.securable == securable(name)).order_by(Grant.id)
        ).scalars()
        return [f"{g.grantee_kind}:{g.grantee}" for g in rows]


def _row(ws: Workspace, name: str) -> DashboardInfo:
    with ws.meta.session() as s:
        row = s.execute(select(DashboardRow).where(DashboardRow.name == name)).scalar()
        if row is None:
            raise UnknownDashboard(f"no dashboard {name!r} is published")
        return _info(ws, row)


def may_open(session: Session, info: DashboardInfo) -> bool:
    return info.owner == session.principal.name or session.check("SELECT", info.securable).allowed


def get(session: Session, name: str) -> DashboardInfo:
    """One dashboard, if the caller may open it (403 otherwise, 404 if there is none)."""
    ws = session.workspace
    info = _row(ws, name)  # an unknown name is a 404, not an attempt on a dashboard
    with session.audit_change("dashboard_view", (info.securable,), statement=f"open {name}"):
        if not may_open(session, info):
            raise QueryRefused(f"{session.principal.name} may not open dashboard {name}: no grant")
    return _info_with_grants(ws, info)


def _info_with_grants(ws: Workspace, info: DashboardInfo) -> DashboardInfo:
    return DashboardInfo(**{**info.__dict__, "grants": tuple(_grants_of(ws, info.name))})


def gallery(session: Session) -> list[DashboardInfo]:
    """The dashboards this principal may open, by title."""
    ws = session.workspace
    with ws.meta.session() as s:
        rows = [_info(ws, r) for r in s.execute(select(DashboardRow)).scalars()]
    with ws.policy.pinned():
        visible = [r for r in rows if may_open(session, r)]
    return sorted(visible, key=lambda d: (d.title.lower(), d.name))


def unpublish(session: Session, name: str) -> None:
    ws = session.workspace
    info = _row(ws, name)
    what = f"unpublish dashboard {name}"
    with session.audit_change("dashboard_unpublish", (info.securable,), statement=what):
        if not _may_manage(session, info.owner):
            raise QueryRefused(f"{session.principal.name} may not remove dashboard {name}")
        with ws.meta.session() as s:
            s.execute(delete(DashboardRow).where(DashboardRow.name == name))
            s.execute(delete(Grant).where(Grant.securable == securable(name)))
            s.execute(update(PolicyState).values(version=PolicyState.version + 1))
        info.path.unlink(missing_ok=True)


def published_notebook(session: Session, name: str) -> tuple[DashboardInfo, bytes]:
    """The published notebook of a dashboard the caller may open, with what was recorded of it.

    A host that serves dashboards to viewers (the hub's dashboard service) asks for it with the
    viewer's own credential, so the grant is checked here, per view, not by the host. The bytes
    are refused if they no longer match the recorded digest: what is served is what was
    published.
    """
    info = get(session, name)
    data = info.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise DapError(f"dashboard {name}: its notebook changed on disk since it was published")
    return info, data


def copy_notebook(info: DashboardInfo, folder: Path) -> Path:
    """The published notebook copied into ``folder`` (Voilà serves from there)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{info.name}.ipynb"
    shutil.copyfile(info.path, target)
    return target
