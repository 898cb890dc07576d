"""Schedules and runs in the metadata database, and the leases on runs.

Two schedulers (two ``dap serve`` processes, or the service and a ``dap schedule run``) share
one database. An occurrence becomes a run row once: ``(schedule_id, occurrence)`` is unique,
so the second insert fails and that scheduler moves on. A run is executed by whoever holds its
lease: claiming is one conditional UPDATE (queued, or running with an expired lease), renewed
by heartbeats while the run lasts, and finishing checks the lease and attempt too, so a
scheduler that was presumed dead cannot overwrite the result of the one that took over.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..meta import MetaStore
from ..meta.models import Base, utcnow
from ..run_reads import RunReads
from .model import (
    FINAL,
    Run,
    Schedule,
    ScheduleError,
    ScheduleSpec,
    UnknownRun,
    UnknownSchedule,
)


class ScheduleRecord(Base):
    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    notebook_name: Mapped[str] = mapped_column(String(300))
    notebook: Mapped[str] = deferred(mapped_column(Text))
    notebook_sha256: Mapped[str] = mapped_column(String(64))
    cron: Mapped[str | None] = mapped_column(String(200), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhooks: Mapped[list[str]] = mapped_column(JSON, default=list)
    after: Mapped[list[str]] = mapped_column(JSON, default=list)
    after_pipelines: Mapped[list[str]] = mapped_column(JSON, default=list)
    pipeline_cursor: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    retention: Mapped[int] = mapped_column(Integer, default=20)
    missed: Mapped[str] = mapped_column(String(20), default="skip")
    timeout_s: Mapped[float] = mapped_column(Float, default=3600.0)
    retries: Mapped[int] = mapped_column(Integer, default=2)
    retry_backoff_s: Mapped[float] = mapped_column(Float, default=60.0)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunRecord(Base):
    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "occurrence"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("schedules.id", ondelete="CASCADE")
    )
    owner: Mapped[str] = mapped_column(String(200))
    occurrence: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    failed_cell: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    packages: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    quality: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    as_recorded: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notebook_sha256: Mapped[str] = mapped_column(String(64), default="")
    delivered: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


_RUNS: Table = cast(Table, RunRecord.__table__)
_SCHEDULES: Table = cast(Table, ScheduleRecord.__table__)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def notebook_sha256(notebook: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(notebook, sort_keys=True).encode()).hexdigest()


def _schedule(row: ScheduleRecord) -> Schedule:
    return Schedule(
        id=row.id,
        name=row.name,
        owner=row.owner,
        notebook_name=row.notebook_name,
        notebook_sha256=row.notebook_sha256,
        cron=row.cron or "",
        timezone=row.timezone,
        parameters=dict(row.parameters or {}),
        formats=tuple(row.formats or ()),
        recipients=tuple(row.recipients or ()),
        webhooks=tuple(row.webhooks or ()),
        after=tuple(row.after or ()),
        after_pipelines=tuple(row.after_pipelines or ()),
        retention=row.retention,
        missed=row.missed,
        timeout_s=row.timeout_s,
        retries=row.retries,
        retry_backoff_s=row.retry_backoff_s,
        paused=row.paused,
        next_due=_aware(row.next_due),
        created_at=cast(datetime, _aware(row.created_at)),
        updated_at=cast(datetime, _aware(row.updated_at)),
    )


class ScheduleStore:
    """Rows only: who may do what is decided in :mod:`.api`, when in :mod:`.scheduler`."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self.reads = RunReads(meta)

    # -- schedules ---------------------------------------------------------------------------

    def create(
        self, owner: str, spec: ScheduleSpec, *, cron: str, next_due: datetime | None
    ) -> Schedule:
        with self.meta.session() as s:
            exists = s.scalar(
                select(ScheduleRecord.id).where(
                    ScheduleRecord.owner == owner, ScheduleRecord.name == spec.name
                )
            )
            if exists is not None:
                raise ScheduleError(f"you already have a schedule named {spec.name!r} ({exists})")
            row = ScheduleRecord(
                id="s" + secrets.token_hex(5),
                name=spec.name,
                owner=owner,
                notebook_name=spec.notebook_name,
                notebook=json.dumps(spec.notebook),
                notebook_sha256=notebook_sha256(spec.notebook),
                cron=cron or None,
                timezone=spec.timezone,
                parameters=dict(spec.parameters),
                formats=list(spec.formats),
                recipients=list(spec.recipients),
                webhooks=list(spec.webhooks),
                after=list(spec.after),
                after_pipelines=list(spec.after_pipelines),
                pipeline_cursor={},
                retention=spec.retention,
                missed=spec.missed,
                timeout_s=spec.timeout_s,
                retries=spec.retries,
                retry_backoff_s=spec.retry_backoff_s,
                paused=False,
                next_due=next_due,
            )
            s.add(row)
            s.flush()
            return _schedule(row)

    def get(self, schedule_id: str) -> Schedule:
        with self.meta.session() as s:
            row = s.get(ScheduleRecord, schedule_id)
            if row is None:
                raise UnknownSchedule(f"no schedule {schedule_id}")
            return _schedule(row)

    def find(self, owner: str, name_or_id: str) -> Schedule | None:
        with self.meta.session() as s:
            row = s.get(ScheduleRecord, name_or_id) or s.scalar(
                select(ScheduleRecord).where(
                    ScheduleRecord.owner == owner, ScheduleRecord.name == name_or_id
                )
            )
            return _schedule(row) if row is not None else None

    def notebook(self, schedule_id: str) -> dict[str, Any]:
        with self.meta.session() as s:
            text = s.scalar(select(ScheduleRecord.notebook).where(ScheduleRecord.id == schedule_id))
        if text is None:
            raise UnknownSchedule(f"no schedule {schedule_id}")
        return cast(dict[str, Any], json.loads(text))

    def list(self, owner: str | None = None) -> builtins.list[Schedule]:
        with self.meta.session() as s:
            query = select(ScheduleRecord).order_by(ScheduleRecord.created_at)
            if owner is not None:
                query = query.where(ScheduleRecord.owner == owner)
            return [_schedule(r) for r in s.scalars(query)]

    def update(self, schedule_id: str, **values: Any) -> Schedule:
        if "notebook" in values:
            values["notebook_sha256"] = notebook_sha256(values["notebook"])
            values["notebook"] = json.dumps(values["notebook"])
        with self.meta.session() as s:
            row = s.get(ScheduleRecord, schedule_id)
            if row is None:
                raise UnknownSchedule(f"no schedule {schedule_id}")
            for key, value in values.items():
                setattr(row, key, list(value) if isinstance(value, tuple) else value)
            row.updated_at = utcnow()
            s.flush()
            return _schedule(row)

    def advance(self, schedule_id: str, seen: datetime | None, new: datetime | None) -> bool:
        """Move the cron cursor from ``seen`` to ``new``; False if another scheduler did."""
        with self.meta.connection() as con:
            cond = (
                _SCHEDULES.c.next_due.is_(None) if seen is None else _SCHEDULES.c.next_due == seen
            )
            done = con.execute(
                update(_SCHEDULES).where(_SCHEDULES.c.id == schedule_id, cond).values(next_due=new)
            )
        return bool(done.rowcount)

    def delete(self, schedule_id: str) -> None:
        with self.meta.session() as s:
            for run in s.scalars(select(RunRecord).where(RunRecord.schedule_id == schedule_id)):
                s.delete(run)
            row = s.get(ScheduleRecord, schedule_id)
            if row is not None:
                s.delete(row)

    def pipeline_cursor(self, schedule_id: str) -> dict[str, str]:
        """The last pipeline run each pipeline trigger of the schedule has seen."""
        with self.meta.session() as s:
            value = s.scalar(
                select(ScheduleRecord.pipeline_cursor).where(ScheduleRecord.id == schedule_id)
            )
        return dict(value or {})

    def dependents(self, schedule_id: str) -> builtins.list[Schedule]:
        """Schedules that run after ``schedule_id`` succeeds (JSON lists: filtered here)."""
        return [x for x in self.list() if schedule_id in x.after]

    # -- runs --------------------------------------------------------------------------------

    def add_run(
        self,
        schedule: Schedule,
        *,
        occurrence: str,
        trigger: str,
        due_at: datetime,
        parameters: Mapping[str, Any],
        status: str = "queued",
        as_recorded: str | None = None,
    ) -> Run | None:
        """A new run of ``schedule`` for ``occurrence``, or None if one exists already."""
        row = RunRecord(
            id="r" + secrets.token_hex(6),
            schedule_id=schedule.id,
            owner=schedule.owner,
            occurrence=occurrence,
            trigger=trigger,
            due_at=due_at,
            status=status,
            attempt=0,
            not_before=due_at,
            parameters=dict(parameters),
            outputs={},
            error="",
            packages={},
            quality={},
            as_recorded=as_recorded,
            notebook_sha256=schedule.notebook_sha256,
            delivered={},
            finished_at=utcnow() if status in FINAL else None,
        )
        try:
            with self.meta.session() as s:
                s.add(row)
                s.flush()
                run_id = row.id
        except IntegrityError:
            return None
        return self.run(run_id)

    def run(self, run_id: str) -> Run:
        with self.meta.session() as s:
            row = s.get(RunRecord, run_id)
            if row is None:
                raise UnknownRun(f"no run {run_id}")
            return self._run(row)

    def _run(self, row: RunRecord) -> Run:
        return Run(
            id=row.id,
            schedule_id=row.schedule_id,
            owner=row.owner,
            occurrence=row.occurrence,
            trigger=row.trigger,
            due_at=cast(datetime, _aware(row.due_at)),
            status=row.status,
            attempt=row.attempt,
            started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at),
            parameters=dict(row.parameters or {}),
            outputs=dict(row.outputs or {}),
            error=row.error or "",
            failed_cell=row.failed_cell,
            packages=dict(row.packages or {}),
            reads=self.reads.reads(row.id) if row.status in FINAL else {},
            quality=dict(row.quality or {}),
            as_recorded=row.as_recorded,
            notebook_sha256=row.notebook_sha256,
            delivered=dict(row.delivered or {}),
        )

    def runs(self, schedule_id: str, *, limit: int = 50) -> builtins.list[Run]:
        """Newest first."""
        with self.meta.session() as s:
            rows = s.scalars(
                select(RunRecord)
                .where(RunRecord.schedule_id == schedule_id)
                .order_by(RunRecord.due_at.desc(), RunRecord.created_at.desc())
                .limit(limit)
            ).all()
            return [self._run(r) for r in rows]

    def runnable(self, now: datetime, *, limit: int) -> builtins.list[str]:
        """Runs a scheduler may claim now: due and waiting, or running on a lapsed lease."""
        with self.meta.connection() as con:
            rows = con.execute(
                select(_RUNS.c.id)
                .where(
                    or_(
                        (_RUNS.c.status.in_(("queued", "retrying"))) & (_RUNS.c.not_before <= now),
                        (_RUNS.c.status == "running") & (_RUNS.c.lease_expires < now),
                    )
                )
                .order_by(_RUNS.c.not_before)
                .limit(limit)
            ).all()
        return [r.id for r in rows]

    def claim(self, run_id: str, holder: str, now: datetime, lease_s: float) -> int | None:
        """Take the lease on ``run_id``; the attempt number it runs as, or None if taken."""
        with self.meta.connection() as con:
            done = con.execute(
                update(_RUNS)
                .where(
                    _RUNS.c.id == run_id,
                    or_(
                        (_RUNS.c.status.in_(("queued", "retrying"))) & (_RUNS.c.not_before <= now),
                        (_RUNS.c.status == "running") & (_RUNS.c.lease_expires < now),
                    ),
                )
                .values(
                    status="running",
                    attempt=_RUNS.c.attempt + 1,
                    lease_owner=holder,
                    lease_expires=now + timedelta(seconds=lease_s),
                    started_at=now,
                )
            )
            if not done.rowcount:
                return None
            attempt = con.execute(select(_RUNS.c.attempt).where(_RUNS.c.id == run_id)).scalar()
        return int(attempt or 1)

    def heartbeat(self, run_ids: Iterable[str], holder: str, now: datetime, lease_s: float) -> None:
        ids = list(run_ids)
        if not ids:
            return
        with self.meta.connection() as con:
            con.execute(
                update(_RUNS)
                .where(
                    _RUNS.c.id.in_(ids), _RUNS.c.lease_owner == holder, _RUNS.c.status == "running"
                )
                .values(lease_expires=now + timedelta(seconds=lease_s))
            )

    def finish(self, run_id: str, holder: str, attempt: int, status: str, **values: Any) -> bool:
        """Record the outcome if ``holder`` still holds the lease of this attempt."""
        with self.meta.connection() as con:
            done = con.execute(
                update(_RUNS)
                .where(
                    _RUNS.c.id == run_id,
                    _RUNS.c.lease_owner == holder,
                    _RUNS.c.attempt == attempt,
                    _RUNS.c.status == "running",
                )
                .values(status=status, lease_owner=None, lease_expires=None, **values)
            )
        return bool(done.rowcount)

    def set_run(self, run_id: str, **values: Any) -> None:
        with self.meta.connection() as con:
            con.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(**values))

    def cancel_waiting(self, schedule_id: str) -> int:
        """Cancel the runs of a schedule that have not started (a paused or removed one)."""
        with self.meta.connection() as con:
            done = con.execute(
                update(_RUNS)
                .where(
                    _RUNS.c.schedule_id == schedule_id,
                    _RUNS.c.status.in_(("queued", "retrying")),
                )
                .values(status="cancelled", finished_at=utcnow(), error="the schedule was paused")
            )
        return int(done.rowcount)
