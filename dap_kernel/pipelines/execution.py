"""One run's execution: extract, transform, validate and load in order, each step timed,
retried when worth it and recorded, with lineage events on the way.

The load is exactly once (see :mod:`.load`): the run continues from the watermark and load
sequence the table itself committed (:meth:`_Run._recover`), writes the quarantine before the
table, and advances the watermark only after the table commit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import polars as pl

from ..errors import DapError
from ..governance.secret_refs import find_references, scrub, sensitive_values
from ..quarantine import empty_quarantine
from .batch import _Batch
from .extraction import extract
from .load import (
    commit,
    commit_quarantine,
    committed_load,
    committed_seq,
    ensure_table,
    sync_catalog,
)
from .retries import _attempt
from .spec import PipelineSpec, Transform
from .store import PipelineStore, RunResult
from .transforms import transform

if TYPE_CHECKING:
    from ..session import Session, Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

# Test hook: the path of a file to create just before the table commit, then wait there (so a
# test can kill the process mid-load at a known point). Never set outside tests.
PAUSE_ENV = "DAP_TEST_PAUSE_BEFORE_COMMIT"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else ""
    if isinstance(error, DapError):
        return line
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


class _Run:
    """One run's working state."""

    def __init__(
        self,
        spec: PipelineSpec,
        base_dir: Path,
        session: Session,
        store: PipelineStore,
        run_id: str,
    ):
        self.spec = spec
        self.base_dir = base_dir
        self.target = spec.load.table
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
            [self.target],
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
        target = self.target
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
        target = self.target
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

    # -- steps ------------------------------------------------------------------------------

    def _extract(self, since: Any) -> _Batch:
        return extract(self.session, self.spec.extract, self.base_dir, since)

    def _transform(self, batch: _Batch, step: Transform) -> None:
        transform(self.session, batch, step, run_id=self.run_id, target=self.target)

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
                self.target,
                sources,
                batch.columns,
                process=f"pipeline:{self.name}",
                run_id=self.run_id,
            )
        except DapError as e:  # the data is loaded; a lineage problem must not undo the run
            log.warning("lineage of pipeline %s not recorded: %s", self.name, e)


def _bind(
    fn: Callable[[_Batch, Transform], None], batch: _Batch, step: Transform
) -> Callable[[], None]:
    return lambda: fn(batch, step)


def _pause_for_tests() -> None:
    flag = os.environ.get(PAUSE_ENV)
    if flag:
        Path(flag).touch()
        time.sleep(120)
