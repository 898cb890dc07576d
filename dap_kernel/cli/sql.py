"""dap sql QUERY: one governed query, through the caller's client like ``dap.sql``."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import DapError
from ._app import _print_frame, app


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SQL query over the catalog.")],
    limit: Annotated[int | None, typer.Option(help="Return at most N rows.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, bound as :NAME.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Read the tables at a Delta version or an ISO time.")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="The engine that runs it: duckdb or chdb (default DAP_ENGINE)."),
    ] = None,
) -> None:
    """Run one governed query (or CREATE TABLE … AS SELECT / INSERT INTO … SELECT)."""
    if param and any("=" not in p for p in param):
        raise DapError("--param takes NAME=VALUE")
    params = dict(p.split("=", 1) for p in param or []) or None
    from ..client import connect

    # The CLI's client, like dap.sql's: the DAP service of DAP_SERVICE_URL if one is set.
    frame = connect(channel="cli").sql(query, params, limit=limit, as_of=as_of, engine=engine)
    _print_frame(frame, format)
