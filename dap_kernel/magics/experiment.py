"""``%dap experiment``: analyse an A/B test, log its exposures, or size one.

``%dap experiment analyze EXP --exposures TABLE --metrics M1,M2`` analyses the experiment held
in the Python variable ``EXP`` (an :class:`~dap_kernel.experiments.Experiment`) on the metrics
held in the variables ``M1``, ``M2`` (each a ``Metric`` or a list of them);
``log EXP SOURCE --into TABLE`` writes the assignments of SOURCE's units; ``size`` prints the
units needed. Everything calls :mod:`dap_kernel.experiments` on the caller's client, so their
filters and grants apply; the result is the magic's value, or stored with ``--name VAR``.
"""

from __future__ import annotations

import functools
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .args import ArgumentParser

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap experiment analyze EXP --exposures TABLE --metrics M1,M2 [--sequential]
          [--correction holm|bh|none] [--alpha A] [--name VAR]   EXP, M1 … are Python variables
%dap experiment log EXP SOURCE --into SCHEMA.TABLE [--exposed-at COL] [--mode create|replace|append]
%dap experiment size --mde 0.05 --baseline 0.1 [--kind proportion|mean --sd S] [--power 0.8]"""

COMMANDS = ("analyze", "log", "size")


@functools.cache
def _parser(command: str) -> ArgumentParser:
    parser = ArgumentParser(prog=f"%dap experiment {command}", add_help=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("--name", "-n", default=None)
    if command == "analyze":
        parser.add_argument("--exposures", required=True)
        parser.add_argument("--metrics", required=True)
        parser.add_argument("--sequential", action="store_true")
        parser.add_argument("--correction", default="holm")
        parser.add_argument("--alpha", type=float, default=0.05)
    elif command == "log":
        parser.add_argument("--into", required=True)
        parser.add_argument("--exposed-at", dest="exposed_at", default=None)
        parser.add_argument("--mode", default="create")
    else:
        parser.add_argument("--mde", type=float, required=True)
        parser.add_argument("--baseline", type=float, required=True)
        parser.add_argument("--kind", default="proportion")
        parser.add_argument("--sd", type=float, default=None)
        parser.add_argument("--alpha", type=float, default=0.05)
        parser.add_argument("--power", type=float, default=0.8)
        parser.add_argument("--absolute", action="store_true")
    return parser


def _variable(magics: DapMagics, name: str, kind: type, what: str) -> Any:
    if not name.isidentifier() or name not in magics.user_ns:
        raise UsageError(f"%dap experiment: no Python variable {name!r} holding {what}")
    value = magics.user_ns[name]
    if not isinstance(value, kind):
        raise UsageError(f"%dap experiment: {name!r} holds {type(value).__name__}, not {what}")
    return value


def _metrics(magics: DapMagics, names: str) -> list[Any]:
    from ..experiments import Metric

    found: list[Any] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        value = magics.user_ns.get(name) if name.isidentifier() else None
        if isinstance(value, Metric):
            found.append(value)
        elif (
            isinstance(value, list | tuple) and value and all(isinstance(m, Metric) for m in value)
        ):
            found.extend(value)
        else:
            raise UsageError(
                f"%dap experiment: {name!r} is not a Python variable holding Metric(…)"
            )
    if not found:
        raise UsageError("%dap experiment analyze: --metrics names one or more Metric variables")
    return found


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from .. import experiments as ex

    try:
        words = shlex.split(rest, posix=True)
    except ValueError as e:
        raise UsageError(f"%dap experiment: {e}") from None
    if not words or words[0].lower() not in COMMANDS:
        raise UsageError(f"%dap experiment: name a command: {', '.join(COMMANDS)} (see %dap help)")
    if cell is not None:
        raise UsageError("%dap experiment is a line magic")
    command = words[0].lower()
    args = _parser(command).parse_intermixed_args(words[1:])
    if args.name is not None and not args.name.isidentifier():
        raise UsageError(f"%dap experiment: --name takes a Python name, not {args.name!r}")
    positional: list[str] = list(args.words)
    result: Any
    if command == "size":
        if positional:
            raise UsageError("%dap experiment size takes options only")
        result = ex.sample_size(
            args.mde,
            baseline=args.baseline,
            sd=args.sd,
            kind=args.kind,
            relative=not args.absolute,
            alpha=args.alpha,
            power=args.power,
        )
        print(result)
    elif command == "analyze":
        if len(positional) != 1:
            raise UsageError("%dap experiment analyze: name one Experiment variable")
        experiment = _variable(magics, positional[0], ex.Experiment, "an Experiment")
        result = ex.analyze(
            experiment,
            _metrics(magics, args.metrics),
            exposures=args.exposures,
            sequential=args.sequential,
            correction=args.correction,
            alpha=args.alpha,
            session=magics.session,
        )
    else:
        if len(positional) != 2:
            raise UsageError("%dap experiment log: name the Experiment variable and a SOURCE")
        experiment = _variable(magics, positional[0], ex.Experiment, "an Experiment")
        ex.log_exposures(
            experiment,
            positional[1],
            into=args.into,
            exposed_at=args.exposed_at,
            mode=args.mode,
            session=magics.session,
        )
        print(f"exposures of {experiment.name} written to {args.into}")
        return None
    if args.name:
        magics.user_ns[args.name] = result
        if hasattr(result, "_repr_html_"):
            from IPython.display import HTML, display

            display(HTML(result._repr_html_()))
        return None
    return None if command == "size" else result
