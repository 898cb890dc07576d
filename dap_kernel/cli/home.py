"""dap init, dap demo: create a DAP home and fill it with the retail demo data.

``dap up`` (in :mod:`.serve`) builds the demo data through :func:`demo` when it is missing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import _workspace, app


@app.command()
def init(
    multi_user: Annotated[
        bool,
        typer.Option(
            "--multi-user",
            help="Deny by default: only grants let anyone read; you become admin.",
        ),
    ] = False,
) -> None:
    """Create DAP_HOME with its metadata database (migrated to the newest schema) and lake."""
    from ..meta.store import redact_url

    ws = _workspace()
    typer.echo(f"DAP home: {ws.settings.home}")
    typer.echo(f"metadata: {redact_url(ws.meta.url)}")
    typer.echo(f"lake:     {ws.lake.root}")
    if multi_user:
        ws.admin().set_multi_user(True)
        typer.echo(f"multi-user mode: deny by default; {ws.settings.user} is admin")


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="1 ≈ one million rows; 0.01 for a quick try.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
    tour: Annotated[
        bool,
        typer.Option(help="Also quality rules, a derived table and the sales dashboard."),
    ] = True,
) -> None:
    """Build the deterministic retail demo data set as catalog tables."""
    from .. import demo as demo_data

    ws = _workspace()
    session = ws.session(channel="cli")
    with session.audit_change("create", statement=f"demo data (scale {scale})") as change:
        session.require("CREATE", "main")
        tables = demo_data.build(
            ws.catalog, scale=scale, seed=seed, owner=ws.settings.user, progress=typer.echo
        )
        change.touch(*(t.qualified_name for t in tables))
        change.rows = sum(t.row_count or 0 for t in tables)
    total = sum(t.row_count or 0 for t in tables)
    typer.echo(f"demo data ready: {len(tables)} tables, {total:,} rows")
    if tour:
        from ..demo_tour import tour as add_tour

        add_tour(session, progress=typer.echo)
