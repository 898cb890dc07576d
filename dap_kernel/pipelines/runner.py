"""Running a pipeline: extract → transform → validate → load, recorded, retried, exactly once.

A run is governed like everything else: it reads catalog tables through the caller's session
(row filters and masks apply to SQL steps and lookups), needs USE_CONNECTOR to read an external
source, and CREATE on the schema (new table) or MODIFY on the table to load it.

Crash safety rests on three facts (see :mod:`.load`): a Delta commit is atomic; each load
commits with the pipeline's load sequence number as a Delta application transaction, so it can
be recognised and never written twice; the watermark advances only from what the table
committed. A run whose process died is found by the next run (its process id is gone, or its
heartbeat stopped) and marked failed.
"""

from __future__ import annotations

import graphlib
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..catalog import split_name
from ..errors import DapError, QueryRefused
from ..governance.secret_refs import loggable
from ..quarantine import quarantine_name
from .execution import _Run
from .spec import PipelineSpec, PipelineSpecError, load_spec, parse_spec
from .store import PipelineStore, RunResult, mark_active
from .trust import authorize
from .visible import VisiblePipelines

if TYPE_CHECKING:
    from ..session import Session

log = logging.getLogger(__name__)

HEARTBEAT_S = 30.0
_start_lock = threading.Lock()


class PipelineFailed(DapError):
    """A run failed; ``result`` holds its record (run id, counts, reason)."""

    code = "pipeline_failed"

    def __init__(self, message: str, result: RunResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class PipelineBusy(DapError):
    code = "pipeline_running"
    http_status = 409


class Pipeline:
    """A validated pipeline spec and the folder its relative paths start from."""

    def __init__(self, spec: PipelineSpec, base_dir: str | Path | None = None) -> None:
        self.spec = spec
        self.base_dir = Path(base_dir) if base_dir else Path.cwd()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def target(self) -> str:
        return self.spec.load.table

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r} → {self.target})"

    # -- running ----------------------------------------------------------------------------

    def run(self, session: Session | None = None, *, with_deps: bool = False) -> RunResult:
        """Run the pipeline (upstream pipelines first with ``with_deps``) as ``session``'s
        principal. Raises :class:`PipelineFailed` (with ``.result``) when a run fails."""
        session = _local_session(session)
        if with_deps:
            result: RunResult | None = None
            for item in self.upstream(session):
                result = item._run_once(session)
            assert result is not None
            return result
        return self._run_once(session)

    def upstream(self, session: Session | None = None) -> list[Pipeline]:
        """This pipeline and everything it depends on, in the order they must run."""
        session = _local_session(session)
        store = PipelineStore(session.workspace.meta)
        found: dict[str, Pipeline] = {self.name: self}
        graph: dict[str, list[str]] = {}
        todo = [self]
        while todo:
            current = todo.pop()
            graph[current.name] = list(current.spec.depends_on)
            for dep in current.spec.depends_on:
                if dep not in found:
                    found[dep] = _resolve(dep, current.base_dir, store)
                    todo.append(found[dep])
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as e:
            cycle = list(e.args[1]) if len(e.args) > 1 else []
            shown = " → ".join(reversed(cycle)) if cycle else "?"
            raise PipelineSpecError(f"pipelines depend on each other in a cycle: {shown}") from e
        return [found[name] for name in order]

    def history(self, session: Session | None = None, limit: int = 20) -> list[RunResult]:
        session = _local_session(session)
        return PipelineStore(session.workspace.meta).runs(self.name, limit=limit)

    def register(self, session: Session | None = None) -> None:
        """Store the spec under its name (``dap pipeline list``, REST ``pipelines``)."""
        session = _local_session(session)
        authorize(session, self.spec, defining=True)
        PipelineStore(session.workspace.meta).register(
            self.spec.to_dict(),
            base_dir=str(self.base_dir),
            owner=session.principal.name,
            target=self.target,
        )

    def _run_once(self, session: Session) -> RunResult:
        """One run, audited as a ``load`` of the target (refused, failed or with its rows)."""
        target = "{}.{}".format(*split_name(self.target))
        what = f"pipeline {self.name} run"
        with session.audit_change("load", (target,), statement=what) as change:
            result = self._checked_run(session)
            change.statement += f" {result.run_id}"
            change.rows = result.rows_written
            if result.rows_quarantined:
                change.touch(quarantine_name(target))
        return result

    def _checked_run(self, session: Session) -> RunResult:
        ws = session.workspace
        store = PipelineStore(ws.meta)
        spec = self.spec
        authorize(session, spec, defining=False)
        store.register(
            spec.to_dict(),
            base_dir=str(self.base_dir),
            owner=session.principal.name,
            target=self.target,
        )
        run_id = uuid.uuid4().hex
        with _start_lock:  # two threads of one server must not both start the same pipeline
            _, alive = store.reap(self.name)
            if alive:
                other = alive[0]
                raise PipelineBusy(
                    f"pipeline {self.name} is already running (run {other.run_id}, started "
                    f"{other.started_at:%Y-%m-%d %H:%M:%S} UTC)"
                )
            mark_active(run_id, True)
        try:
            store.start_run(run_id, self.name, principal=session.principal.name, target=self.target)
            return self._execute(session, store, run_id)
        finally:
            mark_active(run_id, False)

    def _execute(self, session: Session, store: PipelineStore, run_id: str) -> RunResult:
        run = _Run(self.spec, self.base_dir, session, store, run_id)
        with _heartbeat(store, run_id):
            try:
                return run.execute()
            except BaseException as e:
                reason = (
                    "interrupted"
                    if isinstance(e, (KeyboardInterrupt, SystemExit))
                    else run.failure(e)
                )
                if not isinstance(e, DapError):
                    log.error("pipeline %s run %s failed: %s", self.name, run_id, loggable(e))
                result = store.finish_run(
                    run_id,
                    "failed",
                    error=reason,
                    steps=run.steps,
                    rows_read=run.rows_read,
                    rows_quarantined=0,
                    rows_written=0,
                )
                run.emit("FAIL", error=reason)
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                raise PipelineFailed(
                    f"pipeline {self.name} failed (run {run_id}): {reason}", result
                ) from e


@contextmanager
def _heartbeat(store: PipelineStore, run_id: str) -> Iterator[None]:
    """Tell the metadata store every half minute that this run is alive."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                store.heartbeat(run_id)
            except Exception:  # a missed heartbeat must not break the run
                log.debug("heartbeat of run %s failed", run_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"dap-heartbeat-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _local_session(session: Any) -> Session:
    from ..session import Session, default_workspace

    if session is None:
        return default_workspace().session()
    if not isinstance(session, Session):
        raise QueryRefused(
            "pipelines run where the data lives: run them on the DAP service "
            "(REST POST pipelines/{name}/run) or with a local workspace"
        )
    return session


def _resolve(name: str, base_dir: Path, store: PipelineStore) -> Pipeline:
    """An upstream pipeline by name: a YAML file beside the one that names it, else the
    registered definition."""
    for candidate in sorted([*base_dir.glob("*.yaml"), *base_dir.glob("*.yml")]):
        try:
            data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, Mapping) and data.get("name") == name:
            return Pipeline(parse_spec(data, origin=candidate.name), candidate.parent)
    info = store.find(name)
    if info is None:
        raise PipelineSpecError(
            f"pipeline {name!r} (a dependency) is neither a YAML file in {base_dir} "
            "nor a registered pipeline"
        )
    return Pipeline(parse_spec(info.definition, origin=name), info.base_dir or None)


def pipeline(
    spec: str | Path | Mapping[str, Any] | PipelineSpec, *, base_dir: str | Path | None = None
) -> Pipeline:
    """A pipeline from a YAML file, YAML text, a mapping (the same keys as the YAML), a spec,
    or the name of a registered pipeline."""
    if isinstance(spec, PipelineSpec):
        return Pipeline(spec, base_dir)
    if isinstance(spec, Mapping):
        return Pipeline(parse_spec(spec), base_dir)
    text = str(spec)
    path = Path(text).expanduser()
    if isinstance(spec, Path) or path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        parsed = load_spec(path)
        return Pipeline(parsed, base_dir or path.resolve().parent)
    if "\n" in text or ":" in text:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise PipelineSpecError(f"not valid pipeline YAML: {str(e).splitlines()[0]}") from e
        return Pipeline(parse_spec(data), base_dir)
    from ..session import default_workspace

    info = PipelineStore(default_workspace().meta).get(text)
    return Pipeline(parse_spec(info.definition, origin=text), base_dir or info.base_dir or None)


def registered(session: Session, name: str) -> Pipeline:
    """A registered pipeline (by name) in ``session``'s workspace, if the caller may see it:
    to anyone else it is not registered (like another user's query)."""
    info = VisiblePipelines(session).get(name)
    return Pipeline(parse_spec(info.definition, origin=name), info.base_dir or None)
