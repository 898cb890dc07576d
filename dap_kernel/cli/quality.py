"""dap quality: data-quality rules and their latest results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
import yaml

from . import _print_frame, _workspace, app

quality_app = typer.Typer(
    help="Data-quality rules per table: set them, check a table, show the latest results.",
    no_args_is_help=True,
)
app.add_typer(quality_app, name="quality")


@quality_app.command("check")
def quality_check(
    table: Annotated[str, typer.Argument(help="The table to check (SCHEMA.TABLE).")],
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="A YAML rules file to check instead of the table's stored rules "
            "(the results are then not stored).",
        ),
    ] = None,
    write_failures: Annotated[
        bool,
        typer.Option(
            "--write-failures",
            help="Copy the failing rows to TABLE__quarantine (needs MODIFY); never deletes rows.",
        ),
    ] = False,
) -> None:
    """Check a table as you see it; exit 1 when an error rule fails."""
    from ..quality import check, load_rules

    session = _workspace().session(channel="cli")
    spec = load_rules(rules) if rules is not None else None
    report = check(table, spec, session=session, write_failures=write_failures)
    _print_frame(_shown(report.to_frame()), "table")
    failed = len(report.failed_rules)
    summary = f"{report.table}: {report.status}"
    if failed:
        summary += f" ({failed} of {len(report.results)} rules failed)"
    if report.quarantined:
        summary += f"; {report.quarantined:,} rows copied to {report.table}__quarantine"
    if report.recorded:
        summary += "; results stored"
    typer.echo(summary)
    if report.status == "fail":
        raise typer.Exit(1)


@quality_app.command("rules")
def quality_rules(
    table: Annotated[str, typer.Argument(help="The table (SCHEMA.TABLE).")],
    set_: Annotated[
        Path | None,
        typer.Option("--set", help="Replace the table's rules with this YAML file (MODIFY)."),
    ] = None,
) -> None:
    """Print a table's rules as YAML, or set them from a file."""
    from ..quality import QualityStore, load_rules, set_rules

    ws = _workspace()
    session = ws.session(channel="cli")
    name = ws.catalog.get(table).qualified_name
    if set_ is not None:
        parsed = set_rules(name, load_rules(set_), session=session)
        typer.echo(f"{name}: {len(parsed)} rule{'s' if len(parsed) != 1 else ''} stored")
        return
    session.require("SELECT", name)
    rules = QualityStore(ws.meta).rules(name)
    if not rules:
        typer.echo(f"{name} has no quality rules (set them with --set FILE.yaml)")
        return
    typer.echo(
        yaml.safe_dump([r.to_spec() for r in rules], sort_keys=False, allow_unicode=True).rstrip()
    )


@quality_app.command("show")
def quality_show(
    table: Annotated[str, typer.Argument(help="The table (SCHEMA.TABLE).")],
) -> None:
    """The latest stored check of a table, rule by rule."""
    from ..quality import QualityStore, results_frame

    ws = _workspace()
    name = ws.catalog.get(table).qualified_name
    ws.session(channel="cli").require("SELECT", name)
    store = QualityStore(ws.meta)
    last = store.latest(name)
    if last is None:
        typer.echo(f"{name} has not been checked yet (run `dap quality check {name}`)")
        return
    _print_frame(_shown(results_frame(last.results)), "table")
    badge = store.badge(name)
    line = f"{name}: {last.status}, checked {last.checked_at:%Y-%m-%d %H:%M:%S} UTC"
    line += f" by {last.checked_by}" if last.checked_by else ""
    if last.table_version is not None:
        line += f" at version {last.table_version}"
    fresh = badge["freshness"]
    if fresh and fresh["age_s"] is not None:
        line += f"; newest {fresh['column']} is {fresh['age_s'] / 3600:.1f} h old"
    typer.echo(line)


def _shown(frame: pl.DataFrame) -> pl.DataFrame:
    """Kind and column are in the rule's name; a terminal is narrow."""
    return frame.select("rule", "severity", "status", "failures", "message")
