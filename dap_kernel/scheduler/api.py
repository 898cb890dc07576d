"""The governed schedule feature: what a caller may see, change and run.

The rules, in one place for every door (CLI, magics, REST, the lab panel):

- a schedule belongs to the caller who adds it and runs as them, with their grants at the time
  of each run (a revoked grant fails the next run instead of leaking);
- callers see and change only their own schedules; administrators (MANAGE_GRANTS) see and
  manage everyone's. Anyone else's schedule is "unknown", never "forbidden", so ids do not
  tell who has which report;
- a run's outputs are copies of the owner's view of the data: only the owner (and
  administrators) read them, and every read is audited;
- recipients and webhooks are checked against the workspace's allowed mail domains and webhook
  hosts when saved, and again before each delivery;
- a schedule may run after the caller's own schedules only, and after pipelines the caller can
  see.
"""

from __future__ import annotations

import builtins
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import QueryRefused
from ..pipelines.visible import VisiblePipelines
from . import cron, delivery
from .model import (
    DASHBOARD_METADATA,
    FORMATS,
    MISSED_POLICIES,
    Run,
    Schedule,
    ScheduleError,
    ScheduleSpec,
    UnknownRun,
)
from .model import UnknownSchedule as UnknownSchedule
from .params import check_notebook, coerce
from .store import ScheduleStore

if TYPE_CHECKING:
    from ..session import Session

_EDITABLE = {
    "cron",
    "timezone",
    "parameters",
    "formats",
    "recipients",
    "webhooks",
    "after",
    "after_pipelines",
    "retention",
    "missed",
    "timeout_s",
    "retries",
    "retry_backoff_s",
    "notebook",
    "notebook_name",
}


def reports_dir(session: Session) -> Path:
    return session.workspace.settings.home / "reports"


class Schedules:
    """Schedules and runs as ``session``'s principal may see and change them."""

    def __init__(self, session: Session, *, now: datetime | None = None) -> None:
        self.session = session
        self.store = ScheduleStore(session.workspace.meta)
        self._now = now

    @property
    def caller(self) -> str:
        return self.session.principal.name

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    @property
    def manager(self) -> bool:
        return self.session.check("MANAGE_GRANTS", "*").allowed

    # -- schedules ---------------------------------------------------------------------------

    def add(self, spec: ScheduleSpec) -> Schedule:
        """Save a new schedule of the caller's; its first due time is computed from now."""
        self._not_from_a_run()
        spec = self._checked(spec)
        next_due = cron.next_due(spec.cron, spec.timezone, self.now()) if spec.cron else None
        with self.session.audit_change("schedule.add", statement=f"schedule {spec.name}"):
            created = self.store.create(self.caller, spec, cron=spec.cron, next_due=next_due)
            if spec.after_pipelines:  # run after commits from now on, not after past ones
                self.store.update(created.id, pipeline_cursor=self._pipeline_cursor(spec))
            return created

    def list(self, *, everyone: bool = False) -> list[Schedule]:
        """The caller's schedules (``everyone``: all of them, for administrators)."""
        if everyone and self.manager:
            return self.store.list()
        return self.store.list(self.caller)

    def get(self, ref: str) -> Schedule:
        """A schedule by id or by the caller's name for it."""
        found = self.store.find(self.caller, ref)
        if found is None or (found.owner != self.caller and not self.manager):
            raise UnknownSchedule(f"no schedule {ref} of yours")
        return found

    def notebook(self, ref: str) -> dict[str, Any]:
        return self.store.notebook(self.get(ref).id)

    def update(self, ref: str, /, **changes: Any) -> Schedule:
        """Change fields of a schedule (checked as on add); the cron cursor restarts from now.
        Only the owner: the schedule runs as them, so no one else may change what it runs
        (an administrator may pause or remove it)."""
        self._not_from_a_run()
        current = self.get(ref)
        if current.owner != self.caller:
            raise QueryRefused("a schedule runs as its owner: only they may change it")
        unknown = sorted(set(changes) - _EDITABLE)
        if unknown:
            raise ScheduleError(f"{unknown[0]} cannot be changed: remove and add the schedule")
        base = ScheduleSpec(
            name=current.name,
            notebook=changes.get("notebook") or self.store.notebook(current.id),
            notebook_name=current.notebook_name,
            cron=current.cron,
            timezone=current.timezone,
            parameters=current.parameters,
            formats=current.formats,
            recipients=current.recipients,
            webhooks=current.webhooks,
            after=current.after,
            after_pipelines=current.after_pipelines,
            retention=current.retention,
            missed=current.missed,
            timeout_s=current.timeout_s,
            retries=current.retries,
            retry_backoff_s=current.retry_backoff_s,
        )
        spec = self._checked(replace(base, **changes), owner=current.owner, own_id=current.id)
        values = {k: getattr(spec, k) for k in changes}
        values["cron"] = spec.cron or None
        values["next_due"] = (
            cron.next_due(spec.cron, spec.timezone, self.now()) if spec.cron else None
        )
        with self.session.audit_change("schedule.update", statement=f"schedule {current.id}"):
            return self.store.update(current.id, **values)

    def pause(self, ref: str) -> Schedule:
        schedule = self.get(ref)
        with self.session.audit_change("schedule.pause", statement=f"schedule {schedule.id}"):
            self.store.cancel_waiting(schedule.id)
            return self.store.update(schedule.id, paused=True)

    def resume(self, ref: str) -> Schedule:
        """Resume from now: occurrences missed while paused are not caught up."""
        schedule = self.get(ref)
        next_due = (
            cron.next_due(schedule.cron, schedule.timezone, self.now()) if schedule.cron else None
        )
        with self.session.audit_change("schedule.resume", statement=f"schedule {schedule.id}"):
            return self.store.update(schedule.id, paused=False, next_due=next_due)

    def remove(self, ref: str) -> None:
        """Delete a schedule, its runs and their outputs."""
        schedule = self.get(ref)
        users = [d.id for d in self.store.dependents(schedule.id)]
        if users:
            raise ScheduleError(
                f"schedules {', '.join(users)} run after {schedule.id}: change them first"
            )
        with self.session.audit_change("schedule.remove", statement=f"schedule {schedule.id}"):
            self.store.cancel_waiting(schedule.id)
            self.store.delete(schedule.id)
        shutil.rmtree(reports_dir(self.session) / schedule.id, ignore_errors=True)

    # -- runs --------------------------------------------------------------------------------

    def history(self, ref: str, *, limit: int = 50) -> builtins.list[Run]:
        return self.store.runs(self.get(ref).id, limit=limit)

    def run(self, run_id: str) -> Run:
        try:
            run: Run | None = self.store.run(run_id)
        except UnknownRun:
            run = None  # told apart from someone else's run by nothing, not even the message
        if run is None or (run.owner != self.caller and not self.manager):
            raise UnknownRun(f"no run {run_id} of yours")
        return run

    def run_now(self, ref: str, parameters: dict[str, Any] | None = None) -> Run:
        """Queue a one-off run, due now (with other parameters for this run only)."""
        schedule = self.get(ref)
        if schedule.owner != self.caller:
            raise QueryRefused("a schedule runs as its owner: only they may start it")
        values = dict(schedule.parameters)
        if parameters:
            values.update(coerce(self.store.notebook(schedule.id), parameters))
        now = self.now()
        with self.session.audit_change("schedule.run", statement=f"schedule {schedule.id}"):
            run = self.store.add_run(
                schedule,
                occurrence=f"manual:{now.isoformat()}:{secrets.token_hex(4)}",
                trigger="manual",
                due_at=now,
                parameters=values,
            )
        assert run is not None  # the occurrence key is new
        return run

    def rerun(self, run_id: str, *, as_recorded: bool = False) -> Run:
        """Run again with the same parameters; ``as_recorded`` also reads every lake table at
        the version the original run read, so the report shows the same numbers."""
        original = self.run(run_id)
        schedule = self.get(original.schedule_id)
        if schedule.owner != self.caller:
            raise QueryRefused("a schedule runs as its owner: only they may re-run it")
        if as_recorded and original.status != "succeeded":
            raise ScheduleError(f"run {run_id} did not succeed: there is nothing to reproduce")
        now = self.now()
        with self.session.audit_change("schedule.rerun", statement=f"run {run_id}"):
            run = self.store.add_run(
                schedule,
                occurrence=f"rerun:{run_id}:{now.isoformat()}",
                trigger=f"rerun:{run_id}",
                due_at=now,
                parameters=original.parameters,
                as_recorded=run_id if as_recorded else None,
            )
            assert run is not None
            if as_recorded:
                self.store.reads.record(run.id, original.reads, pinned=True)
        return run

    def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run:
        """The run's final record. The owner's queued run is executed here unless a scheduler
        (the DAP service) has it; anyone else's is only waited for."""
        from .loop import Scheduler, wait_final

        run = self.run(run_id)
        if run.owner == self.caller:
            return Scheduler(self.session.workspace).run_and_wait(run.id, timeout_s=timeout_s)
        return wait_final(lambda: self.run(run_id), timeout_s=timeout_s)

    def log(self, run_id: str) -> str:
        """papermill's log of the run (cell outputs included: read like the outputs)."""
        run = self.run(run_id)
        path = reports_dir(self.session) / run.schedule_id / run.id / "run.log"
        if not path.is_file():
            return ""
        with self.session.audit_change("report.log", statement=f"run {run_id} (owner {run.owner})"):
            return path.read_text(errors="replace")[-1_000_000:]

    def output_bytes(self, run_id: str, fmt: str) -> bytes:
        return self.output(run_id, fmt).read_bytes()

    def output(self, run_id: str, fmt: str) -> Path:
        """The file of one output of a run (the owner's or an administrator's), audited."""
        run = self.run(run_id)
        path = run.outputs.get(fmt)
        if not path or not Path(path).is_file():
            raise UnknownRun(f"run {run_id} has no {fmt} output (kept: {', '.join(run.outputs)})")
        with self.session.audit_change(
            "report.read", statement=f"run {run_id} {fmt} (owner {run.owner})"
        ):
            return Path(path)

    # -- checks ------------------------------------------------------------------------------

    def _not_from_a_run(self) -> None:
        """A report's own run (its key) may not add or change schedules: else a notebook could
        plant one that keeps acting as its owner after the run's key is gone. The same rule
        for every door (over REST the key's scopes refuse it before it gets here)."""
        if self.session.principal.run:
            raise QueryRefused("a scheduled run may not add or change schedules")

    def _checked(
        self, spec: ScheduleSpec, *, owner: str | None = None, own_id: str | None = None
    ) -> ScheduleSpec:
        owner = owner or self.caller
        name = spec.name.strip()
        if not name or len(name) > 200 or any(c in name for c in "/\\\n\r\t"):
            raise ScheduleError(f"schedule name {spec.name!r}: 1 to 200 characters, no slashes")
        if spec.dashboard:
            spec = replace(spec, notebook=self._dashboard_notebook(spec.dashboard))
        notebook = check_notebook(spec.notebook)
        cron.zone(spec.timezone)
        expr = cron.check(spec.cron, spec.timezone) if spec.cron.strip() else ""
        formats = tuple(dict.fromkeys(f.strip().lower() for f in spec.formats if f.strip()))
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise ScheduleError(
                f"output format {bad[0] if bad else '(none)'!s}: choose from {', '.join(FORMATS)}"
            )
        if spec.missed not in MISSED_POLICIES:
            raise ScheduleError(f"missed-run policy {spec.missed!r}: use skip or catch_up")
        if not 1 <= spec.retention <= 10_000:
            raise ScheduleError("retention: keep the outputs of 1 to 10000 runs")
        if not 1 <= spec.timeout_s <= 7 * 86400:
            raise ScheduleError("timeout: 1 second to 7 days")
        if not 0 <= spec.retries <= 10 or not 0 <= spec.retry_backoff_s <= 86400:
            raise ScheduleError("retries: 0 to 10, backoff 0 to 86400 seconds")
        settings = self.session.workspace.settings
        recipients = tuple(delivery.check_recipients(settings, spec.recipients))
        webhooks = tuple(delivery.check_webhook(settings, url) for url in spec.webhooks)
        self._check_after(spec.after, owner, own_id)
        self._check_pipelines(spec.after_pipelines)
        return replace(
            spec,
            name=name,
            notebook=notebook,
            notebook_name=Path(spec.notebook_name).name or "report.ipynb",
            cron=expr,
            parameters=coerce(notebook, spec.parameters),
            formats=formats,
            recipients=recipients,
            webhooks=webhooks,
        )

    def _dashboard_notebook(self, name: str) -> dict[str, Any]:
        """The published notebook of a dashboard the caller may open (audited as a view)."""
        import json

        from ..dashboards.store import get as get_dashboard

        info = get_dashboard(self.session, name)
        notebook = dict(json.loads(info.path.read_text()))
        # Its report is the page, as a viewer sees it: no code (see outputs.report_html).
        metadata = notebook.setdefault("metadata", {})
        metadata.setdefault("dap", {})[DASHBOARD_METADATA] = name
        return notebook

    def _check_after(self, after: Sequence[str], owner: str, own_id: str | None) -> None:
        for ref in after:
            parent = self.store.find(owner, ref)
            if parent is None or parent.owner != owner:
                raise UnknownSchedule(f"no schedule {ref} of yours to run after")
            if own_id is not None and self._reaches(parent.id, own_id):
                raise ScheduleError(f"running after {ref} would make a cycle")

    def _reaches(self, start: str, target: str) -> bool:
        """Whether ``start`` runs (transitively) after ``target``."""
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == target:
                return True
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.store.get(current).after)
        return False

    def _pipeline_cursor(self, spec: ScheduleSpec) -> dict[str, str]:
        store = VisiblePipelines(self.session).store
        cursor = {}
        for name in spec.after_pipelines:
            last = store.runs(name, status="succeeded", limit=1)
            cursor[name] = last[0].run_id if last else ""
        return cursor

    def _check_pipelines(self, names: Sequence[str]) -> None:
        visible = VisiblePipelines(self.session)
        for name in names:
            visible.get(name)  # unknown (or not the caller's to see): the same clear error
