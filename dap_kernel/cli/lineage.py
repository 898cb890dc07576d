"""dap lineage TABLE: upstream and downstream tables (and columns)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..errors import DapError
from ._app import _workspace, app


@app.command("lineage")
def lineage_command(
    name: Annotated[
        str, typer.Argument(help="TABLE, SCHEMA.TABLE or SCHEMA.TABLE.COLUMN (column lineage).")
    ],
    depth: Annotated[int, typer.Option(help="How many steps to follow each way.", min=0)] = 5,
    format: Annotated[
        str, typer.Option("--format", "-f", help="text (a tree), json or dot (Graphviz).")
    ] = "text",
) -> None:
    """Where a table (or column) comes from and what is made from it.

    Tables you may not read are shown as (restricted).
    """
    from ..lineage import session_graph

    if format not in ("text", "json", "dot"):
        raise DapError(f"unknown --format {format!r}: use text, json or dot")
    graph = session_graph(_workspace().session(channel="cli"), name, depth=depth)
    if format == "json":
        typer.echo(json.dumps(graph.to_dict(), indent=2))
    elif format == "dot":
        typer.echo(graph.to_dot())
    else:
        typer.echo(graph.to_text())
