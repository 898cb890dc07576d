"""The ``dap`` command line: the same governed core as the magics and the REST API.

Every failure is one line on stderr and a non-zero exit status, never a traceback from inside
DAP (``DAP_DEBUG=1`` shows it for developers).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import DapError
from ._app import _print_frame, _workspace, app

# Typer lists top-level commands, then groups, each in the order they were registered: this
# import order keeps ``dap --help`` as it was, not alphabetical.
# isort: off
from . import home, sql, serve

# isort: on

if TYPE_CHECKING:
    from ..connectors import Connectors
    from ..connectors.access import GovernedConnectors
    from ..governance.apikeys import KeyAdmin
    from ..session import Workspace

audit_app = typer.Typer(
    help="Read and verify the hash-chained audit log.", invoke_without_command=True
)
apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
secrets_app = typer.Typer(help="Encrypted credentials: list and rotate.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their policy attributes.", no_args_is_help=True)
group_app = typer.Typer(help="Groups (they nest).", no_args_is_help=True)
role_app = typer.Typer(
    help="Roles: admin, steward, engineer, analyst, viewer.", no_args_is_help=True
)
policy_app = typer.Typer(help="Row filters and column masks.", no_args_is_help=True)
access_app = typer.Typer(help="Ask what a user may do.", no_args_is_help=True)
catalog_app = typer.Typer(
    help="List, show, search and register catalog tables.", no_args_is_help=True
)
connector_app = typer.Typer(
    help="Named connections to databases, folders and APIs (credentials encrypted).",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(connector_app, name="connector")
app.add_typer(audit_app, name="audit")
app.add_typer(apikey_app, name="apikey")
app.add_typer(secrets_app, name="secrets")
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(role_app, name="role")
app.add_typer(policy_app, name="policy")
app.add_typer(access_app, name="access")

ROOT = Path(__file__).resolve().parent.parent.parent


@catalog_app.command("list")
def catalog_list(
    schema: Annotated[str | None, typer.Option(help="Only this schema.")] = None,
) -> None:
    """One table per line: name, kind, rows, description (the tables you may read)."""
    tables = _workspace().session(channel="cli").visible_tables()
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
    typer.echo(f"{info.qualified_name} ({info.kind}, {info.rows_label}, version {info.version})")
    if info.description:
        typer.echo(info.description)
    if info.owner or info.tags:
        typer.echo(f"owner: {info.owner or '-'}  tags: {', '.join(info.tags) or '-'}")
    _print_frame(info.columns_frame(), "table")


@catalog_app.command("search")
def catalog_search(term: Annotated[str, typer.Argument(help="Name, tag, column or word.")]) -> None:
    """Find the tables you may read by name, tag, column or description."""
    for t in _workspace().session(channel="cli").visible_tables(term):
        typer.echo(f"{t.qualified_name}\t{t.kind}\t{t.description}")


@catalog_app.command("register")
def catalog_register(
    name: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE")],
    source: Annotated[
        str, typer.Argument(help="File path/glob, or a sqlite:/// / postgresql:// URL")
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
    if "://" in source:
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


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scope: Annotated[
        list[str] | None, typer.Option(help="query, read-catalog or admin (repeatable).")
    ] = None,
    expires_days: Annotated[float | None, typer.Option(help="Expire after N days.")] = None,
    user: Annotated[str | None, typer.Option(help="Owner (default: you).")] = None,
) -> None:
    """Create a key and print it: this is the only time it is shown. A key for another user
    needs MANAGE_GRANTS."""
    info, token = _key_admin().create(user, name, scopes=scope, expires_in_days=expires_days)
    typer.echo(token)
    typer.echo(
        f"key {info.key_id} for {info.principal}, scopes {', '.join(info.scopes)}"
        + (f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else ""),
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


def _grantee(user: str | None, group: str | None, role: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("user", user), ("group", group), ("role", role)) if v]
    if len(given) != 1:
        raise DapError("name exactly one of --user, --group or --role")
    return given[0]


def _member(user: str | None, group: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("user", user), ("group", group)) if v]
    if len(given) != 1:
        raise DapError("name exactly one of --user or --group")
    return given[0]


UserOpt = Annotated[str | None, typer.Option("--user", help="A user.")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="A group.")]
RoleOpt = Annotated[str | None, typer.Option("--role", help="A role.")]


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (as the identity provider names it).")],
    attr: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE attribute for policies (repeatable).")
    ] = None,
) -> None:
    """Add a user, or update its attributes (e.g. --attr region=EMEA)."""
    if attr and any("=" not in a for a in attr):
        raise DapError("--attr takes KEY=VALUE")
    _workspace().admin().add_user(name, dict(a.split("=", 1) for a in attr or []))
    typer.echo(f"user {name} saved")


@group_app.command("add-member")
def group_add_member(
    group: Annotated[str, typer.Argument(help="Group name.")],
    user: UserOpt = None,
    member_group: GroupOpt = None,
) -> None:
    """Put a user or a group (groups nest) into a group."""
    kind, name = _member(user, member_group)
    _workspace().admin().add_member("group", group, kind, name)
    typer.echo(f"{kind} {name} is in group {group}")


@role_app.command("add-member")
def role_add_member(
    role: Annotated[
        str, typer.Argument(help="admin, steward, engineer, analyst, viewer or custom.")
    ],
    user: UserOpt = None,
    group: GroupOpt = None,
) -> None:
    """Give a user or a group a role."""
    kind, name = _member(user, group)
    _workspace().admin().add_member("role", role, kind, name)
    typer.echo(f"{kind} {name} has role {role}")


@app.command()
def grant(
    privilege: Annotated[
        str,
        typer.Argument(help="SELECT, MODIFY, CREATE, USE_CONNECTOR, MANAGE_GRANTS, UNMASK or ALL."),
    ],
    securable: Annotated[
        str, typer.Argument(help="*, SCHEMA, SCHEMA.TABLE or SCHEMA.TABLE.COLUMN.")
    ],
    user: UserOpt = None,
    group: GroupOpt = None,
    role: RoleOpt = None,
) -> None:
    """Grant a privilege on a securable; it is inherited by everything below it."""
    kind, name = _grantee(user, group, role)
    _workspace().admin().grant(privilege, securable, kind, name)
    typer.echo(f"granted {privilege.upper()} on {securable} to {kind} {name}")


@app.command()
def revoke(
    privilege: Annotated[str, typer.Argument(help="The privilege granted.")],
    securable: Annotated[str, typer.Argument(help="The securable it was granted on.")],
    user: UserOpt = None,
    group: GroupOpt = None,
    role: RoleOpt = None,
) -> None:
    """Take a grant back."""
    kind, name = _grantee(user, group, role)
    removed = _workspace().admin().revoke(privilege, securable, kind, name)
    typer.echo(f"revoked {removed} grant{'s' if removed != 1 else ''}")


@policy_app.command("row-filter")
def policy_row_filter(
    table: Annotated[str, typer.Argument(help="SCHEMA.TABLE")],
    predicate: Annotated[str, typer.Argument(help="e.g. \"region = current_user_attr('region')\"")],
) -> None:
    """Attach a row filter: readers see only rows where the predicate holds."""
    _workspace().admin().add_row_filter(table, predicate)
    typer.echo(f"row filter on {table}: {predicate}")


@policy_app.command("mask")
def policy_mask(
    target: Annotated[str, typer.Argument(help="SCHEMA.TABLE.COLUMN or tag:TAG")],
    mask: Annotated[
        str, typer.Argument(help="mask_email, hash, redact, null, partial or sql:EXPR")
    ],
) -> None:
    """Mask a column (or every column with a tag) for everyone without UNMASK."""
    _workspace().admin().set_mask(target, mask)
    typer.echo(f"mask on {target}: {mask}")


@access_app.command("check")
def access_check(
    action: Annotated[str, typer.Argument(help="SELECT, MODIFY, … ")],
    securable: Annotated[str, typer.Argument(help="*, SCHEMA, SCHEMA.TABLE[.COLUMN]")],
    user: Annotated[str | None, typer.Option(help="Whom to ask about (default: you).")] = None,
) -> None:
    """Would this user be allowed? Exit 0 if yes, 1 with the reason if not."""
    from ..governance.identity import Principal

    ws = _workspace()
    decision = ws.session(Principal(name=user or ws.settings.user)).check(action, securable)
    if not decision.allowed:
        raise DapError(decision.reason)
    typer.echo(decision.reason)


def main() -> None:
    """Entry point: DAP errors become one line on stderr and exit status 1."""
    try:
        app()
    except DapError as e:
        if os.environ.get("DAP_DEBUG"):
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


# Each topic module registers its commands on ``app`` (from ``._app``); imported last so that
# ``dap --help`` lists the core commands first, as before.
from . import archive, dashboard, export, ingest, lineage, pipeline, quality, schedule  # noqa: E402

__all__ = [
    "app",
    "archive",
    "dashboard",
    "export",
    "home",
    "ingest",
    "lineage",
    "main",
    "pipeline",
    "quality",
    "schedule",
    "serve",
    "sql",
]
