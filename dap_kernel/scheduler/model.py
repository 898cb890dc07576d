"""What a schedule and a run are: plain records, shared by the store, the API and the doors."""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from ..errors import DapError

FORMATS = ("ipynb", "html", "pdf")
MISSED_POLICIES = ("skip", "catch_up")
# A run's life: queued → running → succeeded | failed (| retrying → running …); a missed
# occurrence under the "skip" policy is recorded as skipped; a cancelled one as cancelled.
FINAL = ("succeeded", "failed", "skipped", "cancelled")
STATUSES = ("queued", "running", "retrying", *FINAL)


class ScheduleError(DapError):
    """A schedule that cannot be saved or run as asked (the message says why)."""

    code = "schedule_error"


class UnknownSchedule(DapError):
    """No such schedule, or not one the caller may see (the two are not told apart)."""

    code = "unknown_schedule"
    http_status = 404


class UnknownRun(DapError):
    code = "unknown_run"
    http_status = 404


# The notebook metadata (under "dap") naming the dashboard a scheduled snapshot was made of.
DASHBOARD_METADATA = "dashboard"


@dataclass(frozen=True)
class ScheduleSpec:
    """What the owner asks for. ``cron`` may be empty: such a schedule runs only when asked,
    after the schedules in ``after`` succeed, or after the pipelines in ``after_pipelines``
    commit."""

    name: str
    notebook: dict[str, Any]  # the notebook itself (nbformat JSON): a snapshot, not a path
    notebook_name: str = "report.ipynb"
    cron: str = ""
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    formats: tuple[str, ...] = ("ipynb", "html")
    recipients: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # schedule ids (the owner's own)
    after_pipelines: tuple[str, ...] = ()
    retention: int = 20  # runs whose outputs are kept
    missed: str = "skip"
    timeout_s: float = 3600.0
    retries: int = 2
    retry_backoff_s: float = 60.0
    # A published dashboard to snapshot instead of ``notebook`` (the caller must be able to
    # open it; its notebook is copied now, as any scheduled notebook is).
    dashboard: str = ""


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    owner: str
    notebook_name: str
    notebook_sha256: str
    cron: str
    timezone: str
    parameters: dict[str, Any]
    formats: tuple[str, ...]
    recipients: tuple[str, ...]
    webhooks: tuple[str, ...]
    after: tuple[str, ...]
    after_pipelines: tuple[str, ...]
    retention: int
    missed: str
    timeout_s: float
    retries: int
    retry_backoff_s: float
    paused: bool
    next_due: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("next_due", "created_at", "updated_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        for key in ("formats", "recipients", "webhooks", "after", "after_pipelines"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """The inverse of :meth:`to_dict` (what a remote client gets back)."""
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        for key in ("next_due", "created_at", "updated_at"):
            values[key] = _time(values[key])
        for key in ("formats", "recipients", "webhooks", "after", "after_pipelines"):
            values[key] = tuple(values[key] or ())
        return cls(**values)


@dataclass(frozen=True)
class Run:
    id: str
    schedule_id: str
    owner: str
    occurrence: str
    trigger: str  # cron | manual | after:<run> | pipeline:<name>:<run> | rerun:<run>
    due_at: datetime
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    parameters: dict[str, Any]
    outputs: dict[str, str]  # format → file path
    error: str
    failed_cell: dict[str, Any] | None
    packages: dict[str, str]
    reads: dict[str, int]  # table → Delta version read
    quality: dict[str, str]  # table → quality badge at the time of the run
    as_recorded: str | None  # the run whose table versions this one re-reads
    notebook_sha256: str
    delivered: dict[str, Any]

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("due_at", "started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["duration_s"] = self.duration_s
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        for key in ("due_at", "started_at", "finished_at"):
            values[key] = _time(values[key])
        for key in ("parameters", "outputs", "packages", "reads", "quality", "delivered"):
            values[key] = dict(values[key] or {})
        return cls(**values)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class ScheduleClient(Protocol):
    """Schedules as a client offers them, in process (:class:`~dap_kernel.scheduler.api.
    Schedules`) or over REST (:class:`~dap_kernel.remote_schedules.HttpSchedules`): the CLI, the
    magics and the lab panel call these and never ask which one they hold."""

    def add(self, spec: ScheduleSpec) -> Schedule: ...

    def list(self, *, everyone: bool = False) -> list[Schedule]: ...

    def get(self, ref: str) -> Schedule: ...

    def update(self, ref: str, /, **changes: Any) -> Schedule: ...

    def pause(self, ref: str) -> Schedule: ...

    def resume(self, ref: str) -> Schedule: ...

    def remove(self, ref: str) -> None: ...

    def history(self, ref: str, *, limit: int = 50) -> builtins.list[Run]: ...

    def run(self, run_id: str) -> Run: ...

    def run_now(self, ref: str, parameters: dict[str, Any] | None = None) -> Run: ...

    def rerun(self, run_id: str, *, as_recorded: bool = False) -> Run: ...

    def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run: ...

    def output_bytes(self, run_id: str, fmt: str) -> bytes: ...

    def log(self, run_id: str) -> str: ...
