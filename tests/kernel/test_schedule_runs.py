"""Real report runs: papermill, a real kernel and DAP's governed path, as the schedule's owner.

A run's kernel authenticates with an API key minted for the run (embedded mode here; the REST
tests run the same through `dap serve`). What an analyst with a small grant could try is
tried: read more than their grant, keep the run's key, read the scheduler's secrets, run
another's schedule, read another's outputs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dap_kernel.errors import QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.scheduler.api import Schedules
from dap_kernel.scheduler.loop import Scheduler
from dap_kernel.scheduler.model import Run, ScheduleSpec, UnknownRun, UnknownSchedule
from dap_kernel.session import Workspace
from tests.reports import notebook

pytestmark = pytest.mark.slow

ANN = Principal(name="ann")


def outputs_text(run: Run) -> str:
    nb = json.loads(Path(run.outputs["ipynb"]).read_text())
    return "".join(
        "".join(o.get("text", "")) + json.dumps(o.get("data", {})) + o.get("evalue", "")
        for c in nb["cells"]
        for o in c.get("outputs", [])
    )


@pytest.fixture
def sales(workspace: Workspace) -> Iterator[Workspace]:
    """ann may read her region's sales only; the table has rows of two regions."""
    workspace.session().create_table(
        "sales",
        pl.DataFrame({"region": ["EMEA", "APAC", "EMEA"], "amount": [1.5, 2.0, 3.0]}),
    )
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.grant("SELECT", "main.sales", "user", "ann")
    admin.add_row_filter("main.sales", "region = current_user_attr('region')")
    yield workspace


def run_once(ws: Workspace, api: Schedules, schedule_id: str, **params: Any) -> Run:
    run = api.run_now(schedule_id, params or None)
    return Scheduler(ws).run_and_wait(run.id, timeout_s=120)


TOTALS = (
    "import dap_kernel as dap\n"
    "df = dap.sql('SELECT region, sum(amount) AS total FROM sales GROUP BY 1 ORDER BY 1')\n"
    "print('rows', df.rows())"
)


def test_a_report_runs_as_its_owner_through_their_row_filter(sales: Workspace) -> None:
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="totals", notebook=notebook(TOTALS), formats=("ipynb",)))
    done = run_once(sales, api, s.id)
    assert done.status == "succeeded", done.error
    assert "rows [('EMEA', 4.5)]" in outputs_text(done)  # APAC is filtered out for ann
    assert done.reads == {"main.sales": 0}
    assert done.packages["papermill"] and done.packages["duckdb"]
    assert done.notebook_sha256 == s.notebook_sha256
    # The run's key died with the run: nothing a notebook kept can be used later.
    keys = sales.apikeys.list_keys("ann")
    assert keys and all(k.state != "active" for k in keys)


def test_parameters_reach_the_notebook_typed_and_quoted(sales: Workspace) -> None:
    api = Schedules(sales.session(ANN))
    code = "print(repr(region), repr(top))"
    s = api.add(
        ScheduleSpec(
            name="p",
            notebook=notebook(code, params='region = "EMEA"\ntop = 3'),
            parameters={"region": 'it\'s "quoted"\\n', "top": "7"},
            formats=("ipynb",),
        )
    )
    done = run_once(sales, api, s.id)
    assert done.status == "succeeded", done.error
    assert repr('it\'s "quoted"\\n') + " 7" in outputs_text(done)


def test_a_revoked_grant_fails_the_next_run_and_leaks_nothing(sales: Workspace) -> None:
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="totals", notebook=notebook(TOTALS), retries=0))
    assert run_once(sales, api, s.id).status == "succeeded"
    sales.admin("tester").revoke("SELECT", "main.sales", "user", "ann")
    done = run_once(sales, api, s.id)
    assert done.status == "failed"
    assert "may not SELECT main.sales" in done.error
    assert done.failed_cell is not None
    assert (done.failed_cell["execution_count"], done.failed_cell["ename"]) == (2, "QueryRefused")
    assert "dap.sql(" in done.failed_cell["source"]
    text = outputs_text(done)
    assert "4.5" not in text and "APAC" not in text
    assert set(done.outputs) == {"ipynb"}  # the executed notebook shows where it stopped


def test_the_kernel_gets_none_of_the_schedulers_secrets(
    sales: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "DAP_SMTP_PASSWORD": "smtp-hunter2",
        "DAP_METRICS_TOKEN": "metrics-hunter2",
        "JUPYTERHUB_API_TOKEN": "hub-hunter2",
        "AWS_SECRET_ACCESS_KEY": "aws-hunter2",
    }.items():
        monkeypatch.setenv(name, value)
    # A CA bundle is no secret: the kernel needs it to trust a DAP service's https URL.
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/dap-trust.pem")
    api = Schedules(sales.session(ANN))
    code = "import os, json\nprint(json.dumps(dict(os.environ)))"
    s = api.add(ScheduleSpec(name="env", notebook=notebook(code), formats=("ipynb",)))
    done = run_once(sales, api, s.id)
    assert done.status == "succeeded", done.error
    text = outputs_text(done)
    assert "hunter2" not in text
    assert "DAP_API_KEY" in text  # the run's own key, revoked by now
    assert '"SSL_CERT_FILE": "/etc/ssl/dap-trust.pem"' in text


def test_a_timeout_kills_the_run(sales: Workspace) -> None:
    api = Schedules(sales.session(ANN))
    code = "import time\ntime.sleep(60)"
    s = api.add(ScheduleSpec(name="slow", notebook=notebook(code), timeout_s=8, retries=0))
    done = run_once(sales, api, s.id)
    assert done.status == "failed"
    assert "longer than its timeout of 8 s" in done.error


def test_rerun_as_recorded_reads_the_versions_the_run_read(sales: Workspace) -> None:
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="totals", notebook=notebook(TOTALS), formats=("ipynb",)))
    first = run_once(sales, api, s.id)
    sales.session().sql("INSERT INTO sales SELECT 'EMEA', 100.0")
    again = Scheduler(sales).run_and_wait(api.rerun(first.id, as_recorded=True).id)
    fresh = Scheduler(sales).run_and_wait(api.rerun(first.id).id)
    assert "rows [('EMEA', 4.5)]" in outputs_text(first)
    assert "rows [('EMEA', 4.5)]" in outputs_text(again)
    assert again.reads == first.reads == {"main.sales": 0}
    assert again.as_recorded == first.id
    assert "rows [('EMEA', 104.5)]" in outputs_text(fresh)
    assert fresh.reads == {"main.sales": 1}


def test_others_cannot_see_run_or_read_a_schedule(sales: Workspace) -> None:
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="totals", notebook=notebook(TOTALS), formats=("ipynb",)))
    done = run_once(sales, api, s.id)
    sales.admin("tester").add_user("mallory")
    mallory = Schedules(sales.session(Principal(name="mallory")))
    for attempt in (
        lambda: mallory.get(s.id),
        lambda: mallory.history(s.id),
        lambda: mallory.run_now(s.id),
        lambda: mallory.pause(s.id),
        lambda: mallory.remove(s.id),
        lambda: mallory.update(s.id, cron="* * * * *"),
    ):
        with pytest.raises(UnknownSchedule):
            attempt()
    for attempt in (
        lambda: mallory.run(done.id),
        lambda: mallory.output(done.id, "ipynb"),
        lambda: mallory.log(done.id),
        lambda: mallory.rerun(done.id),
    ):
        with pytest.raises(UnknownRun):
            attempt()
    assert mallory.list() == [] and mallory.list(everyone=True) == []
    # The administrator sees every schedule and run, but cannot run one as its owner.
    admin = Schedules(sales.session())
    assert [x.id for x in admin.list(everyone=True)] == [s.id]
    assert admin.output(done.id, "ipynb").is_file()
    with pytest.raises(QueryRefused, match="runs as its owner"):
        admin.run_now(s.id)


SCHEDULER = """
import sys, time
from dap_kernel.settings import Settings
from dap_kernel.session import Workspace
from tests.reports import notebook
from dap_kernel.scheduler.loop import Scheduler
Scheduler(Workspace(Settings.from_env()), lease_s=4, tick_s=0.3).start()
while True:
    time.sleep(1)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_scheduler_killed_mid_run_completes_the_occurrence_once(
    sales: Workspace, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    code = (
        "import os, time, pathlib\n"
        f"marks = pathlib.Path({str(marks)!r})\n"
        "(marks / f'started-{os.getpid()}').touch()\n"
        "time.sleep(6)\n"
        "(marks / f'finished-{os.getpid()}').touch()"
    )
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="long", notebook=notebook(code), formats=("ipynb",)))
    run = api.run_now(s.id)
    env = {
        **os.environ,
        "DAP_HOME": str(sales.settings.home),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    first = subprocess.Popen([sys.executable, "-c", SCHEDULER], env=env)
    try:
        _wait(lambda: any(marks.glob("started-*")), 90, "the first kernel")
        kernel = int(next(marks.glob("started-*")).name.split("-")[1])
        first.send_signal(signal.SIGKILL)
        first.wait()
        _wait(lambda: not _alive(kernel), 15, "the orphaned kernel to die")
        assert not any(marks.glob("finished-*"))
        second = subprocess.Popen([sys.executable, "-c", SCHEDULER], env=env)
        try:
            _wait(lambda: api.run(run.id).status == "succeeded", 120, "the run to succeed")
        finally:
            second.kill()
            second.wait()
    finally:
        if first.poll() is None:
            first.kill()
    done = api.run(run.id)
    assert done.attempt == 2
    assert len(list(marks.glob("finished-*"))) == 1
    assert [r.id for r in api.history(s.id)] == [run.id]


def test_only_a_plain_executed_notebook_is_taken_from_the_kernels_folder(tmp_path: Path) -> None:
    """The kernel may swap what papermill wrote for a link to the service's database: the
    unconfined scheduler would read it and hand it back as the report. Nothing but a plain
    one-link file holding a notebook is taken."""
    from dap_kernel.scheduler.execute import TamperedReport, take_executed

    secret = tmp_path / "meta.db"
    secret.write_text('{"cells": [], "secret": "every row"}')
    kept = tmp_path / "kept.ipynb"
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    produced = kernel / "executed.ipynb"
    produced.symlink_to(secret)
    with pytest.raises(TamperedReport, match="not a plain file"):
        take_executed(produced, kept)
    produced.unlink()
    os.link(secret, produced)  # a hard link: same file, two names
    with pytest.raises(TamperedReport, match="not a plain file"):
        take_executed(produced, kept)
    produced.unlink()
    os.mkfifo(produced)  # would block a reader forever
    with pytest.raises(TamperedReport, match="not a plain file"):
        take_executed(produced, kept)
    produced.unlink()
    produced.write_text("not json")
    with pytest.raises(TamperedReport, match="not a notebook"):
        take_executed(produced, kept)
    assert not kept.exists()
    produced.write_text(json.dumps(notebook("print(1)")))
    take_executed(produced, kept)
    assert json.loads(kept.read_text())["cells"]


def test_an_administrator_cannot_change_what_anothers_schedule_runs(sales: Workspace) -> None:
    """A schedule runs as its owner: changing its notebook would be acting as them."""
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="totals", notebook=notebook(TOTALS), formats=("ipynb",)))
    admin = Schedules(sales.session())
    with pytest.raises(QueryRefused, match="only they may change it"):
        admin.update(s.id, notebook=notebook("print('not ann')"))
    assert admin.pause(s.id).paused  # stopping it is an administrator's call
    assert api.get(s.id).notebook_sha256 == s.notebook_sha256


def test_a_run_cannot_plant_a_schedule(sales: Workspace) -> None:
    """What a report's kernel holds (a key bound to its run) adds and changes no schedule."""
    api = Schedules(sales.session(ANN))
    s = api.add(ScheduleSpec(name="totals", notebook=notebook(TOTALS), formats=("ipynb",)))
    as_run = Schedules(sales.session(Principal(name="ann", source="apikey", run="r1")))
    with pytest.raises(QueryRefused, match="a scheduled run may not"):
        as_run.add(ScheduleSpec(name="planted", notebook=notebook("print(1)")))
    with pytest.raises(QueryRefused, match="a scheduled run may not"):
        as_run.update(s.id, cron="* * * * *")
    assert [x.name for x in api.list()] == ["totals"]
