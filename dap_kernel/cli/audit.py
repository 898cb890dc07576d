"""dap audit [verify]: read the hash-chained audit log, or check that its chain is intact."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import DapError
from ._app import _print_frame, _workspace, app

audit_app = typer.Typer(
    help="Read and verify the hash-chained audit log.", invoke_without_command=True
)
app.add_typer(audit_app, name="audit")


@audit_app.callback()
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many of the newest records.")] = 20,
    user: Annotated[str | None, typer.Option(help="Only this principal.")] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Only this action: query, admin, login, logout, server-start, …"),
    ] = None,
) -> None:
    """The newest audit records (who, when, what, decision, statement): your own; everyone's
    (or --user's) with MANAGE_GRANTS."""
    if ctx.invoked_subcommand:
        return
    import polars as pl

    from ..governance.audit import read_audit

    ws = _workspace()
    me = ws.session(channel="cli").principal
    records = read_audit(ws.audit, ws.policy, me, user=user, limit=limit, action=kind).records
    frame = pl.DataFrame(
        [
            {
                "seq": r.seq,
                "time": r.ts.isoformat(timespec="seconds"),
                "user": r.principal,
                "action": r.action,
                "decision": r.decision,
                "rows": r.row_count,
                "statement": r.statement[:80],
                "reason": r.reason[:80],
            }
            for r in records
        ]
    )
    _print_frame(frame, "table")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain (needs MANAGE_GRANTS): exit 0 if intact, 1 naming the first
    broken record."""
    from ..governance.audit import verify_audit

    ws = _workspace()
    broken = verify_audit(ws.audit, ws.policy, ws.session(channel="cli").principal)
    if broken is not None:
        raise DapError(f"audit log tampered with: the chain breaks at record {broken}")
    typer.echo("audit log intact")
