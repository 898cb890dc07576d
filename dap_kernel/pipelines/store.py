"""Pipelines, runs and watermarks in the metadata database.

A run row is written when the run starts (status ``running``, with the process id and host)
and finished when it ends, so a run whose process was killed stays visible as ``running`` until
the next run of the same pipeline notices the process is gone and marks it ``failed``.

The watermark (how far incremental loads got) is advanced only after the load committed. The
table's own Delta log is the authority on what was committed (see :mod:`.load`); this row is
the fast path and is repaired from the log when a crash left it behind.
"""

from __future__ import annotations

import base64
import builtins
import decimal
import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from ..errors import DapError
from ..governance.secret_refs import redact_spec, redact_text
from ..meta import MetaStore
from ..meta.models import Base, utcnow

STALE_AFTER = timedelta(minutes=5)  # a run on another host without a heartbeat for this long

# Runs executing in this process (a server runs several at once on its threads): a run row with
# this process's id is alive only while it is in here.
_active: set[str] = set()
_active_lock = threading.Lock()


def mark_active(run_id: str, active: bool) -> None:
    with _active_lock:
        if active:
            _active.add(run_id)
        else:
            _active.discard(run_id)


def _is_active(run_id: str) -> bool:
    with _active_lock:
        return run_id in _active


class UnknownPipeline(DapError):
    code = "unknown_pipeline"
    http_status = 404


class UnknownRun(DapError):
    code = "unknown_run"
    http_status = 404


class PipelineRecord(Base):
    """A registered pipeline: its spec as written (validated), where relative paths start."""

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    base_dir: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(String(400), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PipelineRun(Base):
    """One run of a pipeline, from start to end (or to the crash found later)."""

    __tablename__ = "pipeline_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), unique=True)
    pipeline: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    principal: Mapped[str] = mapped_column(String(200), default="")
    target: Mapped[str] = mapped_column(String(400), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pid: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str] = mapped_column(String(200), default="")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    table_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    load_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    watermark: Mapped[Any] = mapped_column(JSON, nullable=True)


class PipelineWatermark(Base):
    """How far a pipeline's incremental loads got, and the sequence number of its last load."""

    __tablename__ = "pipeline_watermarks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(200), unique=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    load_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    run_id: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


TABLES = ("pipelines", "pipeline_runs", "pipeline_watermarks")


# -- watermark values survive JSON with their type ---------------------------------------------


def encode_value(value: Any) -> Any:
    """A watermark as JSON that decodes to the same Python type (datetimes stay datetimes)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, decimal.Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": base64.b64encode(value).decode()}
    if isinstance(value, (list, dict)):
        return {"type": "json", "value": value}
    return {"type": "str", "value": str(value)}


def decode_value(data: Any) -> Any:
    if not isinstance(data, dict) or "type" not in data:
        return data
    kind, value = data["type"], data.get("value")
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    if kind == "decimal":
        return decimal.Decimal(str(value))
    if kind == "bytes":
        return base64.b64decode(str(value))
    return value


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; every timestamp DAP writes is UTC.
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class RunResult:
    """One run: what it read, wrote and quarantined, how long each step took, how it ended."""

    run_id: str
    pipeline: str
    status: str
    target: str = ""
    principal: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    error: str = ""
    table_version: int | None = None
    watermark: Any = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["watermark"] = None if self.watermark is None else str(self.watermark)
        data["duration_s"] = self.duration_s
        return data

    def summary(self) -> str:
        """One line for people: ``run 3f2a… succeeded: 120 read, 118 written, 2 quarantined``."""
        line = (
            f"run {self.run_id} {self.status}: {self.rows_read:,} read, "
            f"{self.rows_written:,} written, {self.rows_quarantined:,} quarantined"
        )
        if self.target:
            line += f" → {self.target}"
            if self.table_version is not None:
                line += f" (version {self.table_version})"
        return line


def _run(row: PipelineRun) -> RunResult:
    return RunResult(
        run_id=row.run_id,
        pipeline=row.pipeline,
        status=row.status,
        target=row.target,
        principal=row.principal,
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at),
        rows_read=row.rows_read,
        rows_written=row.rows_written,
        rows_quarantined=row.rows_quarantined,
        steps=dict(row.steps or {}),
        error=redact_text(row.error),  # written scrubbed; a last guard for older rows
        table_version=row.table_version,
        watermark=decode_value(row.watermark),
    )


@dataclass(frozen=True)
class PipelineInfo:
    """A registered pipeline as anyone allowed to see it sees it: ``spec`` has every inline
    credential redacted (like a connector's URL). ``definition`` is the spec as stored, for
    running it, never for showing."""

    name: str
    description: str
    spec: dict[str, Any]
    base_dir: str
    target: str
    owner: str
    created_at: datetime
    updated_at: datetime
    depends_on: list[str]
    definition: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _info(row: PipelineRecord) -> PipelineInfo:
    return PipelineInfo(
        name=row.name,
        description=redact_text(row.description),
        spec=redact_spec(dict(row.spec or {})),
        definition=dict(row.spec or {}),
        base_dir=row.base_dir,
        target=row.target,
        owner=row.owner,
        created_at=_aware(row.created_at) or utcnow(),
        updated_at=_aware(row.updated_at) or utcnow(),
        depends_on=list((row.spec or {}).get("depends_on") or []),
    )


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that id
    # A zombie (killed, not yet reaped by its parent) is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class PipelineStore:
    """Registered pipelines, their run history and their watermarks."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    # -- pipelines --------------------------------------------------------------------------

    def register(
        self, spec: dict[str, Any], *, base_dir: str, owner: str, target: str
    ) -> PipelineInfo:
        """Add or update a pipeline by name (the latest definition wins)."""
        name = spec["name"]
        with self.meta.session() as s:
            row = s.execute(
                select(PipelineRecord).where(PipelineRecord.name == name)
            ).scalar_one_or_none()
            if row is None:
                row = PipelineRecord(name=name, owner=owner, created_at=utcnow())
                s.add(row)
            row.spec, row.base_dir, row.target = spec, base_dir, target
            row.description = str(spec.get("description") or "")
            row.updated_at = utcnow()
            s.flush()
            return _info(row)

    def get(self, name: str) -> PipelineInfo:
        with self.meta.session() as s:
            row = s.execute(
                select(PipelineRecord).where(PipelineRecord.name == name)
            ).scalar_one_or_none()
            if row is None:
                raise UnknownPipeline(f"pipeline {name!r} is not registered")
            return _info(row)

    def find(self, name: str) -> PipelineInfo | None:
        try:
            return self.get(name)
        except UnknownPipeline:
            return None

    def list(self) -> builtins.list[PipelineInfo]:
        with self.meta.session() as s:
            rows = s.execute(select(PipelineRecord).order_by(PipelineRecord.name)).scalars()
            return [_info(r) for r in rows]

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, run_id: str, pipeline: str, *, principal: str, target: str) -> RunResult:
        now = utcnow()
        with self.meta.session() as s:
            row = PipelineRun(
                run_id=run_id,
                pipeline=pipeline,
                status="running",
                principal=principal,
                target=target,
                started_at=now,
                heartbeat_at=now,
                pid=os.getpid(),
                host=socket.gethostname(),
                steps={},
                error="",
            )
            s.add(row)
            s.flush()
            return _run(row)

    def update_run(self, run_id: str, **values: Any) -> None:
        """Progress of a running run (counts, step durations); also a heartbeat."""
        if "watermark" in values:
            values["watermark"] = encode_value(values["watermark"])
        with self.meta.session() as s:
            row = self._run_row(s, run_id)
            for key, value in values.items():
                setattr(row, key, value)
            row.heartbeat_at = utcnow()

    def heartbeat(self, run_id: str) -> None:
        self.update_run(run_id)

    def finish_run(self, run_id: str, status: str, *, error: str = "", **values: Any) -> RunResult:
        self.update_run(run_id, status=status, error=error, finished_at=utcnow(), **values)
        return self.run(run_id)

    def run(self, run_id: str) -> RunResult:
        with self.meta.session() as s:
            return _run(self._run_row(s, run_id))

    def runs(
        self, pipeline: str | None = None, *, status: str | None = None, limit: int = 50
    ) -> builtins.list[RunResult]:
        """Newest first."""
        with self.meta.session() as s:
            query = select(PipelineRun).order_by(PipelineRun.id.desc()).limit(limit)
            if pipeline:
                query = query.where(PipelineRun.pipeline == pipeline)
            if status:
                query = query.where(PipelineRun.status == status)
            return [_run(r) for r in s.execute(query).scalars()]

    def latest(self, pipeline: str) -> RunResult | None:
        found = self.runs(pipeline, limit=1)
        return found[0] if found else None

    def reap(self, pipeline: str) -> tuple[builtins.list[RunResult], builtins.list[RunResult]]:
        """Mark runs whose process died as failed; return (reaped, still running elsewhere)."""
        host = socket.gethostname()
        now = utcnow()
        reaped: builtins.list[RunResult] = []
        alive: builtins.list[RunResult] = []
        with self.meta.session() as s:
            rows = s.execute(
                select(PipelineRun).where(
                    PipelineRun.pipeline == pipeline, PipelineRun.status == "running"
                )
            ).scalars()
            for row in rows:
                beat = _aware(row.heartbeat_at) or now
                if row.host == host:
                    if row.pid == os.getpid():
                        dead = not _is_active(row.run_id)
                    else:
                        dead = not process_alive(row.pid)
                else:
                    dead = now - beat > STALE_AFTER
                if dead:
                    row.status = "failed"
                    row.finished_at = now
                    row.error = (
                        f"the process running it (pid {row.pid} on {row.host}) stopped before "
                        "the run finished; nothing it had not committed was kept"
                    )
                    reaped.append(_run(row))
                else:
                    alive.append(_run(row))
        return reaped, alive

    @staticmethod
    def _run_row(s: Any, run_id: str) -> PipelineRun:
        row: PipelineRun | None = s.execute(
            select(PipelineRun).where(PipelineRun.run_id == run_id)
        ).scalar_one_or_none()
        if row is None:
            raise UnknownRun(f"run {run_id!r} does not exist")
        return row

    # -- watermarks -------------------------------------------------------------------------

    def watermark(self, pipeline: str) -> tuple[Any, int]:
        """(watermark, sequence number of the last committed load); (None, 0) before any."""
        with self.meta.session() as s:
            row = s.execute(
                select(PipelineWatermark).where(PipelineWatermark.pipeline == pipeline)
            ).scalar_one_or_none()
            if row is None:
                return None, 0
            return decode_value(row.value), int(row.load_seq)

    def set_watermark(self, pipeline: str, value: Any, load_seq: int, run_id: str) -> None:
        with self.meta.session() as s:
            row = s.execute(
                select(PipelineWatermark).where(PipelineWatermark.pipeline == pipeline)
            ).scalar_one_or_none()
            if row is None:
                row = PipelineWatermark(pipeline=pipeline)
                s.add(row)
            row.value, row.load_seq, row.run_id = encode_value(value), load_seq, run_id
            row.updated_at = utcnow()
