"""The scheduler's decisions with an injected clock: cron in time zones across DST changes,
missed runs, leases between two schedulers on one database, retries, dependencies.

The executor is a stand-in here (what papermill would do is tested with real runs in
test_schedule_runs.py); everything else is the real store on a real SQLite database.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import nbformat
import pytest

from dap_kernel.scheduler import cron
from dap_kernel.scheduler.api import Schedules
from dap_kernel.scheduler.execute import Outcome
from dap_kernel.scheduler.loop import Scheduler
from dap_kernel.scheduler.model import Run, Schedule, ScheduleError, ScheduleSpec
from dap_kernel.session import Workspace


def notebook(code: str = "print(1)") -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('region = "EMEA"\ntop = 3\nrate = 0.5\nfull = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    return dict(nbformat.from_dict(nb))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Recorder:
    """Executes nothing: records each call, answers with the outcomes it is given."""

    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(
        self, _ws: Workspace, _schedule: Schedule, _nb: dict[str, Any], run: Run, **_: Any
    ) -> Outcome:
        with self.lock:
            self.calls.append((run.id, run.attempt))
            status = self.outcomes.pop(0) if self.outcomes else "succeeded"
        return Outcome(status=status, error="boom" if status == "failed" else "")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 7, 6, 0, tzinfo=UTC))


@pytest.fixture
def api(workspace: Workspace, clock: Clock) -> Schedules:
    return Schedules(workspace.session(), now=clock())


def scheduler(ws: Workspace, clock: Clock, executor: Recorder, **kw: Any) -> Scheduler:
    kw.setdefault("lease_s", 60)
    return Scheduler(ws, clock=clock, executor=executor, concurrency=4, **kw)


def drain(s: Scheduler) -> None:
    """Run every started run to its end (the worker threads) before looking."""
    s._pool.shutdown(wait=True)
    s._pool = type(s._pool)(s.concurrency)


# -- cron in a time zone ----------------------------------------------------------------------


def test_spring_forward_runs_a_skipped_wall_time_once_after_the_gap() -> None:
    start = datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
    due = list(
        cron.due_between("30 2 * * *", "Europe/Berlin", start, start + timedelta(days=3), limit=10)
    )
    local = [d.astimezone(cron.zone("Europe/Berlin")).strftime("%m-%d %H:%M") for d in due]
    assert local == ["03-28 02:30", "03-29 03:00", "03-30 02:30"]


def test_fall_back_runs_a_daily_time_once_and_an_interval_in_both_folds() -> None:
    start = datetime(2026, 10, 24, 0, 0, tzinfo=UTC)
    daily = cron.due_between(
        "30 2 * * *", "Europe/Berlin", start, start + timedelta(days=2), limit=10
    )
    assert len(daily) == 2  # the 25th (two 02:30s) runs once
    hour = datetime(2026, 10, 24, 23, 45, tzinfo=UTC)  # 01:45 CEST
    halves = cron.due_between(
        "*/30 * * * *", "Europe/Berlin", hour, hour + timedelta(hours=2), limit=10
    )
    gaps = {b - a for a, b in itertools.pairwise(halves)}
    assert gaps == {timedelta(minutes=30)}  # wall time repeats, real time never does
    assert len(halves) == 4


def test_due_times_are_utc_and_strictly_after() -> None:
    monday_8_berlin = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert (
        cron.next_due("0 8 * * MON", "Europe/Berlin", monday_8_berlin - timedelta(seconds=1))
        == monday_8_berlin
    )
    assert cron.next_due(
        "0 8 * * MON", "Europe/Berlin", monday_8_berlin
    ) == monday_8_berlin + timedelta(days=7)


@pytest.mark.parametrize(
    ("expr", "tz", "message"),
    [
        ("61 * * * *", "UTC", "bad minute"),
        ("0 8 * *", "UTC", "needs 5 fields"),
        ("0 8 * * MON", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_cron_and_zones_say_what_is_wrong(expr: str, tz: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        cron.check(expr, tz)


# -- parameters ---------------------------------------------------------------------------


def test_parameters_are_typed_as_the_notebook_declares(api: Schedules) -> None:
    s = api.add(
        ScheduleSpec(
            name="w",
            notebook=notebook(),
            cron="0 8 * * MON",
            parameters={"region": 'He said "hi"', "top": "5", "rate": "1.5", "full": "yes"},
        )
    )
    assert s.parameters == {"region": 'He said "hi"', "top": 5, "rate": 1.5, "full": True}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nope": "1"}, "no parameter nope; it has full, rate, region, top"),
        ({"top": "many"}, "parameter top takes a value of type int"),
        ({"full": "maybe"}, "parameter full takes a value of type bool"),
    ],
)
def test_wrong_parameters_are_refused(api: Schedules, params: dict[str, str], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        api.add(ScheduleSpec(name="w", notebook=notebook(), parameters=params))


def test_a_notebook_without_a_parameters_cell_takes_none(api: Schedules) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    with pytest.raises(ScheduleError, match="no parameters cell"):
        api.add(ScheduleSpec(name="w", notebook=dict(nb), parameters={"x": "2"}))


def test_not_a_notebook_is_refused(api: Schedules) -> None:
    with pytest.raises(ScheduleError, match="not a valid notebook"):
        api.add(ScheduleSpec(name="w", notebook={"cells": "no"}))


# -- missed runs ----------------------------------------------------------------------------


def test_on_time_occurrence_is_queued_once(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    s = api.add(ScheduleSpec(name="h", notebook=notebook(), cron="0 * * * *"))
    assert s.next_due == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    clock.now = datetime(2026, 12, 7, 7, 0, 30, tzinfo=UTC)
    runner = Recorder()
    a = scheduler(workspace, clock, runner)
    a.plan(clock())
    a.plan(clock())  # planning twice changes nothing
    runs = api.history(s.id)
    assert [(r.status, r.due_at.hour) for r in runs] == [("queued", 7)]
    assert api.get(s.id).next_due == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("missed", "statuses"), [("skip", ["skipped"] * 5), ("catch_up", ["queued"] * 5)]
)
def test_missed_runs_are_skipped_or_caught_up(
    workspace: Workspace, clock: Clock, api: Schedules, missed: str, statuses: list[str]
) -> None:
    s = api.add(ScheduleSpec(name="h", notebook=notebook(), cron="0 * * * *", missed=missed))
    clock.now = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)  # the scheduler was down 07:00-11:30
    scheduler(workspace, clock, Recorder()).plan(clock())
    runs = sorted(api.history(s.id), key=lambda r: r.due_at)
    assert [r.due_at.hour for r in runs] == [7, 8, 9, 10, 11]
    assert [r.status for r in runs] == statuses
    assert api.get(s.id).next_due == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_paused_schedules_plan_nothing_and_resume_from_now(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    s = api.add(ScheduleSpec(name="h", notebook=notebook(), cron="0 * * * *"))
    api.pause(s.id)
    clock.now = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
    scheduler(workspace, clock, Recorder()).plan(clock())
    assert api.history(s.id) == []
    resumed = Schedules(workspace.session(), now=clock()).resume(s.id)
    assert resumed.next_due == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


# -- leases -----------------------------------------------------------------------------------


def test_two_schedulers_run_each_occurrence_once(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    for i in range(6):
        api.add(ScheduleSpec(name=f"s{i}", notebook=notebook(), cron="0 7 * * *"))
    clock.now = datetime(2026, 12, 7, 7, 0, 5, tzinfo=UTC)
    runner = Recorder()
    a = scheduler(workspace, clock, runner, holder="a")
    b = scheduler(workspace, clock, runner, holder="b")
    barrier = threading.Barrier(2)

    def tick(s: Scheduler) -> None:
        barrier.wait()
        s.tick()

    threads = [threading.Thread(target=tick, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drain(a)
    drain(b)
    a.tick(), b.tick()  # the rest, if the limit of 4 stopped one of them
    drain(a)
    drain(b)
    assert len(runner.calls) == 6
    assert len({run for run, _ in runner.calls}) == 6
    statuses = [r.status for s in api.list() for r in api.history(s.id)]
    assert statuses == ["succeeded"] * 6


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_finish(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    s = api.add(ScheduleSpec(name="h", notebook=notebook(), cron=""))
    run = api.run_now(s.id)
    store = Scheduler(workspace).store
    assert store.claim(run.id, "dead", clock(), lease_s=30) == 1  # then its process dies
    assert store.claim(run.id, "other", clock() + timedelta(seconds=10), lease_s=30) is None
    later = clock() + timedelta(seconds=31)
    assert store.claim(run.id, "other", later, lease_s=30) == 2
    assert not store.finish(run.id, "dead", 1, "failed", error="late")
    assert store.finish(run.id, "other", 2, "succeeded")
    assert store.run(run.id).status == "succeeded"


def test_heartbeats_keep_a_lease(workspace: Workspace, clock: Clock, api: Schedules) -> None:
    s = api.add(ScheduleSpec(name="h", notebook=notebook()))
    run = api.run_now(s.id)
    store = Scheduler(workspace).store
    store.claim(run.id, "a", clock(), lease_s=30)
    store.heartbeat([run.id], "a", clock() + timedelta(seconds=20), lease_s=30)
    assert store.claim(run.id, "b", clock() + timedelta(seconds=40), lease_s=30) is None


# -- retries and dependencies --------------------------------------------------------------------


def test_failures_retry_with_backoff_then_fail(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    s = api.add(ScheduleSpec(name="h", notebook=notebook(), retries=2, retry_backoff_s=10))
    run = api.run_now(s.id)
    runner = Recorder("failed", "failed", "failed")
    sch = scheduler(workspace, clock, runner)
    sch.tick()
    drain(sch)
    first = sch.store.run(run.id)
    assert (first.status, first.attempt) == ("retrying", 1)
    clock.advance(seconds=9)
    assert sch.tick() == []  # backoff 10 s
    clock.advance(seconds=1)
    sch.tick()
    drain(sch)
    clock.advance(seconds=19)
    assert sch.tick() == []  # then 20 s
    clock.advance(seconds=1)
    sch.tick()
    drain(sch)
    last = sch.store.run(run.id)
    assert (last.status, last.attempt, last.error) == ("failed", 3, "boom")
    assert [a for _, a in runner.calls] == [1, 2, 3]


def test_a_dependent_runs_only_after_its_parent_succeeds(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    parent = api.add(ScheduleSpec(name="a", notebook=notebook(), retries=0))
    child = api.add(ScheduleSpec(name="b", notebook=notebook(), after=(parent.id,)))
    sch = scheduler(workspace, clock, Recorder("failed", "succeeded", "succeeded"))
    api.run_now(parent.id)
    sch.tick()
    drain(sch)
    assert api.history(child.id) == []  # the parent failed
    api.run_now(parent.id)
    sch.tick()
    drain(sch)
    sch.tick()
    drain(sch)
    runs = api.history(child.id)
    assert [(r.status, r.trigger.split(":")[0]) for r in runs] == [("succeeded", "after")]


def test_dependencies_refuse_cycles_and_other_peoples_schedules(
    workspace: Workspace, api: Schedules
) -> None:
    a = api.add(ScheduleSpec(name="a", notebook=notebook()))
    b = api.add(ScheduleSpec(name="b", notebook=notebook(), after=(a.id,)))
    with pytest.raises(ScheduleError, match="cycle"):
        api.update(a.id, after=(b.id,))
    with pytest.raises(ScheduleError, match="run after"):
        api.remove(a.id)
    other = Schedules(workspace.session(_principal("mallory")))
    with pytest.raises(Exception, match="no schedule .* of yours to run after"):
        other.add(ScheduleSpec(name="m", notebook=notebook(), after=(a.id,)))


def _principal(name: str) -> Any:
    from dap_kernel.governance.identity import Principal

    return Principal(name=name)


def test_a_report_runs_after_each_new_commit_of_a_pipeline(
    workspace: Workspace, clock: Clock, api: Schedules
) -> None:
    from dap_kernel.pipelines.store import PipelineStore

    pipelines = PipelineStore(workspace.meta)
    pipelines.register({"name": "orders"}, base_dir="", owner="tester", target="main.orders")
    pipelines.start_run("p1", "orders", principal="tester", target="main.orders")
    pipelines.finish_run("p1", "succeeded")  # before the schedule: no run for it
    s = api.add(ScheduleSpec(name="after", notebook=notebook(), after_pipelines=("orders",)))
    sch = scheduler(workspace, clock, Recorder())
    sch.plan(clock())
    assert api.history(s.id) == []
    pipelines.start_run("p2", "orders", principal="tester", target="main.orders")
    pipelines.finish_run("p2", "failed")
    sch.plan(clock())
    assert api.history(s.id) == []  # a failed load commits nothing
    pipelines.start_run("p3", "orders", principal="tester", target="main.orders")
    pipelines.finish_run("p3", "succeeded")
    sch.plan(clock())
    sch.plan(clock())
    assert [r.trigger for r in api.history(s.id)] == ["pipeline:orders:p3"]
    with pytest.raises(Exception, match="not registered"):
        api.add(ScheduleSpec(name="x", notebook=notebook(), after_pipelines=("nope",)))
