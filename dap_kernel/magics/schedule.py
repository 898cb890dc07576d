"""``%dap schedule``: schedule the current notebook, run it now, see its runs."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from IPython.core.error import UsageError

from ..scheduler.model import Run, ScheduleSpec
from ..scheduler.params import from_pairs
from .args import ArgumentParser

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap schedule add --cron "0 8 * * MON" [--tz ZONE] [-p NAME=VALUE …] [--format html,pdf]
                  [--to ADDR,…] [--name NAME] [--notebook PATH]
                                  schedule this notebook (as last saved) as a report
%dap schedule list | show ID | history ID | pause ID | resume ID | remove ID
%dap schedule run ID [-p NAME=VALUE …]    run it now and wait for the outcome"""


def _parser() -> Any:

    parser = ArgumentParser(prog="%dap schedule add", add_help=False)
    parser.add_argument("--cron", default="")
    parser.add_argument("--tz", default="UTC")
    parser.add_argument("-p", "--param", action="append", default=[])
    parser.add_argument("--format", default="ipynb,html")
    parser.add_argument("--to", action="append", default=[])
    parser.add_argument("--name", default="")
    parser.add_argument("--notebook", default="")
    return parser


def current_notebook(magics: DapMagics) -> Path:
    """The notebook this kernel runs (Jupyter Server tells ipykernel through
    ``JPY_SESSION_NAME``, ipykernel passes it on as ``__session__``)."""
    name = str(magics.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME") or "")
    if not name.endswith(".ipynb"):
        raise UsageError("%dap schedule add: this kernel has no notebook; name one with --notebook")
    return Path(name)


def runs_frame(runs: list[Run]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "run": [r.id for r in runs],
            "due": [r.due_at for r in runs],
            "status": [r.status for r in runs],
            "attempt": [r.attempt for r in runs],
            "seconds": [r.duration_s for r in runs],
            "trigger": [r.trigger for r in runs],
            "error": [r.error for r in runs],
            "outputs": [", ".join(sorted(r.outputs)) for r in runs],
        },
        strict=False,
    )


def run(magics: DapMagics, rest: str, _cell: str | None) -> Any:
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise UsageError(f"%dap schedule: {e}") from None
    if not words:
        raise UsageError("%dap schedule: add, list, show, history, run, pause, resume or remove")
    command, args = words[0], words[1:]
    schedules = magics.session.schedules
    if command == "add":
        options = _parser().parse_args(args)
        path = Path(options.notebook) if options.notebook else current_notebook(magics)
        try:
            notebook = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"%dap schedule add: cannot read {path}: {e}") from None
        spec = ScheduleSpec(
            name=options.name or path.stem,
            notebook=notebook,
            notebook_name=path.name,
            cron=options.cron,
            timezone=options.tz,
            parameters=dict(from_pairs(options.param)),
            formats=tuple(f for f in options.format.split(",") if f.strip()),
            recipients=tuple(a.strip() for v in options.to for a in v.split(",") if a.strip()),
        )
        added = schedules.add(spec)
        due = added.next_due.isoformat() if added.next_due else "on demand"
        print(f"scheduled {path.name} as {added.id} (next due {due})")
        return added.id
    if command == "list":
        return pl.DataFrame(
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "cron": s.cron,
                    "timezone": s.timezone,
                    "next_due": s.next_due,
                    "paused": s.paused,
                }
                for s in schedules.list()
            ],
            strict=False,
        )
    if len(args) < 1:
        raise UsageError(f"%dap schedule {command} ID: name the schedule")
    ref = args[0]
    if command in ("show", "history"):
        return runs_frame(schedules.history(ref))
    if command == "run":
        parser = ArgumentParser(prog="%dap schedule run", add_help=False)
        parser.add_argument("-p", "--param", action="append", default=[])
        extra = parser.parse_args(args[1:]).param
        done = schedules.wait(schedules.run_now(ref, dict(from_pairs(extra)) or None).id)
        print(f"run {done.id}: {done.status}" + (f" — {done.error}" if done.error else ""))
        return runs_frame([done])
    if command == "pause":
        schedules.pause(ref)
    elif command == "resume":
        schedules.resume(ref)
    elif command == "remove":
        schedules.remove(ref)
    else:
        raise UsageError(f"%dap schedule: unknown command {command!r}")
    print(f"{command}d {ref}" if command != "remove" else f"removed {ref}")
    return None
