"""``dap archive``: retention policies (how far back time travel reaches, when rows move to the
archive) and the run that applies them; ``dap archive history`` lists a table's versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._app import _print_frame, _workspace, app

if TYPE_CHECKING:
    from ..archive import Retention

archive_app = typer.Typer(
    help="History and archiving of lake tables: retention policies and their runs.",
    no_args_is_help=True,
)
app.add_typer(archive_app, name="archive")


@archive_app.command("set")
def archive_set(
    table: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE (a lake table).")],
    keep_days: Annotated[
        float | None, typer.Option(help="Keep this many days of history (time travel).")
    ] = None,
    archive_after: Annotated[
        float | None, typer.Option(help="Move rows older than this many days to the archive.")
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="The date/timestamp column that says how old a row is.")
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="The archive table (default archive.TABLE).")
    ] = None,
    delete_after: Annotated[
        float | None,
        typer.Option(help="Delete rows older than this many days (from the archive too)."),
    ] = None,
    clear: Annotated[bool, typer.Option(help="Remove the table's policy.")] = False,
) -> None:
    """Set (or --clear) the retention policy of a table; needs MODIFY on it."""
    from ..archive import Retention, set_retention

    session = _workspace().session(channel="cli")
    if clear:
        set_retention(session, table, None)
        typer.echo(f"{table}: no retention policy")
        return
    policy = Retention(keep_days, archive_after, column, to, delete_after)
    set_retention(session, table, policy)
    typer.echo(f"{table}: {_describe(policy)}")


@archive_app.command("show")
def archive_show(
    table: Annotated[str | None, typer.Argument(help="One table (default: all).")] = None,
) -> None:
    """The retention policies in force."""
    from ..archive import get_retention, policies

    session = _workspace().session(channel="cli")
    found = {table: get_retention(session, table)} if table else dict(policies(session).items())
    for name, policy in found.items():
        typer.echo(f"{name}\t{_describe(policy) if policy else 'no retention policy'}")


@archive_app.command("run")
def archive_run(
    table: Annotated[str | None, typer.Argument(help="One table (default: every policy).")] = None,
) -> None:
    """Apply the policies: move old rows to the archive, delete rows past retention, vacuum
    history beyond the kept days."""
    from ..archive import run_archive

    results = run_archive(_workspace().session(channel="cli"), table)
    if not results:
        typer.echo("no table has a retention policy")
    for r in results:
        moved = f"{r.rows_archived:,} rows moved to {r.archive_table}; " if r.archive_table else ""
        deleted = f"{r.rows_deleted:,} rows past retention deleted; " if r.rows_deleted else ""
        typer.echo(
            f"{r.table}: {moved}{deleted}{r.files_vacuumed} old files vacuumed "
            f"(version {r.version})"
        )


@archive_app.command("history")
def archive_history(
    table: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE (a lake table).")],
    limit: Annotated[int, typer.Option(help="Newest versions to show.")] = 20,
) -> None:
    """The versions of a table that time travel can reach (FOR VERSION AS OF n)."""
    import polars as pl

    from ..archive import versions

    rows = versions(_workspace().session(channel="cli"), table, limit)
    _print_frame(pl.DataFrame(rows), "table")


def _describe(policy: Retention) -> str:
    parts = []
    if policy.keep_history_days is not None:
        parts.append(f"keep {policy.keep_history_days:g} days of history")
    if policy.archive_after_days is not None:
        target = policy.archive_table or "archive.<table>"
        parts.append(
            f"move rows with {policy.column} older than {policy.archive_after_days:g} days "
            f"to {target}"
        )
    if policy.delete_after_days is not None:
        parts.append(
            f"delete rows with {policy.column} older than {policy.delete_after_days:g} days"
        )
    return "; ".join(parts) or "nothing kept or moved"
