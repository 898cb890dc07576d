"""Which of a table's stored rules one caller may see, and whose stored figures are theirs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from ..catalog import split_name
from ..catalog.governed import GovernedCatalog, GovernedTable
from ..errors import QueryRefused, SqlSyntaxError, UnknownTable
from ..governance.rewrite import parse_one_statement
from .rules import _THIS_NAME, THIS, Rule


@dataclass(frozen=True)
class RuleSight:
    """Which of a table's rules one caller may see, and whose stored figures are theirs.

    ``shown``: the rules naming no column hidden from the caller by a column grant and no
    table they may not read. ``hidden_figures``: names of shown rules whose stored counts,
    details and freshness describe rows or values the caller does not see (everything, for a
    row-filtered or masked reader; a foreign key or ``sql`` rule into a table they see only
    in part). ``complete``: nothing left out or hidden, so the caller's check of the stored
    rules is the table's check.
    """

    shown: list[Rule]
    hidden_figures: frozenset[str]
    complete: bool


def rule_sight(governed: GovernedCatalog, entry: GovernedTable, rules: Sequence[Rule]) -> RuleSight:
    """How ``rules`` of the table ``entry`` (as the caller sees it) appear to that caller."""
    name = entry.info.qualified_name
    stored = {c.name.lower() for c in governed.catalog.get(name).columns}
    visible = {c.name.lower() for c in entry.info.columns}
    hidden_columns = stored - visible
    others: dict[str, GovernedTable | None] = {}

    def other(table: str) -> GovernedTable | None:
        if table not in others:
            try:
                others[table] = governed.readable(table)
            except UnknownTable:
                others[table] = None
        return others[table]

    shown: list[Rule] = []
    hidden: set[str] = set()
    for rule in rules:
        reach = _reach(rule)
        if reach is None:  # a statement we cannot read: fail closed
            continue
        columns, tables = reach
        if columns & hidden_columns:
            continue
        seen = [other(t) for t in tables if t != name]
        if any(t is None for t in seen):
            continue
        shown.append(rule)
        if entry.partial or any(t is not None and _limited(governed, t) for t in seen):
            hidden.add(rule.name)
    return RuleSight(shown, frozenset(hidden), len(shown) == len(rules) and not hidden)


def _limited(governed: GovernedCatalog, entry: GovernedTable) -> bool:
    """The caller sees ``entry`` through a filter, a mask or a column grant."""
    if entry.partial:
        return True
    stored = governed.catalog.get(entry.info.qualified_name).columns
    return len(entry.info.columns) < len(stored)


def _reach(rule: Rule) -> tuple[set[str], set[str]] | None:
    """(columns of the table under test, other tables) a rule names; None if not known."""
    columns = {c.lower() for c in rule.columns}
    if rule.kind == "foreign_key":
        return columns, {rule.references[0]}
    if rule.kind != "sql":
        return columns, set()
    try:
        tree = parse_one_statement(str(rule.options["sql"]).replace(THIS, _THIS_NAME))
    except (QueryRefused, SqlSyntaxError):
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables: set[str] = set()
    for t in tree.find_all(exp.Table):
        if not t.db and t.name.lower() in ctes | {_THIS_NAME}:
            continue
        tables.add(".".join(split_name(".".join(p for p in (t.db, t.name) if p))))
    columns |= {c.name.lower() for c in tree.find_all(exp.Column)}
    return columns, tables
