"""``%dap export VAR --to csv|xlsx|pdf PATH``: write a notebook variable to a file.

``VAR`` names a DataFrame or Arrow table, a plotly figure (a native Excel chart, an image in a
PDF, its data in a CSV), a list of figures, or a dict of DataFrames (one Excel sheet each).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .args import ArgumentParser

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap export VAR --to csv|xlsx|pdf PATH [--title T] [--overwrite]
                                  write a DataFrame, a plotly figure or a dict of DataFrames
                                  (one sheet each) to CSV, Excel or a PDF report"""


@functools.cache
def _parser() -> ArgumentParser:

    parser = ArgumentParser(prog="%dap export", add_help=False)
    parser.add_argument("var")
    parser.add_argument("path")
    parser.add_argument("--to", "-t", default=None, choices=["csv", "xlsx", "pdf"])
    parser.add_argument("--title", default="")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def _is_figure(value: Any) -> bool:
    return hasattr(value, "to_plotly_json") and hasattr(value, "layout")


def _is_table(value: Any) -> bool:
    import polars as pl
    import pyarrow as pa

    return isinstance(value, (pl.DataFrame, pa.Table))


def run(magics: DapMagics, rest: str, cell: str | None) -> None:
    from ..export import export_file

    try:
        args = _parser().parse_args(shlex.split(rest))
    except ValueError as e:
        raise UsageError(f"%dap export: {e}") from None
    namespace = magics.user_ns
    if args.var not in namespace:
        raise UsageError(f"%dap export: no variable named {args.var!r} in the notebook")
    value = namespace[args.var]
    fmt = args.to or Path(args.path).suffix.lstrip(".")
    if not fmt:
        raise UsageError("%dap export: say which format with --to csv, xlsx or pdf")
    data: Any = None
    sheets: Mapping[str, Any] | None = None
    charts: list[Any] = []
    if _is_table(value):
        data = value
    elif _is_figure(value):
        charts = [value]
    elif isinstance(value, (list, tuple)) and value and all(_is_figure(v) for v in value):
        charts = list(value)
    elif isinstance(value, Mapping) and value and all(_is_table(v) for v in value.values()):
        sheets = {str(k): v for k, v in value.items()}
    else:
        raise UsageError(
            f"%dap export: {args.var} is a {type(value).__name__}; export a DataFrame, a plotly "
            "figure (or a list of them) or a dict of DataFrames"
        )
    done = export_file(
        data,
        fmt,
        args.path,
        title=args.title,
        sheets=sheets,
        charts=charts,
        overwrite=args.overwrite,
    )
    print(f"exported {done.rows} rows to {done.path}")
