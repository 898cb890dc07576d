"""The ``dap`` Typer app and the helpers its topic modules share.

In a module of its own so that the topic modules (``dap ingest``, ``dap quality`` …) import it
rather than the package that imports them.
"""

from __future__ import annotations

import sys

import polars as pl
import typer

from ..errors import DapError
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
