"""dap pipeline run|status|history|list|show: declared pipelines and their runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import _print_frame, _workspace, app

pipeline_app = typer.Typer(
    help="Run YAML pipelines (extract → transform → validate → load) and see their runs.",
    no_args_is_help=True,
)
app.add_typer(pipeline_app, name="pipeline")


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else ""


@pipeline_app.command("run")
def run(
    source: Annotated[
        str, typer.Argument(help="A pipeline YAML file, or the name of a registered pipeline.")
    ],
    with_deps: Annotated[
        bool, typer.Option("--with-deps", help="Run the pipelines it depends on first.")
    ] = False,
) -> None:
    """Run a pipeline; prints the run id and rows read, written and quarantined."""
    from ..pipelines import pipeline, registered

    session = _workspace().session(channel="cli")
    path = Path(source).expanduser()
    if path.is_file() or path.suffix.lower() in (".yaml", ".yml"):
        target = pipeline(path)
    else:
        target = registered(session, source)
    steps = target.upstream(session) if with_deps else [target]
    for item in steps:
        result = item.run(session)  # one at a time, each reported as it ends
        typer.echo(f"pipeline {result.pipeline}: {result.status}")
        typer.echo(f"  run id:           {result.run_id}")
        typer.echo(f"  rows read:        {result.rows_read:,}")
        typer.echo(f"  rows written:     {result.rows_written:,}")
        typer.echo(f"  rows quarantined: {result.rows_quarantined:,}")
        version = "" if result.table_version is None else f" (version {result.table_version})"
        typer.echo(f"  table:            {result.target}{version}")


@pipeline_app.command("list")
def list_pipelines(
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Registered pipelines with their target table and last run."""
    import polars as pl

    from ..pipelines import VisiblePipelines

    pipelines = VisiblePipelines(_workspace().session(channel="cli"))
    rows = []
    for info in pipelines.list():
        last = pipelines.latest(info.name)
        rows.append(
            {
                "pipeline": info.name,
                "target": info.target,
                "depends_on": ", ".join(info.depends_on),
                "owner": info.owner,
                "last_status": last.status if last else "never run",
                "last_started": _when(last.started_at) if last else "",
            }
        )
    _print_frame(pl.DataFrame(rows, schema=list(_LIST_COLUMNS)), format)


_LIST_COLUMNS = ("pipeline", "target", "depends_on", "owner", "last_status", "last_started")


@pipeline_app.command("status")
def status(
    name: Annotated[str | None, typer.Argument(help="One pipeline (default: all).")] = None,
) -> None:
    """The latest run of each pipeline (or the details of one pipeline's latest run)."""
    from ..pipelines import VisiblePipelines

    if name is None:
        list_pipelines(format="table")
        return
    pipelines = VisiblePipelines(_workspace().session(channel="cli"))
    info = pipelines.get(name)
    watermark, seq = pipelines.watermark(name)
    typer.echo(f"pipeline {info.name} → {info.target}")
    if info.depends_on:
        typer.echo(f"  depends on:  {', '.join(info.depends_on)}")
    typer.echo(f"  loads:       {seq}")
    if watermark is not None:
        shown = f"{len(watermark)} files" if isinstance(watermark, list) else str(watermark)
        typer.echo(f"  watermark:   {shown}")
    last = pipelines.latest(name)
    if last is None:
        typer.echo("  never run")
        return
    typer.echo(f"  last run:    {last.run_id} {last.status} at {_when(last.started_at)} UTC")
    typer.echo(
        f"  rows:        {last.rows_read:,} read, {last.rows_written:,} written, "
        f"{last.rows_quarantined:,} quarantined"
    )
    if last.steps:
        steps = ", ".join(f"{k} {v:g}s" for k, v in last.steps.items() if "attempts" not in k)
        typer.echo(f"  steps:       {steps}")
    if last.error:
        typer.echo(f"  error:       {last.error}")


@pipeline_app.command("show")
def show(name: Annotated[str, typer.Argument(help="A registered pipeline.")]) -> None:
    """The registered definition as YAML, credentials shown as ***."""
    import yaml

    from ..pipelines import VisiblePipelines

    info = VisiblePipelines(_workspace().session(channel="cli")).get(name)
    typer.echo(yaml.safe_dump(info.spec, sort_keys=False, allow_unicode=True).rstrip())


@pipeline_app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="The pipeline.")],
    limit: Annotated[int, typer.Option(help="At most N runs, newest first.")] = 20,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Runs of a pipeline: status, rows read/written/quarantined, duration, error."""
    import polars as pl

    from ..pipelines import VisiblePipelines

    pipelines = VisiblePipelines(_workspace().session(channel="cli"))
    pipelines.get(name)  # unknown to whoever may not see it
    rows = [
        {
            "run_id": r.run_id,
            "status": r.status,
            "started": _when(r.started_at),
            "seconds": None if r.duration_s is None else round(r.duration_s, 2),
            "read": r.rows_read,
            "written": r.rows_written,
            "quarantined": r.rows_quarantined,
            "version": r.table_version,
            "error": r.error,
        }
        for r in pipelines.runs(name, limit=limit)
    ]
    schema = {
        "run_id": pl.String,
        "status": pl.String,
        "started": pl.String,
        "seconds": pl.Float64,
        "read": pl.Int64,
        "written": pl.Int64,
        "quarantined": pl.Int64,
        "version": pl.Int64,
        "error": pl.String,
    }
    _print_frame(pl.DataFrame(rows, schema=schema), format)
