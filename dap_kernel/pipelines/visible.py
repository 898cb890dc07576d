"""The pipeline registry and its run history as one principal may see them.

A pipeline is visible to its owner and to whoever may read the table it loads; to anyone else
it is not registered, and its runs do not exist (the same answer as for a name never used, so
no door tells a stranger which pipelines there are). The CLI and REST both ask this view.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from ..governance.identity import Principal
from ..governance.policy import Decision
from ..meta import MetaStore
from .store import PipelineInfo, PipelineStore, RunResult, UnknownPipeline, UnknownRun


class Caller(Protocol):
    """What is needed of a session: who asks, their policy check and their metadata store."""

    principal: Principal

    @property
    def workspace(self) -> Any: ...

    def check(self, action: str, securable: str) -> Decision: ...


def may_see(session: Caller, info: PipelineInfo) -> bool:
    """Pipelines are visible to their owner and to whoever may read the table they load."""
    if info.owner == session.principal.name:
        return True
    return session.check("SELECT", info.target).allowed


class VisiblePipelines:
    """Read-only: what the caller may see of pipelines, their progress and their runs."""

    def __init__(self, session: Caller) -> None:
        self.session = session
        meta: MetaStore = session.workspace.meta
        self.store = PipelineStore(meta)

    def list(self) -> builtins.list[PipelineInfo]:
        return [info for info in self.store.list() if may_see(self.session, info)]

    def get(self, name: str) -> PipelineInfo:
        info = self.store.get(name)
        if not may_see(self.session, info):
            raise UnknownPipeline(f"pipeline {name!r} is not registered")
        return info

    def latest(self, name: str) -> RunResult | None:
        return self.store.latest(self.get(name).name)

    def watermark(self, name: str) -> tuple[Any, int]:
        return self.store.watermark(self.get(name).name)

    def runs(
        self, pipeline: str | None = None, *, status: str | None = None, limit: int = 50
    ) -> builtins.list[RunResult]:
        """Newest first, only of visible pipelines (a hidden one has no runs)."""
        visible = {info.name for info in self.list()}
        if pipeline is not None and pipeline not in visible:
            return []
        runs = self.store.runs(pipeline, status=status, limit=limit)
        return [run for run in runs if run.pipeline in visible]

    def run(self, run_id: str) -> RunResult:
        run = self.store.run(run_id)
        try:
            self.get(run.pipeline)
        except UnknownPipeline as e:
            raise UnknownRun(f"run {run_id!r} does not exist") from e
        return run
