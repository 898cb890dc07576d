"""dap catalog list|show|search|register: the tables you may read, and new registrations."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import DapError
from ._app import _workspace, app

if TYPE_CHECKING:
    from ..catalog.governed import GovernedCatalog

catalog_app = typer.Typer(
    help="List, show, search and register catalog tables.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


def _reader() -> GovernedCatalog:
    """The caller's catalog reads without opening the workspace (quick: no lake, no engine)."""
    from ..catalog.listing import governed_reader
    from ..settings import Settings

    return governed_reader(Settings.from_env())


@catalog_app.command("list")
def catalog_list(
    schema: Annotated[str | None, typer.Option(help="Only this schema.")] = None,
) -> None:
    """One table per line: name, kind, rows, description (the tables you may read)."""
    tables = _reader().search("")
    for t in (t for t in tables if schema is None or t.schema == schema):
        rows = "?" if t.row_count is None else f"{t.row_count}"
        typer.echo(f"{t.qualified_name}\t{t.kind}\t{rows}\t{t.description}")


@catalog_app.command("show")
def catalog_show(
    name: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE")],
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Schema, statistics and documentation of one table, as you may see it."""
    info = _workspace().session(channel="cli").describe(name)
    if json_out:
        typer.echo(json.dumps(info.to_dict(), indent=2, default=str))
        return
    from ..catalog.views import TableDescription, terminal_width

    typer.echo(TableDescription(info).text(terminal_width()))


@catalog_app.command("search")
def catalog_search(term: Annotated[str, typer.Argument(help="Name, tag, column or word.")]) -> None:
    """Find the tables you may read by name, tag, column or description."""
    for t in _reader().search(term):
        typer.echo(f"{t.qualified_name}\t{t.kind}\t{t.description}")


@catalog_app.command("register")
def catalog_register(
    name: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE")],
    source: Annotated[
        str,
        typer.Argument(
            help="File path/glob, a sqlite:/// / postgresql:// URL, or clickhouse:DATABASE.TABLE "
            "(a table of the DAP_CLICKHOUSE_URL server)"
        ),
    ],
    table: Annotated[str | None, typer.Option(help="Source table, for a database URL.")] = None,
    format: Annotated[
        str | None, typer.Option(help="parquet, csv or json (default: by extension).")
    ] = None,
    description: Annotated[str, typer.Option(help="What the table holds.")] = "",
    replace: Annotated[bool, typer.Option(help="Replace an existing registration.")] = False,
) -> None:
    """Register an external file or database table in the catalog."""

    session = _workspace().session(channel="cli")
    if source.startswith("clickhouse:") and "://" not in source:
        info = session.register_clickhouse_table(
            name, source.removeprefix("clickhouse:"), description=description, replace=replace
        )
    elif "://" in source:
        if not table:
            raise DapError("--table is required for a database source")
        info = session.register_database_table(
            name, source, table, description=description, replace=replace
        )
    else:
        info = session.register_file(
            name, source, format=format, description=description, replace=replace
        )
    typer.echo(
        f"registered {info.qualified_name}: {info.row_count or 0:,} rows, "
        f"{len(info.columns)} columns"
    )


@catalog_app.command("engine")
def catalog_engine(
    name: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE (SCHEMA with --schema)")],
    engine: Annotated[
        str | None, typer.Argument(help="duckdb, chdb, … (none: show the setting)")
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Clear the setting: the schema's or DAP_ENGINE.")
    ] = False,
    schema: Annotated[
        bool, typer.Option("--schema", help="NAME is a schema: set what its tables follow.")
    ] = False,
) -> None:
    """The engine that runs statements over TABLE (or a SCHEMA's tables) when they name none
    (needs MODIFY)."""
    session = _workspace().session(channel="cli")
    if engine is None and not default:
        chosen, source = session.engine_setting(name, schema=schema)
        inherited = " (its schema's)" if source == "schema" and not schema else ""
        typer.echo(f"{chosen}{inherited}" if chosen else "default (DAP_ENGINE)")
        return
    if schema:
        session.set_schema_engine(name, None if default else engine)
    else:
        session.set_table_engine(name, None if default else engine)
    fallback = "DAP_ENGINE" if schema else "its schema's, else DAP_ENGINE"
    typer.echo(f"{name}: {f'default ({fallback})' if default else engine}")
