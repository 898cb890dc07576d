"""dap dashboard publish|list|grant|serve: dashboards as governed objects."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ._app import _workspace, app

dashboard_app = typer.Typer(
    help="Publish notebooks as dashboards, list the ones you may open, serve one with Voilà.",
    no_args_is_help=True,
)
app.add_typer(dashboard_app, name="dashboard")


@dashboard_app.command("publish")
def publish_cmd(
    notebook: Annotated[Path, typer.Argument(help="The dashboard notebook (.ipynb).")],
    name: Annotated[str | None, typer.Option(help="Dashboard name (default: file name).")] = None,
    description: Annotated[str, typer.Option(help="One line for the gallery.")] = "",
    grant_group: Annotated[
        list[str] | None, typer.Option("--grant-group", help="Group that may open it (repeat).")
    ] = None,
    grant_user: Annotated[
        list[str] | None, typer.Option("--grant-user", help="User who may open it (repeat).")
    ] = None,
) -> None:
    """Register NOTEBOOK as a dashboard you own; its queries run as each viewer."""
    from ..dashboards.store import publish

    grants = [f"group:{g}" for g in grant_group or []] + [f"user:{u}" for u in grant_user or []]
    info = publish(
        notebook,
        name=name,
        description=description,
        grants=grants,
        session=_workspace().session(channel="cli"),
    )
    typer.echo(f"published dashboard {info.name} ({info.title}), owner {info.owner}")
    if info.grants:
        typer.echo(f"may open it: {', '.join(info.grants)}")


@dashboard_app.command("list")
def list_cmd() -> None:
    """Dashboards you may open: name, title, owner, description."""
    from ..dashboards.store import gallery

    for info in gallery(_workspace().session(channel="cli")):
        typer.echo(f"{info.name}\t{info.title}\t{info.owner}\t{info.description}")


@dashboard_app.command("grant")
def grant_cmd(
    name: Annotated[str, typer.Argument(help="Dashboard name.")],
    group: Annotated[str | None, typer.Option(help="Group that may open it.")] = None,
    user: Annotated[str | None, typer.Option(help="User who may open it.")] = None,
) -> None:
    """Let a group or a user open a dashboard (its owner or a grant manager may)."""
    from ..dashboards.store import grant
    from ..errors import DapError

    if (group is None) == (user is None):
        raise DapError("give exactly one of --group or --user")
    kind, who = ("group", group) if group else ("user", user)
    assert who is not None
    grant(_workspace().session(channel="cli"), name, kind, who)
    typer.echo(f"{kind} {who} may open dashboard {name}")


@dashboard_app.command("serve")
def serve_cmd(
    name: Annotated[str, typer.Argument(help="A published dashboard, or a notebook path.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8866,
    preheat: Annotated[
        bool, typer.Option(help="Keep a kernel ready (the page opens faster).")
    ] = True,
    pool_size: Annotated[int, typer.Option(help="Preheated kernels to keep.")] = 1,
) -> None:
    """Serve a dashboard with Voilà and the dap template; viewers send X-DAP-API-Key."""
    from ..dashboards.serve import voila_args, voila_env
    from ..dashboards.store import copy_notebook, get
    from ..session import reset_default_workspace

    path = Path(name)
    if not (path.suffix == ".ipynb" and path.is_file()):
        info = get(_workspace().session(channel="cli"), name)
        path = copy_notebook(info, Path(tempfile.mkdtemp(prefix="dap-dashboard-")))
    args = voila_args(path, port=port, preheat=preheat, pool_size=pool_size)
    env = voila_env()
    typer.echo(f"serving {path.name} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    reset_default_workspace()
    os.execve(args[0], args, env)
