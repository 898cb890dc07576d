"""The ``dap`` Typer app and the helpers its topic modules share.

In a module of its own so that the topic modules (``dap ingest``, ``dap quality`` …) import it
rather than the package that imports them.

The command modules import only typer and the standard library at module level: the core
(session, engines, polars …) loads inside the command that needs it, so ``dap --help`` starts
in a fraction of the time a query takes (tests/kernel/test_cli_startup.py keeps it so). Typer
reads the commands' parameter annotations at run time, so those use only names bound here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ..errors import DapError

if TYPE_CHECKING:
    import polars as pl

    from ..session import Workspace

app = typer.Typer(
    name="dap",
    help="DAP: a governed data analytics workbench for Jupyter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _workspace() -> Workspace:
    from ..session import default_workspace

    return default_workspace()


def _print_frame(frame: pl.DataFrame, fmt: str) -> None:
    import polars as pl

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
