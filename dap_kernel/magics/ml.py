"""``%dap predict`` and ``%dap train``: ``dap.ml`` from a notebook line (or a cell's SELECT).

``%dap predict MODEL [--into SCHEMA.TABLE] [--name VAR] SELECT …`` scores the SELECT (or a
table) with a registered model; with ``%%dap predict MODEL …`` the cell body is the SELECT.
``%dap train TABLE TARGET [--model KIND] [--register NAME] [--cv N] [--name VAR]`` trains and
tracks a model. Both call :mod:`dap_kernel.ml` on the caller's client — the same governed path
as Python and REST — and a mistake is one line.
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
%dap predict MODEL [--into SCHEMA.TABLE] [--name VAR] SELECT …|TABLE   score with MODEL
          (NAME, NAME@ALIAS, NAME/VERSION, models:/NAME@ALIAS); %%dap predict MODEL: cell SELECT
%dap train TABLE|SELECT TARGET [--model KIND] [--register NAME] [--cv N] [--name VAR]"""

COMMANDS = ("predict", "train")


@functools.cache
def _parser(command: str) -> ArgumentParser:
    parser = ArgumentParser(prog=f"%dap {command}", add_help=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("--name", "-n", default=None)
    if command == "predict":
        parser.add_argument("--into", default=None)
        parser.add_argument("--append", action="store_true")
    else:
        parser.add_argument("--model", "-m", default="auto")
        parser.add_argument("--register", default=None)
        parser.add_argument("--cv", type=int, default=5)
    return parser


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    """``%dap ml predict …`` / ``%dap ml train …`` (``%dap predict`` is the same)."""
    command, _, rest = rest.strip().partition(" ")
    command = command.lower()
    if command not in COMMANDS:
        raise UsageError(f"%dap ml: use one of {', '.join(COMMANDS)} (see %dap help)")
    try:
        if command == "predict":
            return _predict(magics, rest, cell)
        return _train(magics, rest, cell)
    except MissingParameter as e:
        names = ", ".join(e.names)
        raise UsageError(f"no Python variable named {names} for the cell's parameters") from None


def _options_then_sql(rest: str) -> tuple[list[str], str]:
    """The model and options (up to the first other word), and the SQL after them as
    written: quotes inside the SQL stay as they are."""
    words: list[str] = []
    text = rest.strip()
    expect_value = have_model = False
    while text:
        word, _, after = text.partition(" ")
        if expect_value:
            expect_value = False
        elif word in VALUED:
            expect_value = True
        elif word.startswith("-"):
            pass
        elif not have_model:
            have_model = True
        else:
            break
        words.append(word)
        text = after.strip()
    return words, text


VALUED = ("--into", "--name", "-n")


def _predict(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from .. import ml

    words, sql = _options_then_sql(rest)
    try:
        args = _parser("predict").parse_intermixed_args(shlex.split(" ".join(words)))
    except ValueError as e:
        raise UsageError(f"%dap predict: {e}") from None
    if len(args.words) != 1:
        raise UsageError("%dap predict: name one model, then a SELECT or a table")
    _check_name("predict", args.name)
    source, params = _source("predict", sql, cell, magics)
    mode = "append" if args.append else "create"
    result = ml.predict(
        args.words[0], source, into=args.into, mode=mode, params=params, session=magics.session
    )
    return _store(magics, args.name, result)


def _train(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from .. import ml

    try:
        words = shlex.split(rest, posix=True)
    except ValueError as e:
        raise UsageError(f"%dap train: {e}") from None
    args = _parser("train").parse_intermixed_args(words)
    _check_name("train", args.name)
    positional: list[str] = list(args.words)
    if cell is not None:
        if len(positional) != 1:
            raise UsageError("%%dap train TARGET: the cell is the SELECT")
        source, params = _source("train", "", cell, magics)
    elif len(positional) != 2:
        raise UsageError("%dap train: give a table and the target column (or %%dap train)")
    else:
        source, params = positional[0], None
    result = ml.train(
        source,
        positional[-1],
        model=args.model,
        name=args.register,
        cv=args.cv,
        params=params,
        session=magics.session,
    )
    return _store(magics, args.name, result)


def _check_name(command: str, name: str | None) -> None:
    if name is not None and not name.isidentifier():
        raise UsageError(f"%dap {command}: --name takes a Python name, not {name!r}")


def _store(magics: DapMagics, name: str | None, result: Any) -> Any:
    if name:
        magics.user_ns[name] = result
        return None
    return result


def _source(command: str, sql: str, cell: str | None, magics: DapMagics) -> tuple[str, Any]:
    if cell is not None:
        if sql.strip():
            raise UsageError(f"%%dap {command}: the cell is the SELECT; nothing after the model")
        if not cell.strip():
            raise UsageError(f"%%dap {command}: the cell holds no SELECT")
        return cell, magics.user_ns
    if not sql.strip():
        raise UsageError(f"%dap {command}: give a SELECT or a table to score")
    return sql, None
