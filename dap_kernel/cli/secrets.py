"""dap secrets list|rotate: the encrypted credentials store (names only, never values)."""

from __future__ import annotations

import typer

from ._app import _workspace, app

secrets_app = typer.Typer(help="Encrypted credentials: list and rotate.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("list")
def secrets_list() -> None:
    """Names of the stored secrets (values are never shown)."""
    for name in _workspace().secrets.names():
        typer.echo(name)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every secret with a new key (or DAP_SECRET_KEY's first key)."""
    count = _workspace().secrets.rotate()
    typer.echo(f"re-encrypted {count} secret{'s' if count != 1 else ''}")
