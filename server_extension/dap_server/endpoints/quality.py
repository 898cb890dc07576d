"""Data-quality results of a table (REST `quality/{table}`): latest results and badge, a check
run now, and the table's rules.

Stored results describe the whole table. A caller who sees the table through a row filter or a
mask gets the statuses but not the failure counts or freshness details, as the catalog hides row
counts and statistics from them: counts over rows they cannot see would tell them about those
rows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from dap_kernel.catalog import TableInfo
from dap_kernel.errors import UnknownTable
from dap_kernel.quality import (
    QualityReport,
    QualityStore,
    RuleResult,
    check,
    set_rules,
)

from ..api import Call, router
from ..models import Request, Timestamp
from .catalog import governed_table, readable_table

# -- models ----------------------------------------------------------------------------------


class QualityRuleResult(BaseModel):
    rule: str
    kind: str = Field(description="not_null, unique, accepted_values, range, regex, …")
    column: str | None = None
    severity: Literal["warn", "error"]
    status: Literal["pass", "warn", "fail"]
    failures: int | None = Field(
        description="Failing rows (1 for a failed table-level rule); null when hidden from you."
    )
    message: str = Field(description="A summary without row values.")
    details: dict[str, Any] = Field(default_factory=dict)


class QualityFreshness(BaseModel):
    column: str | None
    newest: Timestamp | None
    age_s: float | None = Field(description="Age of the newest value, in seconds, now.")


class QualityBadge(BaseModel):
    status: Literal["pass", "warn", "fail", "unknown"]
    checked_at: Timestamp | None
    failed_rules: int
    freshness: QualityFreshness | None


class QualityStatus(BaseModel):
    table: str
    badge: QualityBadge
    checked_by: str | None = None
    table_version: int | None = None
    results: list[QualityRuleResult] = Field(description="The latest stored check, rule by rule.")
    rules: list[dict[str, Any]] = Field(description="The table's rules in their YAML form.")


class QualityCheckRequest(Request):
    rules: list[dict[str, Any]] | None = Field(
        default=None,
        description="Rules to check instead of the stored ones (the results are then not stored).",
    )
    write_failures: bool = Field(
        default=False,
        description="Copy the failing rows to TABLE__quarantine (needs MODIFY); never deletes.",
    )


class QualityCheckResult(BaseModel):
    table: str
    status: Literal["pass", "warn", "fail"]
    ok: bool = Field(description="False when an error rule failed.")
    checked_at: Timestamp
    rows: int | None = Field(description="Rows checked (those you see).")
    recorded: bool = Field(description="The results were stored as the table's latest check.")
    quarantined: int = Field(description="Failing rows copied to the quarantine table.")
    results: list[QualityRuleResult]


class QualityRulesRequest(Request):
    rules: list[dict[str, Any]] = Field(
        description="The rules in their YAML form, e.g. [{'not_null': 'id'}]; [] removes them."
    )


class QualityRules(BaseModel):
    table: str
    rules: list[dict[str, Any]]


# -- endpoints -------------------------------------------------------------------------------


def _partial_view(call: Call, table: str) -> bool:
    return governed_table(call, table).partial


def _result(r: RuleResult, hide: bool) -> QualityRuleResult:
    data = r.to_dict()
    if hide:
        data["failures"] = None
        data["details"] = {}
        if data["status"] != "pass":
            data["message"] = f"{r.kind} rule failed"
    return QualityRuleResult.model_validate(data)


def _table(call: Call, table: str) -> TableInfo:
    try:
        return call.workspace.catalog.get(table)
    except UnknownTable:
        raise UnknownTable(f"no table {table} in the catalog") from None


@router.get("quality/{table}", response=QualityStatus, tag="quality", errors=(403, 404))
def get_quality(call: Call, table: str) -> QualityStatus:
    """The latest stored check of a table you may read, its badge and its rules."""
    info = readable_table(call, table)
    name = info.qualified_name
    store = QualityStore(call.workspace.meta)
    hide = _partial_view(call, name)
    last = store.latest(name)
    badge = store.badge(name)
    if hide:
        badge["freshness"] = None
    return QualityStatus(
        table=name,
        badge=QualityBadge.model_validate(badge),
        checked_by=last.checked_by if last else None,
        table_version=last.table_version if last else None,
        results=[_result(r, hide) for r in (last.results if last else [])],
        rules=[r.to_spec() for r in store.rules(name)],
    )


def _check_result(report: QualityReport) -> QualityCheckResult:
    return QualityCheckResult(
        table=report.table,
        status=report.status,
        ok=report.ok,
        checked_at=report.checked_at,
        rows=report.rows,
        recorded=report.recorded,
        quarantined=report.quarantined,
        results=[_result(r, False) for r in report.results],
    )


@router.post(
    "quality/{table}/check",
    body=QualityCheckRequest,
    response=QualityCheckResult,
    pool="query",
    scope="query",
    tag="quality",
    errors=(400, 403, 404, 429),
)
def check_quality(call: Call, table: str, body: QualityCheckRequest) -> QualityCheckResult:
    """Check a table now, as you see it (your row filters and masks apply)."""
    info = readable_table(call, table)
    runtime = call.runtime
    user = call.principal.name
    runtime.limiter.acquire(user)
    try:
        report = check(
            info.qualified_name,
            body.rules,
            session=call.session,
            write_failures=body.write_failures,
        )
    finally:
        runtime.limiter.release(user)
    return _check_result(report)


@router.post(
    "quality/{table}/rules",
    body=QualityRulesRequest,
    response=QualityRules,
    scope="admin",  # a write: keys need more than read-catalog; MODIFY decides
    tag="quality",
    errors=(400, 403, 404),
)
def set_quality_rules(call: Call, table: str, body: QualityRulesRequest) -> QualityRules:
    """Replace a table's rules (needs MODIFY on the table)."""
    info = _table(call, table)
    parsed = set_rules(info.qualified_name, body.rules, session=call.session)
    return QualityRules(table=info.qualified_name, rules=[r.to_spec() for r in parsed])
