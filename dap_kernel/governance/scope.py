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

from dataclasses import dataclass

from sqlglot import exp

from ..errors import QueryRefused


@dataclass(frozen=True)
class TableRef:
    """One table-valued name of a statement: a CTE reference, or a (would-be) catalog table."""

    table: exp.Table
    cte: bool


def table_references(tree: exp.Expr) -> list[TableRef]:
    """Every table node whose ``this`` is a name (not a table function), with how it resolves.

    In statement order (a depth-first walk), with an explicit stack: a deeply nested statement
    that parsed must not fail here on Python's recursion limit.
    """
    found: list[TableRef] = []
    stack: list[tuple[exp.Expr, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, visible = stack.pop()
        children: list[tuple[exp.Expr, frozenset[str]]] = []
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            visible = _cte_scopes(with_, visible, children)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = node.name.lower()
            cte = not node.args.get("db") and not node.args.get("catalog") and name in visible
            found.append(TableRef(node, cte))
            skip = {"this", "db", "catalog"}
        else:
            skip = {"with_"}
        for key, value in node.args.items():
            if value is None or key in skip:
                continue
            if isinstance(value, exp.Expr):
                children.append((value, visible))
            elif isinstance(value, list):
                children.extend((child, visible) for child in value if isinstance(child, exp.Expr))
        if len(children) == 1:
            stack.append(children[0])
        else:
            stack.extend(reversed(children))
    return found


def cte_names(tree: exp.Expr) -> set[str]:
    """Every CTE name defined anywhere in ``tree`` (lower case)."""
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _exprs(value: object) -> list[exp.Expr]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, exp.Expr)]


def _cte_scopes(
    with_: exp.With, outer: frozenset[str], out: list[tuple[exp.Expr, frozenset[str]]]
) -> frozenset[str]:
    """Add each part of the CTE definitions with the names it sees to ``out``; return the
    names the statement body sees."""
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
            anchor, step = frozenset(seen), frozenset(seen | {name})
            for key, value in body.args.items():
                out.extend((child, anchor if key == "this" else step) for child in _exprs(value))
        else:
            out.append((body, frozenset(seen)))
        for key, value in cte.args.items():  # column lists, USING KEY (…)
            if key != "this":
                out.extend((child, frozenset(seen)) for child in _exprs(value))
        seen.add(name)
    for key in ("search", "cycle"):
        out.extend((child, frozenset(seen)) for child in _exprs(with_.args.get(key)))
    return frozenset(seen)
