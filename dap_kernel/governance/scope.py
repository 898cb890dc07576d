"""Which table names of a statement are CTEs and which are catalog tables, exactly as DuckDB says.

The one place DAP resolves names. DuckDB's rules (checked against DuckDB 2.0, pinned by the
fixtures in ``tests/fixtures/scope.sql``):

* ``WITH a AS (…), b AS (…) body``: the body sees every CTE of the list; the definition of a CTE
  sees the CTEs *before* it (and those of enclosing statements), never itself or later ones —
  ``WITH t AS (SELECT * FROM t)`` reads the table ``t``.
* ``WITH RECURSIVE t AS (anchor UNION [ALL] step)``: only a ``UNION`` (not ``UNION BY NAME``,
  ``INTERSECT`` or ``EXCEPT``) makes ``t`` recursive; ``t`` in the step is the CTE, ``t`` in the
  anchor is still the table.
* A ``WITH`` inside a subquery, a set operation's branch or a scalar subquery is visible only
  there.
* A qualified name (``main.t``) is never a CTE. Names compare case-insensitively, quoted or not.

A misjudged name cannot leak rows (raw relations live under names no user can spell, see
:mod:`dap_kernel.engines.names`), but it would give a wrong answer or an error.

>>> import sqlglot
>>> tree = sqlglot.parse_one("WITH t AS (SELECT * FROM t) SELECT * FROM t, main.t", read="duckdb")
>>> [(r.table.sql(), r.cte) for r in table_references(tree)]
[('t', False), ('t', True), ('main.t', False)]
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

from sqlglot import exp

from ..errors import QueryRefused


@dataclass(frozen=True)
class TableRef:
    """One table-valued name of a statement: a CTE reference, or a (would-be) catalog table."""

    table: exp.Table
    cte: bool


def table_references(tree: exp.Expr) -> list[TableRef]:
    """Every table node whose ``this`` is a name (not a table function), with how it resolves."""
    return list(_walk(tree, frozenset()))


def cte_names(tree: exp.Expr) -> set[str]:
    """Every CTE name defined anywhere in ``tree`` (lower case)."""
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _walk(node: exp.Expr, visible: frozenset[str]) -> Iterator[TableRef]:
    with_ = node.args.get("with_")
    if isinstance(with_, exp.With):
        visible = yield from _walk_with(with_, visible)
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        name = node.name.lower()
        cte = not node.args.get("db") and not node.args.get("catalog") and name in visible
        yield TableRef(node, cte)
        skip = {"this", "db", "catalog"}
    else:
        skip = {"with_"}
    for key, value in node.args.items():
        if key in skip:
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expr):
                yield from _walk(child, visible)


def _walk_with(with_: exp.With, outer: frozenset[str]) -> Generator[TableRef, None, frozenset[str]]:
    """The references inside the CTE definitions; returns the names the statement body sees."""
    recursive = bool(with_.args.get("recursive"))
    seen = set(outer)
    for cte in with_.expressions:
        if not isinstance(cte, exp.CTE):
            raise QueryRefused(f"unsupported WITH item {cte.sql()[:60]!r}")
        name = cte.alias_or_name.lower()
        body = cte.this
        if recursive and isinstance(body, exp.Union) and not body.args.get("by_name"):
            if isinstance(body.args.get("with_"), exp.With):
                raise QueryRefused(
                    f"a WITH around the set operation of the recursive CTE {name} is not "
                    "supported: put it inside one of the branches"
                )
            anchor = frozenset(seen)
            step = frozenset(seen | {name})
            for key, value in body.args.items():
                scope = anchor if key == "this" else step
                for child in value if isinstance(value, list) else [value]:
                    if isinstance(child, exp.Expr):
                        yield from _walk(child, scope)
        else:
            yield from _walk(body, frozenset(seen))
        for key, value in cte.args.items():  # column lists, USING KEY (…)
            if key != "this" and isinstance(value, exp.Expr):
                yield from _walk(value, frozenset(seen))
        seen.add(name)
    for key in ("search", "cycle"):
        value = with_.args.get(key)
        if isinstance(value, exp.Expr):
            yield from _walk(value, frozenset(seen))
    return frozenset(seen)
