"""dap ingest PATH --table NAME: load files into lake tables, bad rows quarantined."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._app import _workspace, app


@app.command("ingest")
def ingest_command(
    path: Annotated[str, typer.Argument(help="A file, a folder or a glob such as 'data/*.csv'.")],
    table: Annotated[
        str, typer.Option("--table", "-t", help="TABLE or SCHEMA.TABLE to load into.")
    ],
    mode: Annotated[
        str, typer.Option(help="append, overwrite (re-runs load exactly once) or merge.")
    ] = "append",
    key: Annotated[
        list[str] | None, typer.Option("--key", "-k", help="Merge key column (repeatable).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(help="csv, tsv, parquet, json, ndjson or xlsx (default: by extension)."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV field delimiter (default: detected); 'tab' or '\\t'.")
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Excel sheet (default: the first with data; all: every sheet, same columns)."
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (default: detected).")] = None,
) -> None:
    """Load a file, folder or glob into a lake table; malformed rows go to TABLE__quarantine."""
    from ..ingestion import ingest

    options: dict[str, Any] = {}
    if delimiter is not None:
        options["delimiter"] = delimiter
    if sheet is not None:
        options["sheet"] = sheet
    if encoding is not None:
        options["encoding"] = encoding
    result = ingest(
        path,
        table,
        mode=mode,
        keys=key or (),
        format=format,
        options=options,
        session=_workspace().session(channel="cli"),
    )
    typer.echo(result.summary())
