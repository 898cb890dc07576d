"""Check a catalog *table* through the governed session (:func:`check`), and set the rules
stored for it (:func:`set_rules`, by the writers :func:`require_rule_writer` allows).

The generated SQL runs through the governed session, so row filters and masks apply to what the
checker sees, and a foreign key into a table the checker may not read is refused. ``check``
never deletes rows: with ``write_failures=True`` it copies the failing rows to the quarantine
table, nothing more.

Stored results describe the whole table. A check is recorded only when the rules are the
table's stored ones (or ``record=True``, which needs MODIFY) and the checker sees every row and
value of the tables involved (no row filter, no mask): a filtered view's result is the
checker's alone. Stored messages carry counts, never row values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlglot import exp

from ..catalog import TableInfo
from ..catalog.governed import GovernedCatalog
from ..errors import QueryRefused, UnknownTable
from ..quarantine import empty_quarantine, quarantine_frame, quarantine_name, write_quarantine
from ..sqlbuild import Params, subquery, table_ref
from .caller import _default_client
from .plan import (
    _col,
    _count_of,
    _custom_sql,
    _is_text,
    _plan_rows,
    _reference_keys,
    _RowPlan,
    _scan,
)
from .results import QualityReport, RuleResult, _judge_table_rule, _row_result, _table_result
from .rules import QualityError, Rule, _as_rules, _check_columns
from .store import QualityStore
from .view import RuleSight, rule_sight

if TYPE_CHECKING:
    from ..session import Session


def check(
    table: str,
    rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
    *,
    session: Session | None = None,
    write_failures: bool = False,
    record: bool | None = None,
    max_failed_rows: int = 100,
) -> QualityReport:
    """Check a catalog table as the session's principal sees it (row filters and masks apply).

    ``rules`` default to the table's stored rules. Nothing is deleted: ``write_failures=True``
    (needs MODIFY) appends the failing rows to ``<table>__quarantine`` in one commit. ``record``:
    store the results (default: when the rules are the stored ones); see the module docstring.
    """
    if session is None:  # the caller's client: in this process, or the DAP service
        if record is not None or max_failed_rows != 100:
            raise QualityError("record= and max_failed_rows= need a session: pass session=")
        return _default_client().quality_check(table, rules, write_failures=write_failures)
    if not write_failures:
        return _check(session, table, rules, False, record, max_failed_rows)
    name = session.governed_catalog.readable(table).info.qualified_name  # unreadable: as missing
    what = f"quality check of {name}: failing rows copied to {quarantine_name(name)}"
    with session.audit_change("quarantine", (name,), statement=what) as change:
        report = _check(session, name, rules, True, record, max_failed_rows)
        change.rows = report.quarantined
        change.touch(quarantine_name(name))
    return report


def _check(
    session: Session,
    table: str,
    rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None,
    write_failures: bool,
    record: bool | None,
    max_failed_rows: int,
) -> QualityReport:
    ws = session.workspace
    governed = session.governed_catalog
    entry = governed.readable(table)  # a table the caller may not read is as if missing
    info = entry.info
    name = info.qualified_name
    store = QualityStore(ws.meta)
    stored = rules is None
    sight: RuleSight | None = None
    if stored:
        # The stored rules the caller may see: none naming a column or table hidden from them.
        sight = rule_sight(governed, entry, store.rules(name))
        parsed = sight.shown
    else:
        parsed = _as_rules(rules)  # type: ignore[arg-type]
    if stored and not parsed:
        raise QualityError(
            f"no quality rules for {name}: set them with `dap quality rules {name} --set FILE.yaml`"
        )
    if record and not stored:
        session.require("MODIFY", name)
    if write_failures:
        session.require("MODIFY", name)
    target = table_ref(info.name, info.schema)
    probe = session.query(exp.select(exp.Star()).from_(target.copy()).limit(0).sql("duckdb"))
    schema = probe.table.schema
    _check_columns(parsed, schema.names, name)
    text_columns = {f.name: _is_text(f.type) for f in schema}
    params = Params()
    plan = _plan_rows(parsed, text_columns, params, lambda _i, rule: _reference_keys(rule), None)
    fresh = [r for r in parsed if r.kind == "freshness"]
    aggregates: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), "__dap_rows")]
    aggregates += [
        exp.alias_(
            exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=f.copy())),
            f"__dap_n{j}",
        )
        for j, f in enumerate(plan.flags)
    ]
    aggregates += [
        exp.alias_(exp.Max(this=_col(r.column or "")), f"__dap_m{i}") for i, r in enumerate(fresh)
    ]
    counted = session.query(_scan(plan, target.copy(), aggregates).sql("duckdb"), params.values)
    totals = counted.table.to_pylist()[0]
    rows = int(totals["__dap_rows"])
    results: dict[str, RuleResult] = {}
    for j, rule in enumerate(plan.rules):
        results[rule.name] = _row_result(rule, int(totals[f"__dap_n{j}"]))
    for i, rule in enumerate(fresh):
        results[rule.name] = _judge_table_rule(rule, rows, totals[f"__dap_m{i}"])
    for rule in parsed:
        if rule.kind == "row_count":
            results[rule.name] = _judge_table_rule(rule, rows, None)
    failed_parts: list[pl.DataFrame] = []
    limit = None if write_failures else max_failed_rows
    erroring = [
        j
        for j, rule in enumerate(plan.rules)
        if rule.severity == "error" and results[rule.name].failures
    ]
    if erroring and (limit is None or limit > 0):
        failed_parts.append(
            _failing_rows(session, plan, target, schema.names, params, erroring, limit)
        )
    for rule in parsed:
        if rule.kind == "sql":
            result, rows_frame = _check_sql(session, rule, target, write_failures, max_failed_rows)
            results[rule.name] = result
            if rows_frame is not None:
                failed_parts.append(rows_frame)
    ordered = [results[r.name] for r in parsed]
    failed = pl.concat(failed_parts) if failed_parts else empty_quarantine()
    report = QualityReport(
        results=ordered,
        passed=pl.DataFrame(),
        failed=failed,
        ok=not any(r.status == "fail" for r in ordered),
        table=name,
        table_version=info.version,
        rows=rows,
    )
    if write_failures and failed.height:
        report.quarantined = write_quarantine(ws.catalog, name, failed)
    involved = [name, *{r.references[0] for r in parsed if r.kind == "foreign_key"}]
    should_record = stored if record is None else record
    if should_record:
        whole = sight.complete if sight is not None else True
        if whole and _sees_everything(session, involved):
            store.record(report, checked_by=session.principal.name)
            report.recorded = True
        elif record:
            raise QueryRefused(
                f"{session.principal.name} sees {name} through a row filter or mask: "
                "results of a partial view are not stored"
            )
    return report


def _failing_rows(
    session: Session,
    plan: _RowPlan,
    target: exp.Table,
    columns: Sequence[str],
    params: Params,
    erroring: Sequence[int],
    limit: int | None,
) -> pl.DataFrame:
    outputs: list[exp.Expr] = [_col(c) for c in columns]
    outputs += [
        exp.alias_(
            exp.Case(ifs=[exp.If(this=plan.flags[j].copy(), true=plan.reasons[j].copy())]),
            f"__dap_r{j}",
        )
        for j in erroring
    ]
    query = _scan(plan, target.copy(), outputs).where(
        exp.or_(*[plan.flags[j].copy() for j in erroring])
    )
    if limit is not None:
        query = query.limit(limit)
    found = session.query(query.sql("duckdb"), params.values).to_polars()
    names = [plan.rules[j].name for j in erroring]
    reason_columns = [f"__dap_r{j}" for j in erroring]
    rule_texts, reason_texts = [], []
    for row in found.select(reason_columns).iter_rows():
        hit = [(n, r) for n, r in zip(names, row, strict=True) if r is not None]
        rule_texts.append("; ".join(n for n, _ in hit))
        reason_texts.append("; ".join(r for _, r in hit))
    return quarantine_frame(
        found.select(list(columns)),
        rule=rule_texts,
        reason=reason_texts,
        source=target.sql("duckdb"),
    )


def _check_sql(
    session: Session, rule: Rule, target: exp.Table, write_failures: bool, max_failed_rows: int
) -> tuple[RuleResult, pl.DataFrame | None]:
    query = _custom_sql(rule, target, batch=False)
    count = int(session.query(_count_of(query).sql("duckdb")).table.column(0)[0].as_py())
    if not rule.row_level:
        return _table_result(rule, count, {"rows": count}), None
    result = _row_result(rule, count)
    limit = None if write_failures else max_failed_rows
    if not count or rule.severity != "error" or limit == 0:
        return result, None
    select_rows = query.copy()
    if limit is not None and isinstance(select_rows, exp.Query):
        select_rows = exp.select(exp.Star()).from_(subquery(select_rows, "__dap_s")).limit(limit)
    rows = session.query(select_rows.sql("duckdb")).to_polars()
    frame = quarantine_frame(
        rows,
        rule=rule.name,
        reason=f"returned by the sql rule {rule.name}",
        source=target.sql("duckdb"),
    )
    return result, frame


def _sees_everything(session: Session, tables: Iterable[str]) -> bool:
    """No row filter and no mask between this principal and any of ``tables``."""
    ws = session.workspace
    if not ws.policy.enforcing():
        return True
    principal = ws.policy.principal_details(session.principal)
    for table in tables:
        view = ws.policy.table_policy(principal, table)
        if view is not None and (view.row_filters or view.masks):
            return False
    return True


def set_rules(
    table: str,
    spec: Sequence[Mapping[str, Any] | Rule] | str | Path,
    *,
    session: Session | None = None,
) -> list[Rule]:
    """Store the rule set of a table (needs MODIFY or MANAGE_GRANTS on it, see
    :func:`require_rule_writer`); an empty list removes them."""
    if session is None:  # the caller's client: in this process, or the DAP service
        return _default_client().set_quality_rules(table, spec)
    governed = session.governed_catalog
    try:
        name = session.catalog.get(table).qualified_name
    except UnknownTable:
        governed.readable(table)  # the answer for a missing table, as for an unreadable one
        raise
    with session.audit_change("quality_rules", (name,), statement=f"set quality rules of {name}"):
        require_rule_writer(governed, table)
        parsed = _as_rules(spec)
        QualityStore(session.workspace.meta).set_rules(name, parsed, actor=session.principal.name)
    return parsed


def require_rule_writer(governed: GovernedCatalog, table: str) -> TableInfo:
    """The stored table whose rules the caller may set: MODIFY (who changes the data) or
    MANAGE_GRANTS (stewards) on it. A caller who may not even read it gets the answer for a
    missing table; a reader without either privilege a :class:`QueryRefused`."""
    policy, principal = governed.policy, governed.principal
    try:
        info: TableInfo | None = governed.catalog.get(table)
    except UnknownTable:
        info = None
    writers = ("MODIFY", "MANAGE_GRANTS")
    if info is not None and any(
        policy.check(principal, a, info.qualified_name).allowed for a in writers
    ):
        return info
    # Missing and unreadable get one answer (UnknownTable); a reader a refusal.
    name = governed.readable(table).info.qualified_name
    raise QueryRefused(
        f"{principal.name} may not set the quality rules of {name}: needs MODIFY or MANAGE_GRANTS"
    )
