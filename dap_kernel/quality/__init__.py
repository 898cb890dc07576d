"""Data quality: declared rules, evaluated in the engine, failing rows quarantined, results kept.

A rule set is a list of small YAML mappings (``{not_null: id}``, ``{range: {column: amount,
min: 0}}``, …; see :func:`parse_rules`). Two ways to apply it:

* :func:`validate` checks a *batch* a pipeline is about to load. The batch is registered in a
  private in-memory DuckDB connection (locked down: no files, no settings) and one generated
  statement computes, for every row, the reason each row rule fails. Rows breaking an ``error``
  rule leave :attr:`QualityReport.passed` and go to :attr:`QualityReport.failed`, shaped for
  ``<table>__quarantine``; ``warn`` rules only count. Nothing is lost:
  ``passed.height + failed.height == input rows``.
* :func:`check` checks a catalog *table*. The generated SQL runs through the governed session,
  so row filters and masks apply to what the checker sees, and a foreign key into a table the
  checker may not read is refused. ``check`` never deletes rows: with ``write_failures=True`` it
  copies the failing rows to the quarantine table, nothing more.

Choices worth knowing:

* ``unique``: every row of a duplicated key but the first counts as a failure (in a batch the
  first in input order; in a table the engine picks one). Rows with a NULL in the key are never
  duplicates, as with SQL ``UNIQUE`` constraints.
* ``accepted_values``, ``range``, ``regex`` and ``foreign_key`` ignore NULLs: ``not_null`` says
  whether NULLs are allowed. ``range`` bounds are inclusive. ``regex`` searches (anchor the
  pattern with ``^…$`` for a whole-value match) with the engine's (RE2) syntax.
* A row failing several ``error`` rules is quarantined once; ``_dap_rule`` and ``_dap_reason``
  join the rules' names and reasons with ``"; "``. ``warn`` reasons do not quarantine a row.
* ``row_count`` (of the batch as given, or of the table as seen), ``freshness`` and
  ``sql`` rules with ``scope: table`` are table-level: when an ``error`` one fails,
  ``ok`` is False and a pipeline loads nothing.
* ``sql`` rules are a SELECT returning the failing rows; ``{table}`` stands for the data under
  test. With the default ``scope: rows`` the returned rows are the failing rows (on a batch the
  statement must return the batch's rows, e.g. ``SELECT * FROM {table} WHERE …``); with
  ``scope: table`` any returned row fails the rule once. On a batch such a statement can read
  only ``{table}``; on a catalog table it is governed SQL like any other.
* Stored results describe the whole table. A check is recorded only when the rules are the
  table's stored ones (or ``record=True``, which needs MODIFY) and the checker sees every row and
  value of the tables involved (no row filter, no mask): a filtered view's result is the
  checker's alone. Stored messages carry counts, never row values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import duckdb
import polars as pl
import pyarrow as pa
from sqlglot import exp

from ..caller import default_client
from ..catalog import TableInfo, split_name
from ..catalog.governed import GovernedCatalog, GovernedTable
from ..errors import QueryRefused, SqlSyntaxError, UnknownTable
from ..governance.rewrite import parse_one_statement
from ..quarantine import empty_quarantine, quarantine_frame, quarantine_name, write_quarantine

if TYPE_CHECKING:
    from ..session import QueryResult, Session

from .plan import (
    _col,
    _count_of,
    _custom_sql,
    _ident,
    _is_text,
    _Params,
    _plan_rows,
    _reference_keys,
    _RowPlan,
    _scan,
)
from .results import (
    QualityReport,
    RuleResult,
    _judge_table_rule,
    _row_result,
    _table_result,
    badge_html,
    results_frame,
)
from .rules import (
    _THIS_NAME,
    KINDS,
    TABLE_KINDS,
    THIS,
    QualityError,
    Rule,
    _as_rules,
    _check_columns,
    _engine_message,
    load_rules,
    parse_duration,
    parse_rules,
)
from .store import QualityResult, QualityRuleSet, QualityStore, StoredCheck


class Queries(Protocol):
    """Governed SQL, for the keys a ``foreign_key`` rule looks up (any session or client)."""

    def query(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> QueryResult: ...


class QualityClient(Queries, Protocol):
    """The caller's client as ``dap.quality.check`` / ``set_rules`` without a session use it."""

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport: ...

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]: ...


def _default_client() -> QualityClient:
    client: QualityClient = default_client()
    return client


_ROW_ID = "__dap_row__"
_BATCH = "__dap_batch__"
Data: TypeAlias = pl.DataFrame | pl.LazyFrame | pa.Table | pa.RecordBatchReader


def _to_polars(data: Any) -> pl.DataFrame:
    if hasattr(data, "to_table") and not isinstance(data, pa.Table | pl.DataFrame):
        data = data.to_table()  # Extracted, a dataset
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    if isinstance(data, pa.Table):
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        return frame
    raise QualityError(f"cannot validate a {type(data).__name__}: give a polars or Arrow table")


def validate(
    data: Data | Any,
    rules: Sequence[Mapping[str, Any] | Rule] | str | Path,
    *,
    session: Queries | None = None,
    source: str = "",
    run_id: str = "",
) -> QualityReport:
    """Check a batch before it is loaded; ``passed`` + ``failed`` holds every input row once.

    The batch never reaches the workspace engine: it is registered in a private, locked-down
    DuckDB connection. Foreign-key keys are read through ``session`` (governed: a user cannot
    probe a table they may not read); it defaults to the current principal's session.
    """
    parsed = _as_rules(rules)
    frame = _to_polars(data)
    if _ROW_ID in frame.columns:
        raise QualityError(f"the batch has a column named {_ROW_ID}, which DAP reserves")
    _check_columns(parsed, frame.columns, "the batch")
    arrow = frame.with_row_index(_ROW_ID).to_arrow()
    text_columns = {f.name: _is_text(f.type) for f in arrow.schema}
    con = duckdb.connect()
    try:
        con.register(_BATCH, arrow)
        refs: dict[int, str] = {}
        if any(r.kind == "foreign_key" for r in parsed):
            governed = session or _default_client()
            for i, rule in enumerate(parsed):
                if rule.kind == "foreign_key":
                    keys = governed.query(_reference_keys(rule).sql("duckdb")).table
                    refs[i] = f"__dap_ref{i}__"
                    con.register(refs[i], keys)
        # Nothing in the statements below may reach outside the registered data.
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
        return _validate_in(con, frame, parsed, text_columns, refs, source, run_id)
    finally:
        con.close()


def _run(
    con: duckdb.DuckDBPyConnection, query: exp.Expr, params: Mapping[str, Any], what: str
) -> pa.Table:
    try:
        used = {p.name for p in query.find_all(exp.Placeholder)}
        bound = {k: v for k, v in params.items() if k in used}
        return con.sql(query.sql("duckdb"), params=bound or None).to_arrow_table()
    except duckdb.Error as e:
        raise QualityError(f"{what}: {_engine_message(e)}") from None


def _validate_in(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    rules: list[Rule],
    text_columns: Mapping[str, bool],
    refs: Mapping[int, str],
    source: str,
    run_id: str,
) -> QualityReport:
    batch = exp.Table(this=exp.to_identifier(_BATCH))
    params = _Params()
    plan = _plan_rows(
        rules,
        text_columns,
        params,
        lambda i, _rule: (
            exp.select(_col("__dap_key", None))
            .distinct()
            .from_(exp.Table(this=exp.to_identifier(refs[i])))
        ),
        _ROW_ID,
    )
    # One frame of failing rows: the row id and, per row rule, its reason (null: it passed).
    found = pl.DataFrame({_ROW_ID: []}, schema={_ROW_ID: pl.UInt32})
    columns: dict[str, str] = {}  # rule → its reason column in `found`
    if plan.rules:
        outputs = [
            _col(_ROW_ID),
            *[
                exp.alias_(exp.Case(ifs=[exp.If(this=f.copy(), true=r)]), f"__dap_r{j}")
                for j, (f, r) in enumerate(zip(plan.flags, plan.reasons, strict=True))
            ],
        ]
        query = _scan(plan, batch, outputs).where(exp.or_(*[f.copy() for f in plan.flags]))
        scanned = pl.from_arrow(_run(con, query, params.values, "checking the batch"))
        assert isinstance(scanned, pl.DataFrame)
        found = scanned.with_columns(pl.col(_ROW_ID).cast(pl.UInt32))
        columns = {rule.name: f"__dap_r{j}" for j, rule in enumerate(plan.rules)}
    results: dict[str, RuleResult] = {}
    for j, rule in enumerate(r for r in rules if r.kind == "sql"):
        result, hits = _validate_sql(con, rule, batch)
        results[rule.name] = result
        if hits is not None:
            column = f"__dap_s{j}"
            columns[rule.name] = column
            found = found.join(
                hits.rename({"reason": column}), on=_ROW_ID, how="full", coalesce=True
            )
    table_level = [r for r in rules if r.kind in TABLE_KINDS]
    if table_level:
        results.update(_table_rules(con, batch, table_level, frame.height))
    counts = found.select(pl.col(c).is_not_null().sum().alias(r) for r, c in columns.items())
    # Rows failing an error rule: one quarantined row each, all its rules and reasons joined.
    errors = [r.name for r in rules if r.row_level and r.severity == "error"]
    bad = (
        found.filter(pl.any_horizontal(pl.col(columns[r]).is_not_null() for r in errors))
        .sort(_ROW_ID)
        .select(
            _ROW_ID,
            pl.concat_str(
                [pl.when(pl.col(columns[r]).is_not_null()).then(pl.lit(r)) for r in errors],
                separator="; ",
                ignore_nulls=True,
            ).alias("rule"),
            pl.concat_str(
                [pl.col(columns[r]) for r in errors], separator="; ", ignore_nulls=True
            ).alias("reason"),
        )
        if errors
        else found.clear().select(_ROW_ID)
    )
    ids = bad[_ROW_ID]
    passed = (
        frame.with_row_index(_ROW_ID).filter(~pl.col(_ROW_ID).is_in(ids.implode())).drop(_ROW_ID)
    )
    failed = empty_quarantine()
    if bad.height:
        failed = quarantine_frame(
            frame[ids], rule="", reason="", source=source, run_id=run_id
        ).with_columns(_dap_rule=bad["rule"], _dap_reason=bad["reason"])
    ordered: list[RuleResult] = []
    for rule in rules:
        if rule.name in results:
            ordered.append(results[rule.name])
        else:
            failures = int(counts[rule.name][0]) if rule.name in counts.columns else 0
            ordered.append(_row_result(rule, failures))
    ok = not any(r.status == "fail" and _rule_by(rules, r.rule).row_level is False for r in ordered)
    return QualityReport(
        results=ordered, passed=passed, failed=failed, ok=ok, table=source, rows=frame.height
    )


def _rule_by(rules: Sequence[Rule], name: str) -> Rule:
    return next(r for r in rules if r.name == name)


def _validate_sql(
    con: duckdb.DuckDBPyConnection, rule: Rule, batch: exp.Table
) -> tuple[RuleResult, pl.DataFrame | None]:
    """A row rule's failing row ids (with the reason), or a table rule's verdict."""
    query = _custom_sql(rule, batch, batch=True)
    what = f"sql rule {rule.name}"
    if not rule.row_level:
        count = int(_run(con, _count_of(query), {}, what).column(0)[0].as_py())
        return _table_result(rule, count, {"rows": count}), None
    wrapped = (
        exp.select(_col(_ROW_ID, "__dap_s"))
        .distinct()
        .from_(exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("__dap_s"))))
    )
    try:
        rows = con.sql(wrapped.sql("duckdb")).to_arrow_table()
    except duckdb.BinderException:
        raise QualityError(
            f"{what}: a rows rule must return rows of {THIS} (SELECT * FROM {THIS} WHERE …); "
            "use scope: table for a statement that returns other rows"
        ) from None
    except duckdb.Error as e:
        raise QualityError(f"{what}: {_engine_message(e)}") from None
    ids = pl.Series(_ROW_ID, rows.column(0).to_pylist(), dtype=pl.UInt32)
    hits = ids.to_frame().with_columns(reason=pl.lit(f"returned by the sql rule {rule.name}"))
    return _row_result(rule, hits.height), hits


def _table_rules(
    con: duckdb.DuckDBPyConnection, batch: exp.Table, rules: list[Rule], rows: int
) -> dict[str, RuleResult]:
    newest: dict[str, Any] = {}
    fresh = [r for r in rules if r.kind == "freshness"]
    if fresh:
        query = exp.select(
            *[
                exp.alias_(exp.Max(this=_col(r.column or "", None)), f"m{i}")
                for i, r in enumerate(fresh)
            ]
        ).from_(batch)
        values = _run(con, query, {}, "checking freshness").to_pylist()[0]
        newest = {r.name: values[f"m{i}"] for i, r in enumerate(fresh)}
    return {r.name: _judge_table_rule(r, rows, newest.get(r.name)) for r in rules}


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
    target = exp.Table(this=_ident(info.name), db=_ident(info.schema))
    probe = session.query(exp.select(exp.Star()).from_(target.copy()).limit(0).sql("duckdb"))
    schema = probe.table.schema
    _check_columns(parsed, schema.names, name)
    text_columns = {f.name: _is_text(f.type) for f in schema}
    params = _Params()
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
    params: _Params,
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
        select_rows = (
            exp.select(exp.Star())
            .from_(
                exp.Subquery(
                    this=select_rows, alias=exp.TableAlias(this=exp.to_identifier("__dap_s"))
                )
            )
            .limit(limit)
        )
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


__all__ = [
    "KINDS",
    "QualityError",
    "QualityReport",
    "QualityResult",
    "QualityRuleSet",
    "QualityStore",
    "Rule",
    "RuleResult",
    "RuleSight",
    "StoredCheck",
    "badge_html",
    "check",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "require_rule_writer",
    "results_frame",
    "rule_sight",
    "set_rules",
    "validate",
]
