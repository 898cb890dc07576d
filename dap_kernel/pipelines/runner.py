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
import importlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import polars as pl
import pyarrow as pa
import yaml
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from .. import cleanse
from ..catalog import split_name
from ..connectors.paths import under_folder, under_url
from ..errors import DapError, MetaStoreError, QueryRefused, SourceError
from ..governance.secret_refs import (
    expand_url_password,
    find_references,
    loggable,
    redact_text,
    scrub,
    sensitive_values,
)
from ..quarantine import empty_quarantine, quarantine_name
from .load import (
    commit,
    commit_quarantine,
    committed_load,
    committed_seq,
    ensure_table,
    sync_catalog,
)
from .spec import (
    CleanseStep,
    Extract,
    PipelineSpec,
    PipelineSpecError,
    Transform,
    load_spec,
    parse_spec,
)
from .store import PipelineStore, RunResult, mark_active
from .trust import authorize
from .visible import VisiblePipelines

if TYPE_CHECKING:
    from ..connectors.base import Extracted
    from ..session import Session, Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_S = 30.0
_start_lock = threading.Lock()
# Test hook: the path of a file to create just before the table commit, then wait there (so a
# test can kill the process mid-load at a known point). Never set outside tests.
PAUSE_ENV = "DAP_TEST_PAUSE_BEFORE_COMMIT"


class PipelineFailed(DapError):
    """A run failed; ``result`` holds its record (run id, counts, reason)."""

    code = "pipeline_failed"

    def __init__(self, message: str, result: RunResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class PipelineBusy(DapError):
    code = "pipeline_running"
    http_status = 409


# -- retries -------------------------------------------------------------------------------------


def _transient(error: BaseException) -> bool:
    """Worth another attempt: an unreachable or failing source, I/O, a busy metadata store,
    a commit that lost a race. Mistakes in the pipeline (bad SQL, drift, refusals) are not."""
    if isinstance(error, (SourceError, MetaStoreError, OSError, TimeoutError)):
        return True
    name = type(error).__name__
    return name in ("CommitFailedError",)


def _attempt(step: str, attempts: int, backoff_s: float, fn: Callable[[], T]) -> tuple[T, int]:
    """Run ``fn`` with retries (exponential backoff with jitter); (result, attempts used)."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=max(backoff_s, 60))
        + wait_random(0, backoff_s / 4),
        retry=retry_if_exception(_transient),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "%s failed (attempt %d of %d), retrying: %s",
            step,
            state.attempt_number,
            attempts,
            redact_text(str(state.outcome.exception())) if state.outcome else "",
        ),
    )
    used = 0
    for attempt in retrying:
        with attempt:
            used = attempt.retry_state.attempt_number
            return fn(), used
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else ""
    if isinstance(error, DapError):
        return line
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


# -- the pipeline --------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What flows between the steps of one run."""

    frame: pl.DataFrame
    bad: list[pl.DataFrame] = field(default_factory=list)
    source: str = ""
    sources: list[str] = field(default_factory=list)  # lineage: where the rows came from
    columns: list[Any] = field(default_factory=list)  # lineage: ColumnEdge list
    watermark: Any = None


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
        run = _Run(self, session, store, run_id)
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


class _Run:
    """One run's working state."""

    def __init__(self, pipeline: Pipeline, session: Session, store: PipelineStore, run_id: str):
        self.pipeline = pipeline
        self.spec = pipeline.spec
        self.session = session
        self.ws: Workspace = session.workspace
        self.store = store
        self.run_id = run_id
        self.steps: dict[str, float] = {}
        self.rows_read = 0
        self.step = "start"
        self.attempts = 0
        self.sources: list[str] = []

    @property
    def name(self) -> str:
        return self.spec.name

    def failure(self, error: BaseException) -> str:
        """One line for the run record: never a credential of the spec or of its source, even
        when a driver put its URL or headers in the message."""
        retried = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return scrub(f"{self.step} failed{retried}: {_first_line(error)}", self._hidden())

    def _hidden(self) -> set[str]:
        data = self.spec.to_dict()
        hidden = sensitive_values(data)
        for ref in find_references(data):
            try:
                value = self.ws.secrets.get(ref.name)
            except DapError:
                continue  # a missing secret has no value to hide
            hidden |= {value, quote(value, safe="")}
        if self.spec.extract.connector:
            from ..connectors import Connectors

            try:
                url = Connectors(self.ws.meta, self.ws.secrets).url(self.spec.extract.connector)
            except DapError:
                return hidden
            hidden |= sensitive_values({"url": url})
        return hidden

    def emit(self, state: str, error: str | None = None, columns: Any = None) -> None:
        try:
            from ..lineage import emit_run
        except ImportError:  # pragma: no cover - lineage ships with the core
            return
        emit_run(
            self.ws.settings,
            f"pipeline:{self.name}",
            self.sources,
            [self.pipeline.target],
            self.run_id,
            state,
            column_lineage=columns,
            error=error,
        )

    def _timed(self, step: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        self.step = step
        retries = self.spec.retries
        started = time.perf_counter()
        self.attempts = 0

        def counted() -> T:
            self.attempts += 1
            return fn()

        if retry:
            result, _ = _attempt(step, retries.attempts, retries.backoff_s, counted)
        else:
            result = counted()
        self.steps[step] = round(time.perf_counter() - started, 4)
        if self.attempts > 1:
            self.steps[f"{step}_attempts"] = self.attempts
        self.store.update_run(self.run_id, steps=self.steps)
        return result

    def execute(self) -> RunResult:
        spec, ws = self.spec, self.ws
        target = self.pipeline.target
        watermark, seq = self._recover()
        self.emit("START")
        batch = self._timed("extract", lambda: self._extract(watermark))
        self.sources = batch.sources
        self.rows_read = batch.frame.height + sum(b.height for b in batch.bad)
        self.store.update_run(self.run_id, rows_read=self.rows_read)
        for i, step in enumerate(spec.transform, start=1):
            # Only a SQL step replaces the batch in one go; cleanse and python steps are not
            # repeated on a half-transformed batch.
            self._timed(
                f"transform{i}:{step.kind}",
                _bind(self._transform, batch, step),
                retry=step.kind == "sql",
            )
        if spec.validate_:
            self._timed("validate", lambda: self._validate(batch), retry=False)
        if self.rows_read == 0:
            sync_catalog(ws, target)
            return self._finish(0, 0, None, watermark, seq)
        seq += 1
        written, quarantined, version = self._timed("load", lambda: self._load(batch, seq))
        self.store.set_watermark(self.name, batch.watermark, seq, self.run_id)
        self._record_lineage(batch)
        return self._finish(written, quarantined, version, batch.watermark, seq)

    def _finish(
        self, written: int, quarantined: int, version: int | None, watermark: Any, seq: int
    ) -> RunResult:
        result = self.store.finish_run(
            self.run_id,
            "succeeded",
            rows_read=self.rows_read,
            rows_written=written,
            rows_quarantined=quarantined,
            table_version=version,
            load_seq=seq,
            steps=self.steps,
            watermark=watermark,
        )
        self.emit("COMPLETE")
        return result

    # -- watermark --------------------------------------------------------------------------

    def _recover(self) -> tuple[Any, int]:
        """The watermark and load sequence to continue from, repaired from the table's log
        when a run committed but died before recording it."""
        self.step = "recover"
        target = self.pipeline.target
        watermark, seq = self.store.watermark(self.name)
        table_seq = committed_seq(self.ws, target, self.name)
        if table_seq > seq:
            found = committed_load(self.ws, target, self.name, table_seq)
            if found is not None:
                watermark, seq = found.watermark, table_seq
                self.store.set_watermark(self.name, watermark, seq, found.run_id)
                log.warning(
                    "pipeline %s: load %d (run %s) committed without being recorded; "
                    "continuing after it",
                    self.name,
                    seq,
                    found.run_id,
                )
            else:
                seq = table_seq
        sync_catalog(self.ws, target)
        return watermark, seq

    # -- extract ----------------------------------------------------------------------------

    def _extract(self, since: Any) -> _Batch:
        ex = self.spec.extract
        incremental = ex.incremental
        column = incremental.column if incremental else None
        watermark = since
        if ex.kind == "sql":
            frame, tables = self._extract_catalog(ex.sql or "", column, since)
            batch = _Batch(frame=frame, source="catalog query", sources=tables)
        else:
            if incremental and incremental.files:
                extracted, watermark = self._extract_new_files(ex, since)
            else:
                extracted = self._read_source(ex, column, since)
            data = extracted.to_table()
            frame = _polars(data)
            batch = _Batch(
                frame=frame,
                bad=[extracted.bad] if extracted.bad.height else [],
                source=extracted.source,
                sources=[extracted.source],
            )
            if column and extracted.watermark is not None:
                watermark = _newest(watermark, extracted.watermark)
        if column:
            if column not in batch.frame.columns:
                raise SourceError(f"the incremental column {column} is not in the extracted data")
            if since is not None:
                batch.frame = batch.frame.filter(pl.col(column) > pl.lit(since))
            if batch.frame.height:
                watermark = _newest(watermark, batch.frame[column].max())
        batch.watermark = watermark
        return batch

    def _extract_catalog(
        self, sql: str, column: str | None, since: Any
    ) -> tuple[pl.DataFrame, list[str]]:
        params: dict[str, Any] | None = None
        text = sql.strip().rstrip(";")
        if column and since is not None:
            text = f'SELECT * FROM ({text}) AS __dap_src WHERE "{column}" > :__dap_since'
            params = {"__dap_since": since}
        result = self.session.query(text, params)
        return result.to_polars(), list(result.tables)

    def _read_source(self, ex: Extract, column: str | None, since: Any) -> Extracted:
        if ex.kind == "file":
            from ..connectors.files import read_files

            return read_files(self._path(ex.file or ""), format=ex.format, options=ex.options)
        if ex.kind == "sql_url":
            hidden: set[str] = set()
            url = expand_url_password(ex.sql_url or "", self.ws.secrets, hidden)
            return _read_database(url, ex, column, since)
        if ex.kind == "api":
            return self._read_api(dict(ex.api or {}), since)
        # A named connector: its kind says which reader.
        from ..connectors import Connectors

        connectors = Connectors(self.ws.meta, self.ws.secrets)
        info = connectors.get(ex.connector or "")
        url = connectors.url(info.name)
        if info.kind in ("postgresql", "sqlite", "mysql"):
            return _read_database(url, ex, column, since)
        if info.kind == "file":
            from ..connectors.files import read_files

            path = under_folder(Path(url.removeprefix("file://")), ex.path)
            return read_files(path, format=ex.format, options=ex.options)
        api = dict(ex.api or {})
        api["url"] = under_url(url, str(api.get("url") or ex.path or ""))
        return self._read_api(api, since)

    def _read_api(self, api: dict[str, Any], since: Any) -> Extracted:
        from ..connectors.http import read_api

        extracted: Extracted = read_api(api, since=since, secrets=self.ws.secrets)
        return extracted

    def _extract_new_files(self, ex: Extract, since: Any) -> tuple[Extracted, list[str]]:
        """Files not loaded before (by path, size and modification time), read together."""
        from ..connectors.base import Extracted
        from ..connectors.files import list_files, read_files

        if ex.connector:
            from ..connectors import Connectors

            url = Connectors(self.ws.meta, self.ws.secrets).url(ex.connector)
            path: Path | str = under_folder(Path(url.removeprefix("file://")), ex.path)
        else:
            path = self._path(ex.file or "")
        loaded = set(since or [])
        new: list[tuple[str, str]] = []
        for f in list_files(path, ex.format):
            stat = f.path.stat()
            key = f"{f.path}|{stat.st_size}|{stat.st_mtime_ns}"
            if key not in loaded:
                new.append((str(f.path), key))
        parts = [read_files(p, format=ex.format, options=ex.options) for p, _ in new]
        tables = [p.to_table() for p in parts]
        data = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
        bad = [p.bad for p in parts if p.bad.height]
        extracted = Extracted(
            data=data,
            bad=pl.concat(bad) if bad else empty_quarantine(),
            source=str(path),
            files=[p for p, _ in new],
        )
        return extracted, sorted(loaded | {k for _, k in new})

    def _path(self, text: str) -> str:
        path = Path(text).expanduser()
        return str(path if path.is_absolute() else self.pipeline.base_dir / path)

    # -- transform --------------------------------------------------------------------------

    def _transform(self, batch: _Batch, step: Transform) -> None:
        if step.cleanse is not None:
            for item in step.cleanse:
                self._cleanse(batch, item)
        elif step.sql:
            self._sql(batch, step.sql)
        else:
            batch.frame = _call_python(step.python, batch.frame)

    def _cleanse(self, batch: _Batch, step: CleanseStep) -> None:
        a = step.args
        df = batch.frame
        source, run_id = batch.source, self.run_id
        if step.op in ("trim", "lower", "upper", "title", "drop"):
            batch.frame = getattr(cleanse, step.op)(df, a.columns)
        elif step.op == "coerce":
            batch.frame, bad = cleanse.coerce(df, a.types, source=source, run_id=run_id)
            batch.bad.append(bad)
        elif step.op == "normalize_dates":
            batch.frame, bad = cleanse.normalize_dates(
                df, a.columns, a.formats, to=a.to, source=source, run_id=run_id
            )
            batch.bad.append(bad)
        elif step.op == "dedupe":
            batch.frame = cleanse.dedupe(df, a.keys, keep=a.keep, order_by=a.order_by)
        elif step.op == "units":
            batch.frame = cleanse.units(df, a.column, a.from_, a.to, into=a.into)
        elif step.op == "map_values":
            batch.frame = cleanse.map_values(
                df, a.column, a.mapping, default=a.default, case_insensitive=a.case_insensitive
            )
        elif step.op == "lookup":
            schema, table = split_name(a.table)
            reference = self.session.sql(f'SELECT * FROM "{schema}"."{table}"')  # governed
            batch.frame = cleanse.lookup(df, reference, a.on, a.columns)
            batch.sources.append(f"{schema}.{table}")
        elif step.op == "derive":
            batch.frame = cleanse.derive(df, a.expressions)
        elif step.op == "rename":
            batch.frame = cleanse.rename(df, a.columns)
        else:  # pragma: no cover - the spec only admits the operations above
            raise PipelineSpecError(f"unknown cleanse step {step.op}")

    def _sql(self, batch: _Batch, sql: str) -> None:
        """A governed statement over the batch (``input``) and the catalog tables it may read."""
        result = self.session.query(sql, inputs={"input": batch.frame})
        batch.frame = result.to_polars()
        batch.sources.extend(t for t in result.tables if t not in batch.sources)
        try:
            from ..lineage import sql_lineage

            sources, edges = sql_lineage(
                sql, self.pipeline.target, inputs={"input": batch.source or "input"}
            )
            if batch.source:  # `input` stands for the extracted source, already a source
                sources = [s for s in sources if s != batch.source]
        except (ImportError, DapError):
            return  # lineage is best effort: a statement sqlglot cannot follow still ran
        batch.sources.extend(s for s in sources if s not in batch.sources)
        batch.columns.extend(edges)

    # -- validate ---------------------------------------------------------------------------

    def _validate(self, batch: _Batch) -> None:
        from ..quality import parse_rules, validate

        rules = parse_rules(self.spec.validate_)
        report = validate(
            batch.frame, rules, session=self.session, source=batch.source, run_id=self.run_id
        )
        if not report.ok:
            table_level = {r.name for r in rules if not r.row_level}
            failed = [r for r in report.results if r.status == "fail" and r.rule in table_level]
            shown = "; ".join(f"{r.rule}: {r.message}" if r.message else r.rule for r in failed)
            raise DapError(f"the batch failed {shown or 'a table-level rule'}; nothing was loaded")
        batch.frame = report.passed
        if report.failed.height:
            batch.bad.append(report.failed)

    # -- load -------------------------------------------------------------------------------

    def _load(self, batch: _Batch, seq: int) -> tuple[int, int, int | None]:
        ws, load = self.ws, self.spec.load
        target = load.table
        principal = self.session.principal.name
        bad = [b for b in batch.bad if b.height]
        rows = pl.concat(bad, how="diagonal_relaxed") if bad else empty_quarantine()
        if rows.height:
            rows = rows.with_columns(pl.lit(self.run_id).alias("_dap_run_id"))
        # Quarantine first: if the process dies between the two commits, the re-run repeats
        # this load with the same sequence number and finds the quarantine already written.
        quarantined = commit_quarantine(
            ws, target, rows, pipeline=self.name, seq=seq, run_id=self.run_id, owner=principal
        )
        data = batch.frame.to_arrow()
        ensure_table(
            ws,
            target,
            data.schema,
            owner=principal,
            description=load.description or self.spec.description,
            tags=[],
        )
        _pause_for_tests()
        done = commit(
            ws,
            target,
            data,
            mode=load.mode,
            keys=list(load.keys),
            evolve=load.schema_evolution,
            pipeline=self.name,
            seq=seq,
            run_id=self.run_id,
            watermark=batch.watermark,
        )
        ws.catalog.refresh(target)
        if done is None:
            log.warning("pipeline %s: load %d was committed before; not again", self.name, seq)
            return 0, quarantined, ws.catalog.get(target).version
        version, written = done
        return written, quarantined, version

    def _record_lineage(self, batch: _Batch) -> None:
        try:
            from ..lineage import LineageStore
        except ImportError:  # pragma: no cover - lineage ships with the core
            return
        sources = [s for s in dict.fromkeys(batch.sources) if s and s != "input"]
        try:
            LineageStore(self.ws.meta).record(
                self.pipeline.target,
                sources,
                batch.columns,
                process=f"pipeline:{self.name}",
                run_id=self.run_id,
            )
        except DapError as e:  # the data is loaded; a lineage problem must not undo the run
            log.warning("lineage of pipeline %s not recorded: %s", self.name, e)


# -- helpers -------------------------------------------------------------------------------------


def _bind(
    fn: Callable[[_Batch, Transform], None], batch: _Batch, step: Transform
) -> Callable[[], None]:
    return lambda: fn(batch, step)


def _pause_for_tests() -> None:
    flag = os.environ.get(PAUSE_ENV)
    if flag:
        Path(flag).touch()
        time.sleep(120)


def _read_database(url: str, ex: Extract, column: str | None, since: Any) -> Extracted:
    from ..connectors.sql import read_sql

    return read_sql(
        url,
        ex.table,
        query=ex.query,
        columns=ex.columns,
        incremental_column=column,
        since=since,
        attempts=1,  # the pipeline's own retries apply
    )


def _polars(data: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _newest(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    try:
        return max(a, b)
    except TypeError:
        return b


def _call_python(target: str | Callable[..., Any] | None, frame: pl.DataFrame) -> pl.DataFrame:
    fn = target if callable(target) else _import(str(target))
    result = fn(frame)
    if isinstance(result, pa.Table):
        result = _polars(result)
    if not isinstance(result, pl.DataFrame):
        raise DapError(
            f"python step {_describe(fn)} returned {type(result).__name__}, not a polars DataFrame"
        )
    return result


def _describe(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _import(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise PipelineSpecError(f"python step {path}: cannot import {module_name} ({e})") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise PipelineSpecError(f"python step {path}: {module_name} has no function {attr}")
    return fn  # type: ignore[no-any-return]


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
