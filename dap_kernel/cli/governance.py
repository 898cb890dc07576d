"""dap user|group|role|grant|revoke|policy|access: who may do what, and what they see.

Principals (users, nesting groups, roles), grants on securables, row filters and column masks,
and the question whether a user may do something: all through the workspace's admin API.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import DapError
from ._app import _workspace, app

user_app = typer.Typer(help="Users and their policy attributes.", no_args_is_help=True)
group_app = typer.Typer(help="Groups (they nest).", no_args_is_help=True)
role_app = typer.Typer(
    help="Roles: admin, steward, engineer, analyst, viewer.", no_args_is_help=True
)
policy_app = typer.Typer(help="Row filters and column masks.", no_args_is_help=True)
access_app = typer.Typer(help="Ask what a user may do.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(role_app, name="role")
app.add_typer(policy_app, name="policy")
app.add_typer(access_app, name="access")


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
