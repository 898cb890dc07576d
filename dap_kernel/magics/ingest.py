"""``%dap ingest PATH --table NAME``: load files into a lake table from a notebook."""

from __future__ import annotations

import functools
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .args import ArgumentParser

if TYPE_CHECKING:
    from ..ingestion import IngestResult
    from . import DapMagics

HELP = """\
%dap ingest PATH --table NAME [--mode append|overwrite|merge] [--key K] [--format F]
                                  load a file, folder or glob into a lake table
                                  (--delimiter D, --sheet S; bad rows go to NAME__quarantine)"""


@functools.cache
def _parser() -> ArgumentParser:

    parser = ArgumentParser(prog="%dap ingest", add_help=False)
    parser.add_argument("path")
    parser.add_argument("--table", "-t", required=True)
    parser.add_argument("--mode", "-m", default="append", choices=["append", "overwrite", "merge"])
    parser.add_argument("--key", "-k", action="append", default=[])
    parser.add_argument("--format", "-f", default=None)
    parser.add_argument("--delimiter", "-d", default=None)
    parser.add_argument("--sheet", default=None)
    parser.add_argument("--encoding", default=None)
    return parser


def run(magics: DapMagics, rest: str, cell: str | None) -> IngestResult:
    try:
        args = _parser().parse_args(shlex.split(rest))
    except ValueError as e:
        raise UsageError(f"%dap ingest: {e}") from None
    options: dict[str, Any] = {
        k: v
        for k, v in {
            "delimiter": args.delimiter,
            "sheet": args.sheet,
            "encoding": args.encoding,
        }.items()
        if v is not None
    }
    result = magics.session.ingest(
        args.path,
        args.table,
        mode=args.mode,
        keys=args.key,
        format=args.format,
        options=options,
    )
    print(result.summary())
    return result
