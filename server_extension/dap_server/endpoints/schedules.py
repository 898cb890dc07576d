"""Scheduled reports and their runs (REST ``schedules``, ``schedule-runs``).

Every rule lives in :class:`dap_kernel.scheduler.api.Schedules`, the same object the CLI, the
magics and the lab panel use: who sees which schedule (anyone else's is unknown, 404), who may
run it (its owner), what a spec may hold. These handlers only parse, call and format.

Runs are under ``schedule-runs/…``, not ``runs/…``: that path belongs to pipeline runs.

API-key scopes: reading needs ``read-catalog``; starting, re-running, pausing, resuming and
removing need ``query``; adding and changing a schedule need ``admin``, as registering a
pipeline does — a schedule is standing authority (it runs as its owner, with a fresh key,
for as long as it exists), so a key that may only query cannot make itself one, and a report's
own run key (``query``, ``read-catalog``) cannot plant another report.

A run's outputs are the owner's data and the notebook author's content: they are answered as
downloads or, for HTML, under a sandboxing Content-Security-Policy, so a report's markup never
runs script on the DAP origin.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from dap_kernel.scheduler.api import Schedules
from dap_kernel.scheduler.model import Run, Schedule, ScheduleSpec

from ..api import Call, RawBody, router
from ..models import QueryParams, Request, Timestamp
from .exports import disposition

TAG = "schedules"
RUNS = "schedule-runs"
# What a browser may do with a report's HTML: show it, styled, with inline images; nothing else
# (no script, no forms, no requests, its own opaque origin).
HTML_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CONTENT_TYPES = {
    "ipynb": "application/x-ipynb+json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


class ScheduleOut(BaseModel):
    """A schedule as :meth:`dap_kernel.scheduler.model.Schedule.to_dict` gives it."""

    id: str
    name: str
    owner: str
    notebook_name: str
    notebook_sha256: str
    cron: str = Field(description="Empty: runs only when asked or after other runs.")
    timezone: str
    parameters: dict[str, Any]
    formats: list[str]
    recipients: list[str]
    webhooks: list[str]
    after: list[str] = Field(description="Schedules (ids) whose success starts this one.")
    after_pipelines: list[str]
    retention: int
    missed: str
    timeout_s: float
    retries: int
    retry_backoff_s: float
    paused: bool
    next_due: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class ScheduleRunOut(BaseModel):
    """A run as :meth:`dap_kernel.scheduler.model.Run.to_dict` gives it; ``outputs`` are the
    paths (under this API) to download them from."""

    id: str
    schedule_id: str
    owner: str
    occurrence: str
    trigger: str = Field(description="cron, manual, after:<run>, pipeline:<name>:<run>, …")
    due_at: Timestamp
    status: Literal["queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled"]
    attempt: int
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_s: float | None
    parameters: dict[str, Any]
    outputs: dict[str, str] = Field(description="Format → its path under /dap/api/v1.")
    error: str
    failed_cell: dict[str, Any] | None
    packages: dict[str, str]
    reads: dict[str, int] = Field(description="Table → the Delta version the run read.")
    quality: dict[str, str]
    as_recorded: str | None
    notebook_sha256: str
    delivered: dict[str, Any]


class ScheduleRunList(BaseModel):
    runs: list[ScheduleRunOut]


class Notebook(BaseModel):
    """The notebook a schedule runs (nbformat JSON), as saved with it."""

    model_config = ConfigDict(extra="allow")

    cells: list[dict[str, Any]]
    metadata: dict[str, Any]
    nbformat: int
    nbformat_minor: int


class ScheduleCreate(Request):
    """A :class:`dap_kernel.scheduler.model.ScheduleSpec`; what each field may hold is checked
    by the core, the same for every door."""

    name: str
    notebook: dict[str, Any] = Field(
        default_factory=dict, description="The notebook itself (nbformat JSON)."
    )
    dashboard: str = Field(
        default="", description="Or a published dashboard whose notebook to snapshot."
    )
    notebook_name: str = "report.ipynb"
    cron: str = Field(default="", description="Five fields, or empty: run only when asked.")
    timezone: str = "UTC"
    parameters: dict[str, Any] = Field(default_factory=dict)
    formats: list[str] = Field(default_factory=lambda: ["ipynb", "html"])
    recipients: list[str] = Field(default_factory=list)
    webhooks: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    after_pipelines: list[str] = Field(default_factory=list)
    retention: int = 20
    missed: str = Field(default="skip", description="skip or catch_up")
    timeout_s: float = 3600.0
    retries: int = 2
    retry_backoff_s: float = 60.0


class ScheduleChanges(BaseModel):
    """The fields to change; those absent (or null) stay as they are. A field that cannot be
    changed is refused by the core with the reason, so it is passed on rather than dropped."""

    model_config = ConfigDict(extra="allow")

    notebook: dict[str, Any] | None = None
    notebook_name: str | None = None
    cron: str | None = None
    timezone: str | None = None
    parameters: dict[str, Any] | None = None
    formats: list[str] | None = None
    recipients: list[str] | None = None
    webhooks: list[str] | None = None
    after: list[str] | None = None
    after_pipelines: list[str] | None = None
    retention: int | None = None
    missed: str | None = None
    timeout_s: float | None = None
    retries: int | None = None
    retry_backoff_s: float | None = None


class ScheduleListQuery(QueryParams):
    all: bool = Field(default=False, description="Everyone's schedules (administrators only).")


class RunHistoryQuery(QueryParams):
    limit: int = Field(default=50, ge=1, le=1000)


class RunNow(Request):
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Values for this run only (typed as the notebook's)."
    )


class Rerun(Request):
    as_recorded: bool = Field(
        default=False, description="Read every table at the version the original run read."
    )


def schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut.model_validate(schedule.to_dict())


def run_out(run: Run) -> ScheduleRunOut:
    data = run.to_dict()
    data["outputs"] = {fmt: output_path(run.id, fmt) for fmt in run.outputs}
    return ScheduleRunOut.model_validate(data)


def output_path(run_id: str, fmt: str) -> str:
    """Where a run's output is downloaded, relative to /dap/api/v1 (the server's own paths
    on disk are its business)."""
    return f"{RUNS}/{quote(run_id, safe='')}/outputs/{quote(fmt, safe='')}"


def _schedules(call: Call) -> Schedules:
    return Schedules(call.session)


# -- schedules -------------------------------------------------------------------------------


@router.get("schedules", query=ScheduleListQuery, response=ScheduleList, tag=TAG)
def list_schedules(call: Call, query: ScheduleListQuery) -> ScheduleList:
    """Your schedules (``all``: everyone's, for administrators)."""
    found = _schedules(call).list(everyone=query.all)
    return ScheduleList(schedules=[schedule_out(s) for s in found])


@router.post(
    "schedules",
    body=ScheduleCreate,
    response=ScheduleOut,
    status=201,
    scope="admin",
    tag=TAG,
    errors=(400, 403, 404),
)
def add_schedule(call: Call, body: ScheduleCreate) -> ScheduleOut:
    """Save a new schedule of yours: it runs your notebook as you, with your grants.

    With an API key this needs its ``admin`` scope, as registering a pipeline does: a schedule
    keeps acting as you (each run gets a fresh key), so a query-only key cannot make one."""
    values = body.model_dump()
    for key in ("formats", "recipients", "webhooks", "after", "after_pipelines"):
        values[key] = tuple(values[key])
    if not values["dashboard"]:  # the default: a spec without one (as the core's may be)
        del values["dashboard"]
    return schedule_out(_schedules(call).add(ScheduleSpec(**values)))


@router.get("schedules/{schedule_id}", response=ScheduleOut, tag=TAG, errors=(404,))
def get_schedule(call: Call, schedule_id: str) -> ScheduleOut:
    """A schedule by id (or by your name for it)."""
    return schedule_out(_schedules(call).get(schedule_id))


@router.patch(
    "schedules/{schedule_id}",
    body=ScheduleChanges,
    response=ScheduleOut,
    scope="admin",
    tag=TAG,
    errors=(400, 403, 404),
)
def update_schedule(call: Call, schedule_id: str, body: ScheduleChanges) -> ScheduleOut:
    """Change fields of a schedule; its next due time is computed again from now.

    Fields absent or null stay as they are. Needs a key's ``admin`` scope, as adding does."""
    changes = body.model_dump(exclude_none=True)
    return schedule_out(_schedules(call).update(schedule_id, **changes))


@router.delete(
    "schedules/{schedule_id}",
    response=BaseModel,
    status=204,
    scope="query",
    tag=TAG,
    errors=(400, 404),
)
def remove_schedule(call: Call, schedule_id: str) -> None:
    """Delete a schedule with its runs and their outputs."""
    _schedules(call).remove(schedule_id)


@router.get("schedules/{schedule_id}/notebook", response=Notebook, tag=TAG, errors=(404,))
def get_schedule_notebook(call: Call, schedule_id: str) -> Notebook:
    """The notebook the schedule runs."""
    return Notebook.model_validate(_schedules(call).notebook(schedule_id))


@router.post(
    "schedules/{schedule_id}/pause", response=ScheduleOut, scope="query", tag=TAG, errors=(404,)
)
def pause_schedule(call: Call, schedule_id: str) -> ScheduleOut:
    """Stop running on its cron (queued runs are cancelled)."""
    return schedule_out(_schedules(call).pause(schedule_id))


@router.post(
    "schedules/{schedule_id}/resume", response=ScheduleOut, scope="query", tag=TAG, errors=(404,)
)
def resume_schedule(call: Call, schedule_id: str) -> ScheduleOut:
    """Run on its cron again, from now (what was missed is not caught up)."""
    return schedule_out(_schedules(call).resume(schedule_id))


@router.post(
    "schedules/{schedule_id}/run",
    body=RunNow,
    response=ScheduleRunOut,
    status=202,
    scope="query",
    tag=TAG,
    errors=(400, 403, 404),
)
def run_schedule(call: Call, schedule_id: str, body: RunNow) -> ScheduleRunOut:
    """Queue a run now (your own schedule only: it runs as you); poll the run for its end."""
    run = _schedules(call).run_now(schedule_id, body.parameters or None)
    call.runtime.wake_scheduler()
    return run_out(run)


@router.get(
    "schedules/{schedule_id}/runs",
    query=RunHistoryQuery,
    response=ScheduleRunList,
    tag=TAG,
    errors=(404,),
)
def list_schedule_runs(call: Call, schedule_id: str, query: RunHistoryQuery) -> ScheduleRunList:
    """A schedule's runs, newest first."""
    runs = _schedules(call).history(schedule_id, limit=query.limit)
    return ScheduleRunList(runs=[run_out(r) for r in runs])


# -- runs ------------------------------------------------------------------------------------


@router.get(f"{RUNS}/{{run_id}}", response=ScheduleRunOut, tag=TAG, errors=(404,))
def get_schedule_run(call: Call, run_id: str) -> ScheduleRunOut:
    """One run: status, error, the table versions it read, its outputs."""
    return run_out(_schedules(call).run(run_id))


@router.post(
    f"{RUNS}/{{run_id}}/rerun",
    body=Rerun,
    response=ScheduleRunOut,
    status=202,
    scope="query",
    tag=TAG,
    errors=(400, 403, 404),
)
def rerun_schedule_run(call: Call, run_id: str, body: Rerun) -> ScheduleRunOut:
    """Run again with the same parameters (``as_recorded``: on the same table versions)."""
    run = _schedules(call).rerun(run_id, as_recorded=body.as_recorded)
    call.runtime.wake_scheduler()
    return run_out(run)


@router.get(
    f"{RUNS}/{{run_id}}/log",
    response=BaseModel,
    tag=TAG,
    errors=(404,),
    alt_content=("text/plain",),
)
def get_schedule_run_log(call: Call, run_id: str) -> RawBody:
    """papermill's log of the run (audited, as its outputs are)."""
    text = _schedules(call).log(run_id)
    return RawBody(
        text.encode(), "text/plain; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"}
    )


@router.get(
    f"{RUNS}/{{run_id}}/outputs/{{fmt}}",
    response=BaseModel,
    tag=TAG,
    errors=(404,),
    alt_content=tuple(media.split(";")[0] for media in CONTENT_TYPES.values()),
)
def get_schedule_run_output(call: Call, run_id: str, fmt: str) -> RawBody:
    """One output of a run (ipynb, html, pdf), as a file; reading it is audited."""
    content = _schedules(call).output_bytes(run_id, fmt)
    media = CONTENT_TYPES.get(fmt, "application/octet-stream")
    return RawBody(content, media, headers=output_headers(run_id, fmt))


def output_headers(run_id: str, fmt: str) -> dict[str, str]:
    headers = {"X-Content-Type-Options": "nosniff"}
    name = f"report-{run_id}.{fmt}"
    if fmt == "html":
        headers["Content-Security-Policy"] = HTML_CSP
        headers["Content-Disposition"] = f'inline; filename="{name}"'
    elif fmt == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{name}"'
    else:
        headers["Content-Disposition"] = disposition(name)
    return headers
