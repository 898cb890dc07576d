"""The ``dap`` command line: the same governed core as the magics and the REST API.

Every failure is one line on stderr and a non-zero exit status, never a traceback from inside
DAP (``DAP_DEBUG=1`` shows it for developers).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from .errors import DapError
from .session import Workspace

app = typer.Typer(
    name="dap",
    help="DAP: a governed data analytics workbench for Jupyter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(
    help="Read and verify the hash-chained audit log.", invoke_without_command=True
)
apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
secrets_app = typer.Typer(help="Encrypted credentials: list and rotate.", no_args_is_help=True)
catalog_app = typer.Typer(
    help="List, show, search and register catalog tables.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(audit_app, name="audit")
app.add_typer(apikey_app, name="apikey")
app.add_typer(secrets_app, name="secrets")

ROOT = Path(__file__).resolve().parent.parent


def _workspace() -> Workspace:
    from .session import default_workspace

    return default_workspace()


@app.command()
def init() -> None:
    """Create DAP_HOME with its metadata database (migrated to the newest schema) and lake."""
    ws = _workspace()
    typer.echo(f"DAP home: {ws.settings.home}")
    typer.echo(f"metadata: {ws.meta.url.split('@')[-1] if '@' in ws.meta.url else ws.meta.url}")
    typer.echo(f"lake:     {ws.lake.root}")


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="1 ≈ one million rows; 0.01 for a quick try.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
) -> None:
    """Build the deterministic retail demo data set as catalog tables."""
    from . import demo as demo_data

    ws = _workspace()
    tables = demo_data.build(
        ws.catalog, scale=scale, seed=seed, owner=ws.settings.user, progress=typer.echo
    )
    total = sum(t.row_count or 0 for t in tables)
    typer.echo(f"demo data ready: {len(tables)} tables, {total:,} rows")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SQL query over the catalog.")],
    limit: Annotated[int | None, typer.Option(help="Return at most N rows.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, bound as :NAME.")
    ] = None,
) -> None:
    """Run one governed query and print the result."""
    params = dict(p.split("=", 1) for p in param or []) or None
    if param and any("=" not in p for p in param):
        raise DapError("--param takes NAME=VALUE")
    frame = _workspace().session().sql(query, params, limit=limit)
    _print_frame(frame, format)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port for JupyterLab on 127.0.0.1.")] = 8888,
    scale: Annotated[float, typer.Option(help="Demo data scale, if it is not there yet.")] = 1.0,
    notebook: Annotated[str, typer.Option(help="Notebook to open.")] = "notebooks/quickstart.ipynb",
) -> None:
    """Load the demo data if missing, then start JupyterLab with DAP on 127.0.0.1.

    Options after ``--`` go to JupyterLab, e.g. ``dap up -- --IdentityProvider.token=T``.
    """
    ws = _workspace()
    if "main.orders" not in ws.catalog.known_names():
        demo(scale=scale, seed=42)
    lab = shutil.which("jupyter-lab") or str(Path(sys.executable).parent / "jupyter-lab")
    root = Path.cwd()
    args = [
        lab,
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        f"--LabApp.default_url=/lab/tree/{notebook}",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        args.append("--no-browser")  # no screen: the URL with its token is printed instead
    args.extend(ctx.args)
    typer.echo(f"starting JupyterLab on http://127.0.0.1:{port}/lab/tree/{notebook} (Ctrl-C stops)")
    sys.stdout.flush()
    from .session import reset_default_workspace

    reset_default_workspace()  # flush the audit log and close the metadata store first
    # Become JupyterLab, so signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execv(lab, args)


@catalog_app.command("list")
def catalog_list(
    schema: Annotated[str | None, typer.Option(help="Only this schema.")] = None,
) -> None:
    """One table per line: name, kind, rows, description."""
    for t in _workspace().catalog.list_tables(schema):
        rows = "?" if t.row_count is None else f"{t.row_count}"
        typer.echo(f"{t.qualified_name}\t{t.kind}\t{rows}\t{t.description}")


@catalog_app.command("show")
def catalog_show(
    name: Annotated[str, typer.Argument(help="TABLE or SCHEMA.TABLE")],
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Schema, statistics and documentation of one table."""
    info = _workspace().catalog.get(name)
    if json_out:
        typer.echo(json.dumps(info.to_dict(), indent=2, default=str))
        return
    typer.echo(
        f"{info.qualified_name} ({info.kind}, {info.row_count or 0:,} rows, version {info.version})"
    )
    if info.description:
        typer.echo(info.description)
    if info.owner or info.tags:
        typer.echo(f"owner: {info.owner or '-'}  tags: {', '.join(info.tags) or '-'}")
    _print_frame(info.columns_frame(), "table")


@catalog_app.command("search")
def catalog_search(term: Annotated[str, typer.Argument(help="Name, tag, column or word.")]) -> None:
    """Find tables by name, tag, column or description."""
    for t in _workspace().catalog.search(term):
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
    catalog = _workspace().catalog
    if "://" in source:
        if not table:
            raise DapError("--table is required for a database source")
        info = catalog.register_database_table(
            name, source, table, description=description, replace=replace
        )
    else:
        info = catalog.register_file(
            name, source, format=format, description=description, replace=replace
        )
    typer.echo(
        f"registered {info.qualified_name}: {info.row_count or 0:,} rows, "
        f"{len(info.columns)} columns"
    )


@audit_app.callback()
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many of the newest records.")] = 20,
    user: Annotated[str | None, typer.Option(help="Only this principal.")] = None,
) -> None:
    """The newest audit records (who, when, decision, statement)."""
    if ctx.invoked_subcommand:
        return
    records = _workspace().audit.tail(limit, principal=user)
    frame = pl.DataFrame(
        [
            {
                "seq": r.seq,
                "time": r.ts.isoformat(timespec="seconds"),
                "user": r.principal,
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
    """Check the hash chain: exit 0 if intact, 1 naming the first broken record."""
    broken = _workspace().audit.verify()
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
    """Create a key and print it: this is the only time it is shown."""
    ws = _workspace()
    info, token = ws.apikeys.create(
        user or ws.settings.user, name, scopes=scope, expires_in_days=expires_days
    )
    typer.echo(token)
    typer.echo(
        f"key {info.key_id} for {info.principal}, scopes {', '.join(info.scopes)}"
        + (f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else ""),
        err=True,
    )


@apikey_app.command("list")
def apikey_list(user: Annotated[str | None, typer.Option(help="Only this owner.")] = None) -> None:
    """Keys with owner, scopes, state and last use (never the secret)."""
    for k in _workspace().apikeys.list_keys(user):
        used = k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never"
        typer.echo(f"{k.key_id}\t{k.name}\t{k.principal}\t{','.join(k.scopes)}\t{k.state}\t{used}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key id from `list`.")]) -> None:
    """Revoke a key; it stops working immediately."""
    info = _workspace().apikeys.revoke(key_id)
    typer.echo(f"revoked {info.key_id} ({info.name})")


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


def _print_frame(frame: pl.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    elif fmt == "table":
        with pl.Config(tbl_rows=50, tbl_cols=30, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
            typer.echo(str(frame))
        typer.echo(f"({frame.height:,} row{'s' if frame.height != 1 else ''})")
    else:
        raise DapError(f"unknown --format {fmt!r}: use table, csv or json")


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
