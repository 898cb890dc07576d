"""dap export --sql ... --to csv|xlsx|pdf PATH: governed exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import DapError
from ._app import _workspace, app


@app.command("export")
def export_command(
    path: Annotated[Path, typer.Argument(help="The file to write (kept if it exists).")],
    sql: Annotated[str, typer.Option("--sql", help="One governed SQL query over the catalog.")],
    to: Annotated[
        str | None, typer.Option("--to", help="csv, xlsx or pdf (default: from PATH's extension).")
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the sheet or report.")] = "",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, bound as :NAME.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace PATH if it exists.")] = False,
) -> None:
    """Export a query's result to CSV (streamed, any size), Excel or a PDF report.

    The query runs as you, like `dap sql`: the file holds only the rows and columns you may read.
    """
    from ..export import export_file

    if param and any("=" not in p for p in param):
        raise DapError("--param takes NAME=VALUE")
    params = dict(p.split("=", 1) for p in param or []) or None
    fmt = to or path.suffix.lstrip(".")
    if not fmt:
        raise DapError("say which format with --to csv, xlsx or pdf")
    session = _workspace().session(channel="cli")
    done = export_file(
        sql, fmt, path, title=title, params=params, session=session, overwrite=overwrite
    )
    typer.echo(f"exported {done.rows} rows to {done.path}")
