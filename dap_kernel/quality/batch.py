"""Validate a *batch* a pipeline is about to load, in a private engine (:func:`validate`).

The batch is registered in a private in-memory DuckDB connection (locked down: no files, no
settings) and one generated statement computes, for every row, the reason each row rule fails.
Rows breaking an ``error`` rule leave :attr:`~dap_kernel.quality.results.QualityReport.passed`
and go to :attr:`~dap_kernel.quality.results.QualityReport.failed`, shaped for
``<table>__quarantine``; ``warn`` rules only count. Nothing is lost:
``passed.height + failed.height == input rows``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import polars as pl
import pyarrow as pa
from sqlglot import exp

from ..quarantine import empty_quarantine, quarantine_frame
from ..sqlbuild import Params, subquery, table_ref
from .caller import Queries, _default_client
from .plan import (
    _col,
    _count_of,
    _custom_sql,
    _is_text,
    _plan_rows,
    _reference_keys,
    _scan,
)
from .results import QualityReport, RuleResult, _judge_table_rule, _row_result, _table_result
from .rules import TABLE_KINDS, THIS, QualityError, Rule, _as_rules, _check_columns, _engine_message

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
    batch = table_ref(_BATCH, always_quote=False)
    params = Params()
    plan = _plan_rows(
        rules,
        text_columns,
        params,
        lambda i, _rule: (
            exp.select(_col("__dap_key", None))
            .distinct()
            .from_(table_ref(refs[i], always_quote=False))
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
    wrapped = exp.select(_col(_ROW_ID, "__dap_s")).distinct().from_(subquery(query, "__dap_s"))
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
