"""``%dap stream``: start, watch and stop Kafka streams from a notebook (:mod:`dap_kernel.streams`
on the caller's client, so the rules and the answers are those of every other door)."""

from __future__ import annotations

import functools
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .args import ArgumentParser

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap stream start TABLE --topic T (--connector NAME | --bootstrap HOST:PORT) [--format json|csv]
          [--schema 'id:bigint,…'] [--batch-seconds S]   stream a Kafka topic into a table
%dap stream status [TABLE]        streams: rows, lag, events/s, event-to-queryable p50/p99
%dap stream stop TABLE            stop a stream (it commits the batch it holds)"""

COMMANDS = ("start", "status", "stop", "list")


@functools.cache
def _start_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="%dap stream start", add_help=False)
    parser.add_argument("table")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--connector", default="")
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--format", default="json")
    parser.add_argument("--schema", default="")
    parser.add_argument("--group", default="")
    parser.add_argument("--batch-seconds", dest="batch_seconds", type=float, default=None)
    parser.add_argument("--start", default="earliest")
    return parser


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from .. import streams

    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise UsageError(f"%dap stream: {e}") from None
    if not words or words[0] not in COMMANDS:
        raise UsageError(f"%dap stream: say {', '.join(COMMANDS[:3])} (see %dap help)")
    command, args = words[0], words[1:]
    session = magics.session
    if command in ("status", "list"):
        if len(args) > 1:
            raise UsageError("%dap stream status [TABLE]: one stream at most")
        if args:
            return streams.get(args[0], session=session).to_dict()
        return streams.status(session=session)
    if command == "stop":
        if len(args) != 1:
            raise UsageError("%dap stream stop TABLE: name the stream (its table)")
        state = streams.stop(args[0], session=session)
        print(f"{state.name}: {state.status} ({state.rows:,} rows, version {state.version})")
        return None
    parsed = _start_parser().parse_intermixed_args(args)
    options = {k: v for k, v in vars(parsed).items() if v is not None and k != "table"}
    state = streams.start(parsed.table, session=session, **options)
    print(
        f"{state.name}: {state.status} (pid {state.pid}); "
        f"%dap stream status {state.name} to watch it, %dap stream stop {state.name} to stop"
    )
    return None
