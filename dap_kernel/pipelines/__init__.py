"""Pipelines: extract → transform → validate → load, declared in YAML or built in Python.

``dap.pipeline("orders.yaml").run()`` runs one; ``dap pipeline run orders.yaml`` is the same
from the shell, and REST ``POST pipelines/{name}/run`` runs a registered one on the service.
Runs are recorded (``dap pipeline history NAME``), incremental loads continue from a persisted
watermark, and a load is committed exactly once even when a run is retried or killed.
"""

from __future__ import annotations

from .runner import Pipeline, PipelineBusy, PipelineFailed, pipeline, registered
from .spec import PipelineSpec, PipelineSpecError, load_spec, parse_spec
from .store import PipelineInfo, PipelineStore, RunResult, UnknownPipeline, UnknownRun
from .visible import VisiblePipelines, may_see

__all__ = [
    "Pipeline",
    "PipelineBusy",
    "PipelineFailed",
    "PipelineInfo",
    "PipelineSpec",
    "PipelineSpecError",
    "PipelineStore",
    "RunResult",
    "UnknownPipeline",
    "UnknownRun",
    "VisiblePipelines",
    "load_spec",
    "may_see",
    "parse_spec",
    "pipeline",
    "registered",
]
