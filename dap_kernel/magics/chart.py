"""``%dap chart``: a chart of a notebook DataFrame, or of the result of a governed query.

``%dap chart VAR [options]`` charts the polars DataFrame / pyarrow Table named VAR;
``%%dap chart [options]`` runs the cell body as SQL through the session (Python variables bound
with ``:name``/``$name`` like ``%%dap sql``) and charts the result. The figure is the magic's
value, so IPython shows it when the magic ends the cell; ``--name FIG`` stores it in the
namespace and displays it instead.
"""

from __future__ import annotations

import functools
import shlex
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
from IPython.core.error import UsageError
from IPython.display import display

from ..errors import MissingParameter
from .args import ArgumentParser

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from . import DapMagics

HELP = """\
%dap chart VAR [--kind K] [--x X] [--y Y[,Y2]] [--color C] [--title T] [--name FIG]
                                  chart a DataFrame (kind chosen from the columns if omitted)
%%dap chart [--kind K] [--x X] …  chart the result of the cell's SQL (kinds: %dap chart --kinds)"""


@functools.cache
def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="%dap chart", add_help=False)
    parser.add_argument("variable", nargs="?", default=None)
    parser.add_argument("--kind", "-k", default=None)
    parser.add_argument("--x", "-x", default=None)
    parser.add_argument("--y", "-y", default=None)
    parser.add_argument("--color", "-c", default=None)
    parser.add_argument("--title", "-t", default=None)
    parser.add_argument("--name", "-n", default=None)
    parser.add_argument("--kinds", action="store_true")
    return parser


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from ..viz import CHART_TYPES, chart

    try:
        args = _parser().parse_args(shlex.split(rest, posix=True))
    except ValueError as e:
        raise UsageError(f"%dap chart: {e}") from None
    if args.kinds:
        print(", ".join(sorted(CHART_TYPES)))
        return None
    if cell is not None:
        if args.variable is not None:
            raise UsageError("%%dap chart: put the SQL in the cell body, not a variable name")
        if not cell.strip():
            raise UsageError("%%dap chart: no SQL given")
        try:
            data: Any = magics.session.sql(cell, magics.user_ns)
        except MissingParameter as e:
            names = ", ".join(e.names)
            raise UsageError(f"no Python variable named {names} for a parameter") from None
    else:
        data = _variable(magics, args.variable)
    raw_y: str | None = args.y
    y: str | list[str] | None = raw_y
    if raw_y is not None and "," in raw_y:
        y = [part.strip() for part in raw_y.split(",") if part.strip()]
    figure: go.Figure = chart(data, args.kind, x=args.x, y=y, color=args.color, title=args.title)
    if args.name:
        magics.user_ns[args.name] = figure
        display(figure)
        return None
    return figure


def _variable(magics: DapMagics, name: str | None) -> pl.DataFrame | pa.Table:
    if not name:
        raise UsageError("%dap chart VAR: name a DataFrame variable (or use %%dap chart with SQL)")
    if name not in magics.user_ns:
        raise UsageError(f"%dap chart: no variable named {name!r}")
    value = magics.user_ns[name]
    if not isinstance(value, pl.DataFrame | pl.LazyFrame | pa.Table):
        raise UsageError(
            f"%dap chart: {name} is a {type(value).__name__}, not a polars DataFrame or "
            "pyarrow Table"
        )
    return value.collect() if isinstance(value, pl.LazyFrame) else value
