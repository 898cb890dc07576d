"""Data-quality results of a table (REST `quality/{table}`): latest results and badge, a check
run now, and the table's rules.

Parse, ask the core, shape the model. What of the stored results a caller sees (statuses without
counts through a row filter or mask, no rule naming a column or table hidden from them, nothing
at all — as for a missing table — when they may not read it) is decided in
:mod:`dap_kernel.quality.view`, the same answer as ``dap quality show``; who may check and who may
set rules in :mod:`dap_kernel.quality`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from dap_kernel.quality import (
    QualityReport,
    RuleResult,
    check,
    require_rule_writer,
    set_rules,
)
from dap_kernel.quality.view import ShownResult, quality_status

from ..api import Call, router
from ..models import Request, Timestamp

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


def _result(r: RuleResult | ShownResult) -> QualityRuleResult:
    return QualityRuleResult.model_validate(r.to_dict())


@router.get("quality/{table}", response=QualityStatus, tag="quality", errors=(403, 404))
def get_quality(call: Call, table: str) -> QualityStatus:
    """The latest stored check of a table you may read, its badge and its rules."""
    seen = quality_status(call.session.governed_catalog, call.workspace.meta, table)
    return QualityStatus(
        table=seen.table,
        badge=QualityBadge.model_validate(seen.badge()),
        checked_by=seen.checked_by,
        table_version=seen.table_version,
        results=[_result(r) for r in seen.results],
        rules=[r.to_spec() for r in seen.rules],
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
        results=[_result(r) for r in report.results],
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
    report = check(
        table,
        body.rules,
        session=call.session,
        write_failures=body.write_failures,
    )
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
    """Replace a table's rules (needs MODIFY or MANAGE_GRANTS on the table)."""
    name = require_rule_writer(call.session.governed_catalog, table).qualified_name
    parsed = set_rules(name, body.rules, session=call.session)
    return QualityRules(table=name, rules=[r.to_spec() for r in parsed])
