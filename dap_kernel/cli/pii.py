"""``dap pii``: suggested PII tags for a table's columns, and a steward's confirmation."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import _workspace, app

pii_app = typer.Typer(
    help="PII detection: suggested tags (names, value patterns), confirmed into tag masks.",
    no_args_is_help=True,
)
app.add_typer(pii_app, name="pii")


@pii_app.command("scan")
def pii_scan(
    table: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE.")],
) -> None:
    """Suggest PII tags with a confidence (no value is shown); needs MANAGE_GRANTS."""
    from ..gdpr.pii import scan_table

    found = scan_table(_workspace().session(channel="cli"), table)
    if not found:
        typer.echo(f"{table}: no column looks like personal data")
    for s in found:
        state = "tagged" if s.tagged else f"dap pii confirm {table} {s.column} {s.tag}"
        typer.echo(f"{s.column}\t{s.tag}\t{s.confidence:.2f}\t{state}")


@pii_app.command("confirm")
def pii_confirm(
    table: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE.")],
    column: Annotated[str, typer.Argument(help="The column.")],
    tag: Annotated[str, typer.Argument(help="The tag (email, phone, …); pii is added too.")],
) -> None:
    """Tag a column as PII: masks on the tag (tag:pii, tag:email …) apply to it from now on."""
    from ..gdpr.pii import confirm_tag

    tags = confirm_tag(_workspace().session(channel="cli"), table, column, tag)
    typer.echo(f"{table}.{column}: tags {', '.join(tags)}")


@pii_app.command("pending")
def pii_pending() -> None:
    """Columns an ingest found to look like personal data, not yet confirmed by a steward
    (tables whose grants you manage)."""
    from ..gdpr.pii import pending

    found = pending(_workspace().session(channel="cli"))
    if not found:
        typer.echo("no unconfirmed PII suggestions")
    for table, items in found.items():
        for s in items:
            confirm = f"dap pii confirm {table} {s['column']} {s['tag']}"
            typer.echo(f"{table}\t{s['column']}\t{s['tag']}\t{s['confidence']}\t{confirm}")
