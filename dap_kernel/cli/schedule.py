"""dap schedule add|list|show|run|pause|resume|remove|history|rerun|log: scheduled reports.

Every command goes through the caller's client (``DAP_SERVICE_URL`` → the DAP service, else
this home), so the same rules answer here as in the lab panel and over REST.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import DapError
from ..scheduler.cron import describe
from ..scheduler.model import Run, Schedule, ScheduleClient, ScheduleSpec
from ..scheduler.params import from_pairs
from ._app import app

schedule_app = typer.Typer(
    help="Scheduled notebook reports: cron, parameters, HTML/PDF outputs, mail and webhooks.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _schedules() -> ScheduleClient:
    from ..client import connect

    return connect("cli").schedules


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip() if value is not None else "—"


def _read_notebook(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DapError(f"cannot read notebook {path}: {e}") from None
    if not isinstance(data, dict):
        raise DapError(f"{path} is not a notebook")
    return data


@schedule_app.command("add")
def add(
    notebook: Annotated[
        Path | None, typer.Argument(help="The notebook (.ipynb); a copy is scheduled.")
    ] = None,
    dashboard: Annotated[
        str, typer.Option("--dashboard", help="Snapshot a published dashboard instead.")
    ] = "",
    cron: Annotated[str, typer.Option("--cron", help='Cron expression, e.g. "0 8 * * MON".')] = "",
    timezone: Annotated[str, typer.Option("--tz", help="IANA time zone of the cron.")] = "UTC",
    param: Annotated[
        list[str], typer.Option("-p", "--param", help="NAME=VALUE (typed as the notebook says).")
    ] = [],  # noqa: B006 - typer's way of declaring a repeatable option
    formats: Annotated[
        str, typer.Option("--format", help="ipynb, html and/or pdf.")
    ] = "ipynb,html",
    to: Annotated[list[str], typer.Option("--to", help="Recipient e-mail addresses.")] = [],  # noqa: B006
    webhook: Annotated[list[str], typer.Option("--webhook", help="POST run events here.")] = [],  # noqa: B006
    name: Annotated[str, typer.Option("--name", help="Default: the notebook's name.")] = "",
    after: Annotated[
        list[str], typer.Option("--after", help="Run after this schedule (yours) succeeds.")
    ] = [],  # noqa: B006
    after_pipeline: Annotated[
        list[str], typer.Option("--after-pipeline", help="Run after this pipeline commits.")
    ] = [],  # noqa: B006
    missed: Annotated[str, typer.Option("--missed", help="skip or catch_up.")] = "skip",
    retention: Annotated[int, typer.Option("--keep", help="Runs whose outputs are kept.")] = 20,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds a run may take.")] = 3600,
    retries: Annotated[int, typer.Option("--retries", help="Retries of a failed run.")] = 2,
    backoff: Annotated[float, typer.Option("--backoff", help="Seconds before retry 1.")] = 60,
) -> None:
    """Schedule a notebook (or a dashboard as a PDF snapshot); prints the schedule id."""
    if (notebook is None) == (not dashboard):
        raise DapError("name a notebook or --dashboard NAME (one of the two)")
    spec = ScheduleSpec(
        name=name or (notebook.stem if notebook else dashboard),
        notebook=_read_notebook(notebook) if notebook else {},
        notebook_name=notebook.name if notebook else f"{dashboard}.ipynb",
        dashboard=dashboard,
        cron=cron,
        timezone=timezone,
        parameters=dict(from_pairs(param)),
        formats=_split([formats]),
        recipients=_split(to),
        webhooks=tuple(webhook),
        after=tuple(after),
        after_pipelines=tuple(after_pipeline),
        retention=retention,
        missed=missed,
        timeout_s=timeout,
        retries=retries,
        retry_backoff_s=backoff,
    )
    typer.echo(_schedules().add(spec).id)


@schedule_app.command("list")
def list_schedules(
    everyone: Annotated[bool, typer.Option("--all", help="Everyone's (administrators).")] = False,
) -> None:
    """Your schedules: id, name, when, next due."""
    rows = _schedules().list(everyone=everyone)
    if not rows:
        typer.echo("no schedules")
        return
    for s in rows:
        state = "paused" if s.paused else f"next {_when(s.next_due)}"
        when = f"{s.cron} ({s.timezone})" if s.cron else "on demand / after others"
        typer.echo(f"{s.id}  {s.name:<24} {when:<32} {state}  owner {s.owner}")


def _show_schedule(s: Schedule) -> None:
    typer.echo(f"schedule {s.id}: {s.name} (owner {s.owner}){'  [paused]' if s.paused else ''}")
    typer.echo(f"  notebook:    {s.notebook_name} (sha256 {s.notebook_sha256[:12]})")
    if s.cron:
        typer.echo(f"  when:        {s.cron} in {s.timezone} — {describe(s.cron)}")
        typer.echo(f"  next due:    {_when(s.next_due)}")
    for label, value in (
        ("after", ", ".join(s.after)),
        ("after pipeline", ", ".join(s.after_pipelines)),
        ("parameters", json.dumps(s.parameters) if s.parameters else ""),
        ("formats", ", ".join(s.formats)),
        ("recipients", ", ".join(s.recipients)),
        ("webhooks", ", ".join(s.webhooks)),
    ):
        if value:
            typer.echo(f"  {label + ':':<13}{value}")
    typer.echo(
        f"  runs:        timeout {s.timeout_s:g} s, {s.retries} retries from "
        f"{s.retry_backoff_s:g} s, missed runs {s.missed}, outputs of {s.retention} runs kept"
    )


def _show_run(run: Run) -> None:
    duration = f"{run.duration_s:.1f} s" if run.duration_s is not None else "—"
    typer.echo(
        f"{run.id}  {_when(run.due_at):<22} {run.status:<10} attempt {run.attempt}  "
        f"{duration:>8}  {run.trigger}"
    )
    if run.error:
        typer.echo(f"    error: {run.error}")
    for fmt, path in sorted(run.outputs.items()):
        typer.echo(f"    {fmt}: {path}")


@schedule_app.command("show")
def show(schedule: Annotated[str, typer.Argument(help="Schedule id or name.")]) -> None:
    """A schedule and its last runs."""
    client = _schedules()
    _show_schedule(client.get(schedule))
    for run in client.history(schedule, limit=5):
        _show_run(run)


@schedule_app.command("history")
def history(
    schedule: Annotated[str, typer.Argument(help="Schedule id or name.")],
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Runs as JSON records.")] = False,
) -> None:
    """Runs of a schedule, newest first: status, attempt, duration and output paths."""
    runs = _schedules().history(schedule, limit=limit)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return
    if not runs:
        typer.echo("no runs yet")
    for run in runs:
        _show_run(run)


def _finish(run: Run) -> None:
    _show_run(run)
    if run.status != "succeeded":
        raise typer.Exit(1)


@schedule_app.command("run")
def run_now(
    schedule: Annotated[str, typer.Argument(help="Schedule id or name.")],
    param: Annotated[
        list[str], typer.Option("-p", "--param", help="NAME=VALUE for this run.")
    ] = [],  # noqa: B006
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the outcome.")] = True,
) -> None:
    """Run a schedule now; with --wait (the default) exit 0 only if the run succeeds."""
    client = _schedules()
    run = client.run_now(schedule, dict(from_pairs(param)) or None)
    if not wait:
        typer.echo(run.id)
        return
    _finish(client.wait(run.id))


@schedule_app.command("rerun")
def rerun(
    run: Annotated[str, typer.Argument(help="Run id.")],
    as_recorded: Annotated[
        bool,
        typer.Option("--as-recorded", help="Read every table at the version the run read."),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
) -> None:
    """Run a past run again (same parameters; --as-recorded: same table versions too)."""
    client = _schedules()
    again = client.rerun(run, as_recorded=as_recorded)
    if not wait:
        typer.echo(again.id)
        return
    _finish(client.wait(again.id))


@schedule_app.command("pause")
def pause(schedule: Annotated[str, typer.Argument(help="Schedule id or name.")]) -> None:
    """Stop running on cron (queued runs are cancelled)."""
    typer.echo(f"paused {_schedules().pause(schedule).id}")


@schedule_app.command("resume")
def resume(schedule: Annotated[str, typer.Argument(help="Schedule id or name.")]) -> None:
    """Run on cron again, from now on (missed occurrences are not caught up)."""
    s = _schedules().resume(schedule)
    typer.echo(f"resumed {s.id}; next due {_when(s.next_due)}")


@schedule_app.command("remove")
def remove(schedule: Annotated[str, typer.Argument(help="Schedule id or name.")]) -> None:
    """Delete a schedule with its runs and outputs."""
    _schedules().remove(schedule)
    typer.echo(f"removed {schedule}")


@schedule_app.command("log")
def log(run: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """papermill's log of a run."""
    sys.stdout.write(_schedules().log(run))
