"""dap connector add|list|test|remove: named connections, governed like the REST API's.

Every command goes through :class:`~dap_kernel.connectors.access.GovernedConnectors`, so the
same privileges (USE_CONNECTOR, MANAGE_GRANTS) decide here as in the lab and over REST.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import DapError
from ._app import _workspace, app

if TYPE_CHECKING:
    from ..connectors import Connectors
    from ..connectors.access import GovernedConnectors
    from ..session import Workspace

connector_app = typer.Typer(
    help="Named connections to databases, folders and APIs (credentials encrypted).",
    no_args_is_help=True,
)
app.add_typer(connector_app, name="connector")


def _connectors(ws: Workspace) -> Connectors:
    from ..connectors import Connectors

    return Connectors(ws.meta, ws.secrets)


def _governed_connectors(ws: Workspace) -> GovernedConnectors:
    from ..connectors.access import GovernedConnectors

    return GovernedConnectors(ws.session(channel="cli"), _connectors(ws))


@connector_app.command("add")
def connector_add(
    name: Annotated[str, typer.Argument(help="Lower-case name, e.g. crm_db.")],
    url: Annotated[
        str,
        typer.Argument(
            help="postgresql://USER:PASSWORD@HOST/DB, mysql://…, sqlite:///PATH, "
            "file:///FOLDER or a folder path, or http(s)://BASE"
        ),
    ],
    description: Annotated[str, typer.Option(help="What the source is.")] = "",
    replace: Annotated[bool, typer.Option(help="Redefine an existing connector.")] = False,
) -> None:
    """Define a connector; its password is encrypted, only the redacted URL is shown."""
    ws = _workspace()
    if "://" not in url:
        url = str(Path(url).expanduser().resolve())  # a folder given relative to here
    info = _governed_connectors(ws).create(name, url, description=description, replace=replace)
    typer.echo(f"connector {info.name} saved: {info.kind} {info.url}")


@connector_app.command("list")
def connector_list() -> None:
    """One connector per line: name, kind, redacted URL, owner, description."""
    ws = _workspace()
    for c in _governed_connectors(ws).list():
        typer.echo(f"{c.name}\t{c.kind}\t{c.url}\t{c.owner}\t{c.description}")


@connector_app.command("test")
def connector_test(
    name: Annotated[str, typer.Argument(help="The connector's name.")],
    timeout: Annotated[float, typer.Option(help="Give up after N seconds.")] = 10.0,
) -> None:
    """Try to reach the source: exit 0 and list its tables/files, or 1 with the reason."""
    ws = _workspace()
    result = _governed_connectors(ws).test(name, timeout_s=timeout)
    if not result.ok:
        raise DapError(f"connector {name} failed: {result.message}")
    typer.echo(f"connector {name} ok: {result.message} ({result.elapsed_ms:.0f} ms)")
    for obj in result.objects:
        typer.echo(f"  {obj}")


@connector_app.command("remove")
def connector_remove(name: Annotated[str, typer.Argument(help="The connector's name.")]) -> None:
    """Delete a connector and its stored credentials."""
    ws = _workspace()
    _governed_connectors(ws).delete(name)
    typer.echo(f"removed connector {name}")
