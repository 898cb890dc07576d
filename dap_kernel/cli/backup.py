"""``dap backup PATH`` and ``dap restore PATH``: a running home to a verified copy, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import _workspace, app


@app.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="A new folder for the backup (made 0700).")],
    include_key: Annotated[
        bool,
        typer.Option(
            "--include-key",
            help="Also copy the secret key. Anyone with the backup can then read the "
            "secrets: keep the key apart instead (see docs/operations.md).",
        ),
    ] = False,
) -> None:
    """Back up DAP_HOME into a new folder while it runs (administrators).

    Metadata, the lake at its catalog versions, MLflow, reports and dashboards, and the
    secrets still encrypted; their key only with --include-key.
    """
    from ..backup import backup

    result = backup(_workspace().session(channel="cli"), path, include_key=include_key)
    m = result.manifest
    typer.echo(
        f"backup {result.path}: {len(m.tables)} tables, {len(m.files)} files, "
        f"{m.total_bytes:,} bytes, metadata revision {m.metadata['revision']}, "
        f"{m.elapsed_s:.2f} s"
    )
    typer.echo(f"manifest sha256 {result.manifest_sha256} (keep it with the key, offsite)")
    if m.secrets.get("count") and not m.secrets.get("key_included"):
        typer.echo(
            f"{m.secrets['count']} secret(s) are in it encrypted; their key is NOT: "
            f"keep {m.secrets['key_source']} safe apart from the backup",
            err=True,
        )
    for ext in m.external:
        typer.echo(f"not copied (outside DAP_HOME): {ext['table']} {ext['kind']}", err=True)


@app.command("restore")
def restore_command(
    path: Annotated[Path, typer.Argument(help="A folder made by `dap backup`.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Restore over a non-empty DAP_HOME (moved aside, kept)."),
    ] = False,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="The secrets.key kept apart from the backup."),
    ] = None,
    manifest_sha256: Annotated[
        str | None,
        typer.Option(
            "--manifest-sha256", help="The sum `dap backup` printed (kept offsite): checked first."
        ),
    ] = None,
) -> None:
    """Restore a backup into an empty DAP_HOME, after checking every file's sha256."""
    from ..backup import restore
    from ..settings import Settings

    result = restore(
        path,
        Settings.from_env(),
        force=force,
        key_file=key_file,
        manifest_sha256=manifest_sha256,
    )
    m = result.manifest
    typer.echo(
        f"restored {result.home} from {path}: {len(m.tables)} tables, metadata revision "
        f"{result.revision_from} -> {result.revision_to}, {result.elapsed_s:.2f} s"
    )
    if result.replaced is not None:
        typer.echo(f"the previous home was moved to {result.replaced}")
