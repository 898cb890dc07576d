"""``%dap lineage TABLE[.COL]``: the lineage graph, drawn in the notebook."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.display import HTML, display

if TYPE_CHECKING:
    from ..lineage import LineageGraph
    from . import DapMagics

HELP = """\
%dap lineage TABLE[.COL] [--depth N] [--name VAR]   draw what a table (or column) is made from
                                  and what it feeds; returns the LineageGraph"""


def run(magics: DapMagics, rest: str, cell: str | None) -> LineageGraph | None:
    """Draw the graph; return it (or bind it to ``--name VAR`` and return nothing)."""
    from ..lineage import lineage

    name, depth, var = _parse(rest)
    graph = lineage(name, depth=depth, session=magics.session)
    if var:
        magics.user_ns[var] = graph
        display(HTML(graph._repr_html_()))
        return None
    return graph  # drawn by its _repr_html_, as the cell's output


def _parse(rest: str) -> tuple[str, int, str | None]:
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise UsageError(f"%dap lineage: {e}") from None
    name: str | None = None
    depth = 5
    var: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("--depth", "-d", "--name", "-n"):
            if i + 1 >= len(words):
                raise UsageError(f"%dap lineage: {word} needs a value")
            value = words[i + 1]
            if word in ("--depth", "-d"):
                depth = _depth(value)
            else:
                var = _identifier(value)
            i += 2
            continue
        if word.startswith("-"):
            raise UsageError(f"%dap lineage: unknown option {word} (use --depth N, --name VAR)")
        if name is not None:
            raise UsageError("%dap lineage TABLE[.COL]: name one table or column")
        name = word
        i += 1
    if not name:
        raise UsageError("%dap lineage TABLE[.COL]: name a table")
    return name, depth, var


def _depth(value: str) -> int:
    if not value.isdigit():
        raise UsageError(f"%dap lineage: --depth takes a whole number, not {value!r}")
    return int(value)


def _identifier(value: str) -> str:
    if not value.isidentifier():
        raise UsageError(f"%dap lineage: --name takes a Python name, not {value!r}")
    return value
