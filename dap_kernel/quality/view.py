"""A table's stored data-quality rules and results as one caller may see them: the one place
they are governed.

Stored results describe the whole table: a failure count of a row-filtered table counts rows
the filter hides, a freshness figure is the newest value of a column (maybe a masked one), and a
rule on a column beyond the caller's column grant names that column. So every door that shows
stored results (``dap quality show`` and ``rules``, ``dap.quality_status``, ``%dap quality
TABLE --latest``, REST ``quality/{table}`` and the lab's badge built from it) asks
:func:`quality_status`, and it answers by the same governed catalog that describes the table
(:class:`~dap_kernel.catalog.governed.GovernedCatalog`):

* a table the caller may not read is answered exactly as a missing one (no existence oracle);
* rules naming a column hidden by a column grant, or a table the caller may not read, are left
  out (results and rules alike), and the badge sums up what is left;
* for a caller who sees the table through a row filter or a mask, every rule keeps its status
  but loses its failure count, its details and its message (``"<kind> rule failed"``), and the
  badge its freshness; a foreign key or ``sql`` rule into a table the caller sees only in part
  loses them too;
* holders of MANAGE_GRANTS on ``*`` and single-user mode see the results as stored.

A check run now (:func:`~dap_kernel.quality.check`) is not governed here: it reads the table
through the caller's own filters and masks, so its figures are theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import polars as pl
from sqlglot import exp

from ..caller import default_client
from ..catalog import split_name
from ..catalog.governed import GovernedCatalog, GovernedTable
from ..errors import QueryRefused, SqlSyntaxError, UnknownTable
from ..governance.rewrite import parse_one_statement
from .results import RESULT_SCHEMA, RuleResult, badge_html, freshness_of
from .rules import _THIS_NAME, THIS, Rule, parse_rules
from .store import QualityStore

if TYPE_CHECKING:
    from ..meta import MetaStore

BadgeStatus = Literal["pass", "warn", "fail", "unknown"]


@dataclass(frozen=True)
class ShownResult:
    """One rule's stored outcome as the caller sees it: ``failures`` None when hidden."""

    rule: str
    kind: str
    severity: str
    status: str
    failures: int | None
    message: str
    column: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "details": dict(self.details)}


@dataclass(frozen=True)
class QualityStatus:
    """The latest stored check of a table, its badge and its rules, as one caller sees them."""

    table: str
    results: list[ShownResult]
    rules: list[Rule]
    checked_at: datetime | None = None
    checked_by: str | None = None
    table_version: int | None = None
    figures_hidden: bool = False  # some counts, details or the freshness are not the caller's
    freshness: dict[str, Any] | None = None

    @property
    def status(self) -> BadgeStatus:
        if self.checked_at is None:
            return "unknown"
        statuses = {r.status for r in self.results}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    @property
    def failed_rules(self) -> int:
        return sum(r.status != "pass" for r in self.results)

    def badge(self) -> dict[str, Any]:
        """What the catalog shows beside a table (the shape of ``QualityStore.badge``)."""
        return {
            "status": self.status,
            "checked_at": self.checked_at,
            "failed_rules": self.failed_rules,
            "freshness": self.freshness,
        }

    def to_frame(self) -> pl.DataFrame:
        """One row per rule (what ``dap quality show`` prints)."""
        return pl.DataFrame(
            [{k: v for k, v in r.to_dict().items() if k in RESULT_SCHEMA} for r in self.results],
            schema=RESULT_SCHEMA,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "badge": self.badge(),
            "checked_by": self.checked_by,
            "table_version": self.table_version,
            "results": [r.to_dict() for r in self.results],
            "rules": [r.to_spec() for r in self.rules],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityStatus:
        """The answer of REST ``GET quality/{table}`` (what :meth:`to_dict` gives)."""
        badge = data.get("badge") or {}
        checked = badge.get("checked_at")
        return cls(
            table=str(data.get("table", "")),
            results=[
                ShownResult(
                    rule=str(r.get("rule", "")),
                    kind=str(r.get("kind", "")),
                    severity=str(r.get("severity", "error")),
                    status=str(r.get("status", "fail")),
                    failures=r.get("failures"),
                    message=str(r.get("message") or ""),
                    column=r.get("column"),
                    details=dict(r.get("details") or {}),
                )
                for r in data.get("results") or []
            ],
            rules=parse_rules(list(data.get("rules") or [])),
            checked_at=datetime.fromisoformat(checked) if isinstance(checked, str) else None,
            checked_by=data.get("checked_by"),
            table_version=data.get("table_version"),
            figures_hidden=any(r.get("failures") is None for r in data.get("results") or []),
            freshness=badge.get("freshness"),
        )

    def _repr_html_(self) -> str:
        return badge_html(self.table, self.status, self.checked_at, self.failed_rules) + str(
            self.to_frame()._repr_html_()
        )


def _shown(result: RuleResult, hide: bool) -> ShownResult:
    if not hide:
        return ShownResult(
            result.rule,
            result.kind,
            result.severity,
            result.status,
            result.failures,
            result.message,
            result.column,
            dict(result.details),
        )
    message = "ok" if result.status == "pass" else f"{result.kind} rule failed"
    return ShownResult(
        result.rule, result.kind, result.severity, result.status, None, message, result.column
    )


def quality_status(governed: GovernedCatalog, meta: MetaStore, table: str) -> QualityStatus:
    """The stored quality of ``table`` as ``governed``'s principal may see it (see the module
    docstring); :class:`~dap_kernel.errors.UnknownTable` for a table they may not read."""
    with governed.policy.pinned():
        entry = governed.readable(table)
        name = entry.info.qualified_name
        store = QualityStore(meta)
        rules = store.rules(name)
        last = store.latest(name)
        sight = rule_sight(governed, entry, rules)
        everything = _sees_everything(governed)
        whole = everything or _whole(governed, entry)
    shown_names = {r.name for r in sight.shown}
    rules = [r for r in rules if r.name in shown_names]
    if last is None:
        return QualityStatus(name, [], rules)
    if whole:
        # Results of rules since removed: a result keeps neither statement nor reference, so
        # those that could name another table stay with whoever sees every table.
        declared = {r.name for r in rules}
        shown_names |= {
            r.rule
            for r in last.results
            if r.rule not in declared and (everything or r.kind not in ("sql", "foreign_key"))
        }
    hidden = {r.rule for r in last.results if entry.partial or r.rule in sight.hidden_figures}
    seen = [r for r in last.results if r.rule in shown_names]
    return QualityStatus(
        table=name,
        results=[_shown(r, r.rule in hidden) for r in seen],
        rules=rules,
        checked_at=last.checked_at,
        checked_by=last.checked_by,
        table_version=last.table_version,
        figures_hidden=bool(hidden & shown_names),
        freshness=freshness_of(r for r in seen if r.rule not in hidden),
    )


def _sees_everything(governed: GovernedCatalog) -> bool:
    """Single-user mode, or a holder of MANAGE_GRANTS on ``*``: the catalog as stored."""
    policy = governed.policy
    return not policy.enforcing() or policy.check(governed.principal, "MANAGE_GRANTS", "*").allowed


def _whole(governed: GovernedCatalog, entry: GovernedTable) -> bool:
    """The caller sees every row, value and column of the table."""
    stored = governed.catalog.get(entry.info.qualified_name).columns
    return not entry.partial and len(entry.info.columns) == len(stored)


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


class StatusReader(Protocol):
    """A client that shows a table's quality as its caller may see it."""

    def quality_status(self, table: str) -> QualityStatus: ...


def status(table: str) -> QualityStatus:
    """``dap.quality_status("main.orders")``: the table's latest stored check, its badge and
    its rules, as the caller may see them, from the caller's client (here or the service)."""
    client: StatusReader = default_client()
    return client.quality_status(table)


__all__ = ["QualityStatus", "RuleSight", "ShownResult", "quality_status", "rule_sight", "status"]
