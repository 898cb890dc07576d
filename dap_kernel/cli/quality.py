"""dap quality: data-quality rules and their latest results."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._app import _print_frame, _workspace, app

if TYPE_CHECKING:
    import polars as pl

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
    import yaml

    from ..quality import load_rules, require_rule_writer, set_rules
    from ..quality.view import quality_status

    ws = _workspace()
    session = ws.session(channel="cli")
    if set_ is not None:
        name = require_rule_writer(session.governed_catalog, table).qualified_name
        parsed = set_rules(name, load_rules(set_), session=session)
        typer.echo(f"{name}: {len(parsed)} rule{'s' if len(parsed) != 1 else ''} stored")
        return
    seen = quality_status(session.governed_catalog, ws.meta, table)
    if not seen.rules:
        typer.echo(f"{seen.table} has no quality rules (set them with --set FILE.yaml)")
        return
    typer.echo(
        yaml.safe_dump(
            [r.to_spec() for r in seen.rules], sort_keys=False, allow_unicode=True
        ).rstrip()
    )


@quality_app.command("show")
def quality_show(
    table: Annotated[str, typer.Argument(help="The table (SCHEMA.TABLE).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print results, badge and rules as JSON.")
    ] = False,
) -> None:
    """The latest stored check of a table, rule by rule (as you may see it)."""
    from ..quality.view import quality_status

    ws = _workspace()
    seen = quality_status(ws.session(channel="cli").governed_catalog, ws.meta, table)
    name = seen.table
    if as_json:
        typer.echo(json.dumps(seen.to_dict(), indent=2, default=_iso))
        return
    if seen.checked_at is None:
        typer.echo(f"{name} has not been checked yet (run `dap quality check {name}`)")
        return
    _print_frame(_shown(seen.to_frame()), "table")
    line = f"{name}: {seen.status}, checked {seen.checked_at:%Y-%m-%d %H:%M:%S} UTC"
    line += f" by {seen.checked_by}" if seen.checked_by else ""
    if seen.table_version is not None:
        line += f" at version {seen.table_version}"
    fresh = seen.freshness
    if fresh and fresh["age_s"] is not None:
        line += f"; newest {fresh['column']} is {fresh['age_s'] / 3600:.1f} h old"
    if seen.figures_hidden:
        line += "; failure counts not shown (you see this table through a row filter or mask)"
    typer.echo(line)


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _shown(frame: pl.DataFrame) -> pl.DataFrame:
    """Kind and column are in the rule's name; a terminal is narrow."""
    return frame.select("rule", "severity", "status", "failures", "message")
