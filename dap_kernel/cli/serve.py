"""dap up, dap serve: become JupyterLab with DAP, or the DAP service alone.

Both close the workspace and then replace this process (``os.execv``), so that signals reach
the server directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._app import _workspace, app
from .home import demo


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
    from ..session import reset_default_workspace

    reset_default_workspace()  # flush the audit log and close the metadata store first
    # Become JupyterLab, so signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execv(lab, args)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8890,
    ip: Annotated[str, typer.Option(help="Address to bind (keep loopback unless proxied).")] = (
        "127.0.0.1"
    ),
    certfile: Annotated[
        str, typer.Option(help="TLS certificate (PEM): serve HTTPS.", envvar="DAP_TLS_CERTFILE")
    ] = "",
    keyfile: Annotated[
        str, typer.Option(help="Its private key (PEM, unencrypted).", envvar="DAP_TLS_KEYFILE")
    ] = "",
    allow_plain_http: Annotated[
        bool,
        typer.Option(
            "--allow-plain-http",
            help="Serve plain HTTP off loopback: only where something else encrypts the link.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="DAP_SERVE_WORKERS",
            help="Service processes on the port (SO_REUSEPORT), restarted when one dies; "
            "they share queries, cached results and rate limits through the metadata database.",
        ),
    ] = 1,
    pin: Annotated[
        bool,
        typer.Option(
            "--pin/--no-pin",
            envvar="DAP_SERVE_PIN",
            help="With --workers: split the cores between the workers, each pinned to its "
            "share (about half the CPU per cached request here); DuckDB gets a worker's cores.",
        ),
    ] = True,
) -> None:
    """Run the DAP service: the governed REST API alone, as JupyterHub runs it as a service.

    Callers need a DAP API key (`dap apikey create`) or, under a hub, their hub identity.
    With --certfile and --keyfile it serves HTTPS; plain HTTP is refused off loopback unless
    --allow-plain-http. Options after ``--`` go to the server, e.g.
    ``-- --DapExtension.per_user_queries=4``.
    """
    from ..tls import check_listener, check_pair

    tls = check_pair(certfile, keyfile)  # one line, before anything starts
    check_listener(ip, tls, allow_plain_http)
    _workspace()  # fail here, in one line, if DAP_HOME or DAP_META_URL is broken
    from ..session import reset_default_workspace

    reset_default_workspace()
    args = [sys.executable, "-m", "dap_server.service", f"--port={port}", f"--ip={ip}"]
    if workers > 1:  # a supervisor of N such processes
        args[2:3] = ["dap_server.workers", f"--workers={workers}", *([] if pin else ["--no-pin"])]
    if tls:
        args += [f"--ServerApp.certfile={certfile}", f"--ServerApp.keyfile={keyfile}"]
    if allow_plain_http:
        args.append("--allow-plain-http")
    args.extend(ctx.args)
    scheme = "https" if tls else "http"
    many = f" with {workers} workers" if workers > 1 else ""
    typer.echo(
        f"starting the DAP service on {scheme}://{ip}:{port}/dap/api/v1/{many} (Ctrl-C stops)"
    )
    sys.stdout.flush()
    os.execv(sys.executable, args)
