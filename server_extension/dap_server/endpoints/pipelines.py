"""Pipelines and their runs (REST `pipelines`, `runs`).

A caller sees the pipelines they own and those loading a table they may read; anything else is
answered as unknown (404), like another user's query. Who may define and run one is decided
in the core (:mod:`dap_kernel.pipelines.trust`: Python steps, raw sources and secret
references need MANAGE_GRANTS), the same for the CLI and Python; a spec is shown with its
credentials redacted. These handlers only parse, call and format.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dap_kernel.pipelines import (
    PipelineFailed,
    PipelineInfo,
    RunResult,
    VisiblePipelines,
    parse_spec,
    registered,
)
from dap_kernel.pipelines.runner import Pipeline

from ..api import Call, router
from ..models import QueryParams, Request, Timestamp


class RunOut(BaseModel):
    run_id: str
    pipeline: str
    status: str = Field(description="running, succeeded or failed.")
    target: str
    principal: str = Field(description="Who ran it.")
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_s: float | None
    rows_read: int
    rows_written: int
    rows_quarantined: int
    steps: dict[str, float] = Field(description="Seconds per step (and attempts when retried).")
    error: str = Field(description="Why it failed, one line; empty when it did not.")
    table_version: int | None = Field(description="The Delta version the load committed.")
    watermark: str | None = Field(description="How far incremental loads got, as text.")


class RunList(BaseModel):
    runs: list[RunOut]


class PipelineOut(BaseModel):
    name: str
    description: str
    target: str = Field(description="The table it loads, `schema.table`.")
    owner: str
    depends_on: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    last_run: RunOut | None


class PipelineDetail(PipelineOut):
    spec: dict[str, Any] = Field(
        description="The pipeline as declared (validated), credentials shown as ***."
    )
    loads: int = Field(description="Loads committed so far.")
    watermark: str | None


class PipelineList(BaseModel):
    pipelines: list[PipelineOut]


class PipelineCreate(Request):
    spec: dict[str, Any] = Field(description="The pipeline: the same keys as its YAML file.")


class RunsQuery(QueryParams):
    pipeline: str | None = Field(default=None, max_length=200, description="Only this pipeline.")
    status: str | None = Field(default=None, max_length=20, description="running|succeeded|failed")
    limit: int = Field(default=50, ge=1, le=1000)


def _run_out(run: RunResult) -> RunOut:
    return RunOut(
        run_id=run.run_id,
        pipeline=run.pipeline,
        status=run.status,
        target=run.target,
        principal=run.principal,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        rows_read=run.rows_read,
        rows_written=run.rows_written,
        rows_quarantined=run.rows_quarantined,
        steps=run.steps,
        error=run.error,
        table_version=run.table_version,
        watermark=None if run.watermark is None else _shown(run.watermark),
    )


def _shown(watermark: Any) -> str:
    return f"{len(watermark)} files" if isinstance(watermark, list) else str(watermark)


def _pipelines(call: Call) -> VisiblePipelines:
    """What the caller may see of pipelines and runs: the rule lives in the core."""
    return VisiblePipelines(call.session)


def _out(pipelines: VisiblePipelines, info: PipelineInfo) -> dict[str, Any]:
    last = pipelines.latest(info.name)
    return {
        "name": info.name,
        "description": info.description,
        "target": info.target,
        "owner": info.owner,
        "depends_on": info.depends_on,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "last_run": _run_out(last) if last else None,
    }


@router.get("pipelines", response=PipelineList, tag="pipelines")
def list_pipelines(call: Call) -> PipelineList:
    """Pipelines the caller owns or whose target table they may read, with their last run."""
    pipelines = _pipelines(call)
    return PipelineList(pipelines=[PipelineOut(**_out(pipelines, i)) for i in pipelines.list()])


@router.post(
    "pipelines",
    body=PipelineCreate,
    response=PipelineDetail,
    status=201,
    scope="admin",
    tag="pipelines",
    errors=(400, 403),
)
def register_pipeline(call: Call, body: PipelineCreate) -> PipelineDetail:
    """Register (or redefine) a pipeline; it needs the rights its load needs."""
    spec = parse_spec(body.spec)
    Pipeline(spec, call.workspace.settings.home).register(call.session)
    return _detail(call, spec.name)


def _detail(call: Call, name: str) -> PipelineDetail:
    pipelines = _pipelines(call)
    info = pipelines.get(name)
    watermark, loads = pipelines.watermark(name)
    return PipelineDetail(
        **_out(pipelines, info),
        spec=info.spec,
        loads=loads,
        watermark=None if watermark is None else _shown(watermark),
    )


@router.get("pipelines/{name}", response=PipelineDetail, tag="pipelines", errors=(404,))
def get_pipeline(call: Call, name: str) -> PipelineDetail:
    """A pipeline's definition, progress (loads, watermark) and last run."""
    return _detail(call, name)


@router.post(
    "pipelines/{name}/run",
    response=RunOut,
    pool="query",
    scope="query",
    tag="pipelines",
    errors=(403, 404, 409),
)
def run_pipeline(call: Call, name: str) -> RunOut:
    """Run a registered pipeline now, as the caller; a failed run is answered with its record."""
    pipeline = registered(call.session, name)
    try:
        return _run_out(pipeline.run(call.session))
    except PipelineFailed as e:
        if e.result is None:
            raise
        return _run_out(e.result)


@router.get("runs", query=RunsQuery, response=RunList, tag="pipelines")
def list_runs(call: Call, query: RunsQuery) -> RunList:
    """Pipeline runs (newest first) of the pipelines the caller may see."""
    runs = _pipelines(call).runs(query.pipeline, status=query.status, limit=query.limit)
    return RunList(runs=[_run_out(r) for r in runs])


@router.get("runs/{run_id}", response=RunOut, tag="pipelines", errors=(404,))
def get_run(call: Call, run_id: str) -> RunOut:
    """One run: status, rows, step durations, error."""
    return _run_out(_pipelines(call).run(run_id))
