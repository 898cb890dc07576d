"""``%dap stats``: statistics of a table (or of the cell's SELECT), computed in the engine.

``%dap stats TABLE [COLUMNS…]`` summarises; ``hist`` and ``corr`` draw a histogram and a
correlation matrix; ``test`` runs a hypothesis test from the engine's sufficient statistics.
With ``%%dap stats …`` the cell body is the source (a SELECT; Python variables bound with
``:name`` as in ``%%dap sql``) and TABLE is left out. Everything goes through
:mod:`dap_kernel.stats` on the caller's client, so filters and masks apply; the result is the
magic's value (drawn by its HTML), or stored with ``--name VAR``.
"""

from __future__ import annotations

import functools
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..errors import MissingParameter
from .args import ArgumentParser

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap stats TABLE [COLUMNS…] [--exact-distinct]   count, nulls, distinct, mean, sd, quantiles
%dap stats hist TABLE COLUMN [--bins N]          histogram counted in the engine
%dap stats corr TABLE [COLUMNS…] [--spearman]    correlation matrix of numeric columns
%dap stats test ttest|anova|proportions|mannwhitney TABLE VALUE --by COL [--groups A,B]
%dap stats test paired TABLE A B | chi2 TABLE ROW COL | mean TABLE VALUE [--popmean M]
%dap stats decompose TABLE TIME [VALUE] [--every day] [--agg sum] [--period P]
%dap stats forecast TABLE TIME [VALUE] [--every day] [--agg sum] [--horizon N]
          [--method auto|ets|arima|naive] [--period P] [--level 0.95]
%dap stats backtest TABLE TIME [VALUE] … as forecast, [--folds 3]: accuracy, coverage
          --name VAR stores the result; %%dap stats … takes the cell's SELECT as TABLE"""

TESTS = ("ttest", "anova", "proportions", "mannwhitney", "paired", "chi2", "mean")
SERIES = ("decompose", "forecast", "backtest")
COMMANDS = ("hist", "corr", "test", *SERIES)


@functools.cache
def _parser(command: str) -> ArgumentParser:
    parser = ArgumentParser(prog=f"%dap stats {command}".strip(), add_help=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("--name", "-n", default=None)
    if command == "":
        parser.add_argument("--exact-distinct", dest="exact", action="store_true")
    elif command == "hist":
        parser.add_argument("--bins", "-b", type=int, default=20)
    elif command == "corr":
        parser.add_argument("--spearman", action="store_true")
    elif command == "test":
        parser.add_argument("--by", default=None)
        parser.add_argument("--groups", default=None)
        parser.add_argument("--equal-var", dest="equal_var", action="store_true")
        parser.add_argument("--alternative", default="two-sided")
        parser.add_argument("--popmean", type=float, default=0.0)
    elif command in SERIES:
        parser.add_argument("--every", default="day")
        parser.add_argument("--agg", default="sum")
        parser.add_argument("--period", type=int, default=None)
        if command != "decompose":
            parser.add_argument("--horizon", type=int, default=None)
            parser.add_argument("--method", default="auto")
            parser.add_argument("--level", type=float, default=0.95)
        if command == "backtest":
            parser.add_argument("--folds", type=int, default=3)
    return parser


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from .. import stats

    try:
        words = shlex.split(rest, posix=True)
    except ValueError as e:
        raise UsageError(f"%dap stats: {e}") from None
    command = words[0].lower() if words and words[0].lower() in COMMANDS else ""
    if command:
        words = words[1:]
    args = _parser(command).parse_intermixed_args(words)
    if args.name is not None and not args.name.isidentifier():
        raise UsageError(f"%dap stats: --name takes a Python name, not {args.name!r}")
    positional: list[str] = list(args.words)
    kind = ""
    if command == "test":
        if not positional or positional[0].lower() not in TESTS:
            raise UsageError(f"%dap stats test: name a test: {', '.join(TESTS)}")
        kind = positional.pop(0).lower()
    if cell is not None:
        if not cell.strip():
            raise UsageError("%%dap stats: the cell holds no SELECT")
        source, params = cell, magics.user_ns
    else:
        if not positional:
            raise UsageError(f"{_parser(command).prog}: name a table (see %dap help)")
        source, params = positional.pop(0), None
    session = magics.session
    common: dict[str, Any] = {"session": session, "params": params}
    try:
        if command == "":
            result: Any = stats.describe(
                source, positional or None, exact_distinct=args.exact, **common
            )
        elif command == "hist":
            result = stats.histogram(source, _one(positional, "COLUMN"), args.bins, **common)
        elif command == "corr":
            result = stats.correlation(
                source,
                positional or None,
                method="spearman" if args.spearman else "pearson",
                **common,
            )
        elif command in SERIES:
            result = _series(stats, command, source, positional, args, common)
        else:
            result = _test(stats, kind, source, positional, args, common)
    except MissingParameter as e:
        names = ", ".join(e.names)
        raise UsageError(f"no Python variable named {names} for the cell's parameters") from None
    if args.name:
        magics.user_ns[args.name] = result
        from IPython.display import HTML, display

        display(HTML(result._repr_html_()))
        return None
    return result


def _test(
    stats: Any, kind: str, source: str, words: list[str], args: Any, common: dict[str, Any]
) -> Any:
    groups = tuple(g for g in args.groups.split(",")) if args.groups else None
    if kind in ("ttest", "anova", "proportions", "mannwhitney"):
        value = _one(words, "VALUE")
        if not args.by:
            raise UsageError(f"%dap stats test {kind}: give the group column with --by COL")
        if kind == "anova":
            if groups:
                raise UsageError("%dap stats test anova: compares every group; no --groups")
            return stats.anova_by(source, value, args.by, **common)
        options: dict[str, Any] = {"groups": groups, "alternative": args.alternative, **common}
        if kind == "ttest":
            return stats.ttest_by(source, value, args.by, equal_var=args.equal_var, **options)
        if kind == "proportions":
            return stats.proportions_by(source, value, args.by, **options)
        return stats.mannwhitney_by(source, value, args.by, **options)
    if args.by or groups:
        raise UsageError(f"%dap stats test {kind}: no --by or --groups")
    if kind == "paired":
        first, second = _two(words, "A B")
        return stats.ttest_paired(source, first, second, alternative=args.alternative, **common)
    if kind == "chi2":
        row, column = _two(words, "ROW COL")
        return stats.chi2_by(source, row, column, **common)
    return stats.ttest_mean(
        source, _one(words, "VALUE"), args.popmean, alternative=args.alternative, **common
    )


def _series(
    stats: Any, command: str, source: str, words: list[str], args: Any, common: dict[str, Any]
) -> Any:
    if not 1 <= len(words) <= 2:
        raise UsageError(f"%dap stats {command}: name the TIME column and optionally a VALUE")
    time, value = words[0], (words[1] if len(words) == 2 else None)
    agg = "count" if value is None and args.agg == "sum" else args.agg  # rows per bucket
    options = {"every": args.every, "agg": agg, "period": args.period, **common}
    if command == "decompose":
        return stats.decompose(source, time, value, **options)
    options.update(horizon=args.horizon, method=args.method, level=args.level)
    if command == "backtest":
        return stats.backtest(source, time, value, folds=args.folds, **options)
    return stats.forecast(source, time, value, **options)


def _one(words: list[str], what: str) -> str:
    if len(words) != 1:
        raise UsageError(f"%dap stats: name one {what} column")
    return words[0]


def _two(words: list[str], what: str) -> tuple[str, str]:
    if len(words) != 2:
        raise UsageError(f"%dap stats: name two columns ({what})")
    return words[0], words[1]
