"""The scheduler of the DAP service: what is due, who runs it, retries, delivery, what next.

One :class:`Scheduler` per process (``dap serve``, the lab server of ``dap up``, or a
``dap schedule run`` waiting for its run). Each :meth:`~Scheduler.tick`:

1. **plans**: a schedule whose cron cursor has passed gets one run row per occurrence due
   (``skip``: late occurrences are recorded as skipped; ``catch_up``: they run, oldest first,
   at most :data:`MAX_CATCH_UP`), then its cursor moves on. Rows first, cursor second: a crash
   in between repeats the insert, which the unique occurrence key turns into a no-op;
2. **dispatches**: runs that are due (or whose lease lapsed: their scheduler died) are claimed
   up to the concurrency limit and executed in worker threads, with leases renewed by a
   heartbeat;
3. when a run ends: a failure with retries left waits ``retry_backoff_s × 2^(attempt-1)``; a
   final outcome is recorded only by the lease holder, then delivered (report to recipients,
   alert to the owner, webhooks), and on success the dependent schedules get their run.

The clock is injected, so tests drive DST changes, missed runs and lapsed leases directly.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from ..errors import DapError
from ..governance.identity import Principal
from ..pipelines.store import PipelineStore
from . import cron
from .execute import Outcome, execute, run_dir
from .model import FINAL, Run, Schedule, UnknownSchedule
from .notify import Notifier
from .store import ScheduleStore

if TYPE_CHECKING:
    from ..session import Workspace

log = logging.getLogger("dap.scheduler")

MAX_CATCH_UP = 50
Clock = Callable[[], datetime]
Executor = Callable[..., Outcome]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        workspace: Workspace,
        *,
        service_url: str = "",
        clock: Clock = utc_now,
        lease_s: float = 60.0,
        concurrency: int | None = None,
        tick_s: float | None = None,
        executor: Executor = execute,
        holder: str = "",
    ) -> None:
        settings = workspace.settings
        self.workspace = workspace
        self.store = ScheduleStore(workspace.meta)
        self.service_url = service_url
        self.clock = clock
        self.lease_s = lease_s
        self.concurrency = concurrency or settings.schedule_concurrency
        self.tick_s = tick_s if tick_s is not None else settings.schedule_tick_s
        self.executor = executor
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.notifier = Notifier(workspace)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dap-report")
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one step ----------------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Plan what is due and start what may start; the ids of the runs started."""
        now = self.clock()
        self.plan(now)
        return self.dispatch(now)

    def plan(self, now: datetime) -> None:
        for schedule in self.store.list():
            if schedule.paused:
                continue
            if schedule.cron and schedule.next_due is not None and schedule.next_due <= now:
                self._plan_cron(schedule, now)
            if schedule.after_pipelines:
                self._plan_pipelines(schedule, now)

    def _plan_cron(self, schedule: Schedule, now: datetime) -> None:
        first = schedule.next_due
        assert first is not None
        due = [
            first,
            *cron.due_between(schedule.cron, schedule.timezone, first, now, limit=MAX_CATCH_UP),
        ]
        due = due[-MAX_CATCH_UP:]
        for moment in due:
            late = now - moment > cron.GRACE
            skip = late and schedule.missed == "skip"
            self.store.add_run(
                schedule,
                occurrence=f"cron:{moment.isoformat()}",
                trigger="cron",
                due_at=moment,
                parameters=schedule.parameters,
                status="skipped" if skip else "queued",
            )
        self.store.advance(schedule.id, first, cron.next_due(schedule.cron, schedule.timezone, now))

    def _plan_pipelines(self, schedule: Schedule, now: datetime) -> None:
        pipelines = PipelineStore(self.workspace.meta)
        cursor = dict(self.store.pipeline_cursor(schedule.id))
        changed = False
        for name in schedule.after_pipelines:
            found = pipelines.runs(name, status="succeeded", limit=1)
            latest = found[0] if found else None
            if latest is None or cursor.get(name) == latest.run_id:
                continue
            if name in cursor:  # a commit since the last one seen: run after it
                self.store.add_run(
                    schedule,
                    occurrence=f"pipeline:{name}:{latest.run_id}",
                    trigger=f"pipeline:{name}:{latest.run_id}",
                    due_at=now,
                    parameters=schedule.parameters,
                )
            cursor[name] = latest.run_id  # (a cursor is set when the schedule is saved)
            changed = True
        if changed:
            self.store.update(schedule.id, pipeline_cursor=cursor)

    def dispatch(self, now: datetime) -> list[str]:
        with self._lock:
            free = self.concurrency - len(self._running)
        started: list[str] = []
        if free <= 0:
            return started
        for run_id in self.store.runnable(now, limit=free * 4):
            if len(started) >= free:
                break
            attempt = self.store.claim(run_id, self.holder, now, self.lease_s)
            if attempt is None:
                continue  # another scheduler was first
            with self._lock:
                self._running[run_id] = attempt  # counted at once against the limit
            self._pool.submit(self._work, run_id, attempt)
            started.append(run_id)
        return started

    # -- one run -----------------------------------------------------------------------------

    def _work(self, run_id: str, attempt: int) -> None:
        try:
            self._work_held(run_id, attempt)
        except Exception:  # a bug must not kill the worker thread silently
            log.exception("scheduled run %s failed inside the scheduler", run_id)

    def _work_held(self, run_id: str, attempt: int) -> None:
        """:meth:`work` while this scheduler's heartbeat renews the run's lease."""
        with self._lock:
            self._running[run_id] = attempt
        try:
            self.work(run_id, attempt)
        finally:
            with self._lock:
                self._running.pop(run_id, None)

    def work(self, run_id: str, attempt: int) -> Run:
        """Execute a claimed run, then record, deliver and trigger what follows."""
        run = self.store.run(run_id)
        try:
            schedule = self.store.get(run.schedule_id)
        except UnknownSchedule:
            return run  # removed while queued (its runs went with it)
        if schedule.paused and run.trigger == "cron":
            self.store.finish(run_id, self.holder, attempt, "cancelled", finished_at=self.clock())
            return self.store.run(run_id)
        try:
            outcome = self.executor(
                self.workspace,
                schedule,
                self.store.notebook(schedule.id),
                run,
                service_url=self.service_url,
            )
        except DapError as e:
            outcome = Outcome(status="failed", error=e.message)
        except Exception as e:
            log.exception("run %s could not be executed", run_id)
            outcome = Outcome(status="failed", error=f"the run could not start: {type(e).__name__}")
        return self._finish(run, schedule, attempt, outcome)

    def _finish(self, run: Run, schedule: Schedule, attempt: int, outcome: Outcome) -> Run:
        now = self.clock()
        record: dict[str, Any] = {
            "error": outcome.error,
            "failed_cell": outcome.failed_cell,
            "outputs": outcome.outputs,
            "packages": outcome.packages,
            "quality": self._quality(run),
        }
        if outcome.status == "failed" and attempt <= schedule.retries:
            wait = schedule.retry_backoff_s * 2 ** (attempt - 1)
            self.store.finish(
                run.id,
                self.holder,
                attempt,
                "retrying",
                not_before=now + timedelta(seconds=wait),
                **record,
            )
            self._wake.set()
            return self.store.run(run.id)
        if not self.store.finish(
            run.id, self.holder, attempt, outcome.status, finished_at=now, **record
        ):
            return self.store.run(run.id)  # the lease lapsed and another scheduler took over
        done = self.store.run(run.id)
        if done.status == "succeeded":  # before delivery: a slow mail server delays no one
            self._trigger_dependents(schedule, done, now)
        self._apply_retention(schedule)
        self.store.set_run(run.id, delivered=self.notifier.deliver(schedule, done))
        return self.store.run(run.id)

    def _quality(self, run: Run) -> dict[str, str]:
        """The quality badge of each table the run read, as its owner saw it then."""
        from ..quality.view import quality_status

        reads = self.store.reads.reads(run.id)
        if not reads:
            return {}
        session = self.workspace.session(Principal(name=run.owner, source="service"))
        found: dict[str, str] = {}
        for table in reads:
            try:
                found[table] = quality_status(
                    session.governed_catalog, self.workspace.meta, table
                ).status
            except DapError:
                found[table] = "unknown"
        return found

    def _trigger_dependents(self, parent: Schedule, run: Run, now: datetime) -> None:
        for child in self.store.dependents(parent.id):
            if child.paused or child.owner != parent.owner:
                continue
            self.store.add_run(
                child,
                occurrence=f"after:{run.id}",
                trigger=f"after:{run.id}",
                due_at=now,
                parameters=child.parameters,
            )
        self._wake.set()

    def _apply_retention(self, schedule: Schedule) -> None:
        """Outputs of the newest ``retention`` finished runs are kept; older ones deleted."""
        import shutil

        finished = [r for r in self.store.runs(schedule.id, limit=10_000) if r.status in FINAL]
        for old in finished[schedule.retention :]:
            if old.outputs:
                shutil.rmtree(run_dir(self.workspace, old), ignore_errors=True)
                self.store.set_run(old.id, outputs={})

    # -- running in the background -----------------------------------------------------------

    def start(self) -> None:
        """Tick in a background thread, and renew leases in another, until :meth:`stop`."""
        for target, name in ((self._loop, "dap-scheduler"), (self._heartbeat, "dap-leases")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Look at what is due now rather than at the next tick (a run was just queued)."""
        self._wake.set()

    def stop(self, *, wait: bool = False) -> None:
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except (DapError, SQLAlchemyError):
                log.exception("scheduler tick failed; trying again")
            self._wake.wait(self.tick_s)
            self._wake.clear()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                ids = list(self._running)
            with contextlib.suppress(DapError, SQLAlchemyError):
                self.store.heartbeat(ids, self.holder, self.clock(), self.lease_s)

    # -- one run, waited for ------------------------------------------------------------------

    def run_and_wait(
        self, run_id: str, *, poll_s: float = 0.5, timeout_s: float | None = None
    ) -> Run:
        """Execute ``run_id`` here (retries included) unless another scheduler has it; return
        its final record. What ``dap schedule run`` does."""

        def execute_if_free(_run: Run) -> bool:
            attempt = self.store.claim(run_id, self.holder, self.clock(), self.lease_s)
            if attempt is not None:
                self._work_held(run_id, attempt)
            return attempt is not None

        heartbeat = threading.Thread(target=self._heartbeat, daemon=True)
        heartbeat.start()
        try:
            read = functools.partial(self.store.run, run_id)
            return wait_final(read, timeout_s=timeout_s, poll_s=poll_s, step=execute_if_free)
        finally:
            self._stop.set()


class RunStillGoing(DapError):
    code = "run_not_finished"
    http_status = 504


def wait_final(
    read: Callable[[], Run],
    *,
    timeout_s: float | None = None,
    poll_s: float = 0.5,
    step: Callable[[Run], bool] | None = None,
) -> Run:
    """Poll ``read`` until the run it reads is final; ``step`` may move it on meanwhile (and
    says whether it did, so the next look comes at once)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        run = read()
        if run.status in FINAL:
            return run
        if deadline is not None and time.monotonic() > deadline:
            raise RunStillGoing(f"run {run.id} is still {run.status}")
        if step is None or not step(run):
            time.sleep(poll_s)
