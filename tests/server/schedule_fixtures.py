"""Report notebooks and finished runs for the schedule tests (REST, auth matrix, differential)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from dap_kernel.governance.identity import Principal
from dap_kernel.scheduler.api import Schedules
from dap_kernel.scheduler.execute import Outcome, run_dir
from dap_kernel.scheduler.loop import Scheduler
from dap_kernel.scheduler.model import Run, Schedule, ScheduleSpec
from dap_kernel.session import Workspace

# A cell of the report's author that tries to run script wherever the HTML report is opened.
SCRIPT = "<script>fetch('/dap/api/v1/apikeys', {method: 'POST'})</script><b>numbers</b>"


def report_notebook(*, script: bool = False) -> dict[str, Any]:
    """A report with a ``parameters`` cell and a governed query of a demo table."""
    cells = [
        new_code_cell("region: str = 'EMEA'\nlimit: int = 5", metadata={"tags": ["parameters"]}),
        new_code_cell(
            "import dap_kernel as dap\n"
            "frame = dap.sql('SELECT region, count(*) AS n FROM customers "
            "WHERE region = :region GROUP BY region', {'region': region})\n"
            "print('ROWS', frame.rows())"
        ),
    ]
    if script:
        cells.append(
            new_code_cell(f"from IPython.display import HTML, display\ndisplay(HTML({SCRIPT!r}))")
        )
    notebook: dict[str, Any] = json.loads(nbformat.writes(new_notebook(cells=cells)))
    return notebook


def report_body(name: str, **fields: Any) -> dict[str, Any]:
    """A POST ``schedules`` body: a report that only runs when asked."""
    return {"name": name, "notebook": report_notebook(), "retries": 0, **fields}


def finished_run(ws: Workspace, owner: str, name: str) -> tuple[Schedule, Run]:
    """A schedule of ``owner`` with one succeeded run and HTML and ipynb outputs, executed by
    the real scheduler with a stand-in for papermill (what the file says does not matter)."""

    def executor(_ws: Workspace, _schedule: Schedule, _nb: Any, run: Run, **_: Any) -> Outcome:
        folder = run_dir(ws, run)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text(f"<html><body>{SCRIPT}</body></html>")
        (folder / "report.ipynb").write_text(json.dumps(report_notebook()))
        (folder / "run.log").write_text("Executing cell 1\n")
        outputs = {"html": str(folder / "report.html"), "ipynb": str(folder / "report.ipynb")}
        return Outcome(status="succeeded", outputs=outputs)

    schedules = Schedules(ws.session(Principal(name=owner, source="test")))
    schedule = schedules.add(
        ScheduleSpec(name=name, notebook=report_notebook(), formats=("ipynb", "html"), retries=0)
    )
    queued = schedules.run_now(schedule.id)
    run = Scheduler(ws, executor=executor).run_and_wait(queued.id, timeout_s=60)
    assert run.status == "succeeded", run.error
    return schedule, run


def output_file(run: Run, fmt: str) -> Path:
    return Path(run.outputs[fmt])
