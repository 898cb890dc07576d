"""dap apikey create|list|revoke: the keys that let scripts and services call the DAP service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._app import _workspace, app

if TYPE_CHECKING:
    from ..governance.apikeys import KeyAdmin

apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scope: Annotated[
        list[str] | None, typer.Option(help="query, read-catalog or admin (repeatable).")
    ] = None,
    expires_days: Annotated[float | None, typer.Option(help="Expire after N days.")] = None,
    user: Annotated[str | None, typer.Option(help="Owner (default: you).")] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Requests a minute this key may send to the DAP service (0 = no limit; "
            "default: DAP_RATE_LIMIT_PER_MIN). Needs MANAGE_GRANTS.",
        ),
    ] = None,
) -> None:
    """Create a key and print it: this is the only time it is shown. A key for another user,
    or with a rate limit of its own, needs MANAGE_GRANTS."""
    info, token = _key_admin().create(
        user, name, scopes=scope, expires_in_days=expires_days, rate_limit_per_min=rate_limit
    )
    typer.echo(token)
    typer.echo(
        f"key {info.key_id} for {info.principal}, scopes {', '.join(info.scopes)}"
        + (f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "")
        + (
            f", {info.rate_limit_per_min} requests a minute"
            if info.rate_limit_per_min is not None
            else ""
        ),
        err=True,
    )


@apikey_app.command("list")
def apikey_list(user: Annotated[str | None, typer.Option(help="Only this owner.")] = None) -> None:
    """Keys with owner, scopes, state and last use (never the secret): yours; everyone's (or
    --user's) with MANAGE_GRANTS."""
    for k in _key_admin().list(user):
        used = k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never"
        typer.echo(f"{k.key_id}\t{k.name}\t{k.principal}\t{','.join(k.scopes)}\t{k.state}\t{used}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key id from `list`.")]) -> None:
    """Revoke a key of yours (anyone's with MANAGE_GRANTS); it stops working immediately."""
    info = _key_admin().revoke(key_id)
    typer.echo(f"revoked {info.key_id} ({info.name})")


def _key_admin() -> KeyAdmin:
    from ..governance.apikeys import KeyAdmin

    ws = _workspace()
    principal = ws.session(channel="cli").principal
    return KeyAdmin(ws.apikeys, ws.policy, principal, audit=ws.audit, channel="cli")
