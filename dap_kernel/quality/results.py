"""How rules fared: a :class:`RuleResult` per rule and a :class:`QualityReport` per batch or
table, and the one place where failure counts become statuses (``_result``), so a batch and a
table are judged alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import polars as pl

from .rules import QualityError, Rule, Severity

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class RuleResult:
    """How one rule fared: ``failures`` counts failing rows (1 for a failed table-level rule).

    ``message`` never contains row values (it is stored and shown to everyone who may read the
    table); the per-row reasons with values are in the report's ``failed`` rows.
    """

    rule: str
    kind: str
    severity: Severity
    status: Status
    failures: int
    message: str = ""
    column: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "column": self.column,
            "severity": self.severity,
            "status": self.status,
            "failures": self.failures,
            "message": self.message,
            "details": _jsonable(dict(self.details)),
        }


RESULT_SCHEMA: dict[str, Any] = {
    "rule": pl.String,
    "kind": pl.String,
    "column": pl.String,
    "severity": pl.String,
    "status": pl.String,
    "failures": pl.Int64,
    "message": pl.String,
}


@dataclass
class QualityReport:
    """What :func:`validate` or :func:`check` found.

    ``passed``: the rows to load (a batch only; empty for a table check). ``failed``: rows that
    broke an ``error`` rule, quarantine-shaped (for a table check at most ``max_failed_rows``
    unless they were written). ``ok``: for a batch, False when a table-level ``error`` rule
    failed (load nothing); for a table, False when any ``error`` rule failed.
    """

    results: list[RuleResult]
    passed: pl.DataFrame
    failed: pl.DataFrame
    ok: bool
    table: str = ""
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    table_version: int | None = None
    rows: int | None = None
    recorded: bool = False
    quarantined: int = 0

    @property
    def status(self) -> Status:
        """``fail`` if an error rule failed, ``warn`` if only warn rules did, else ``pass``."""
        statuses = {r.status for r in self.results}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    @property
    def failed_rules(self) -> list[str]:
        return [r.rule for r in self.results if r.status != "pass"]

    def to_frame(self) -> pl.DataFrame:
        """One row per rule: what ``%dap quality`` and ``dap quality check`` show."""
        return results_frame(self.results)

    def freshness(self) -> dict[str, Any] | None:
        return freshness_of(self.results)

    def _repr_html_(self) -> str:
        return badge_html(self.table, self.status, self.checked_at, len(self.failed_rules)) + str(
            self.to_frame()._repr_html_()
        )


def results_frame(results: Iterable[RuleResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [{k: v for k, v in r.to_dict().items() if k in RESULT_SCHEMA} for r in results],
        schema=RESULT_SCHEMA,
    )


def _status(failed: bool, severity: str) -> Status:
    if not failed:
        return "pass"
    return "warn" if severity == "warn" else "fail"


def freshness_of(
    results: Iterable[RuleResult], now: datetime | None = None
) -> dict[str, Any] | None:
    for r in results:
        if r.kind == "freshness" and r.details.get("newest"):
            newest = _to_utc(r.details["newest"])
            age = ((now or datetime.now(UTC)) - newest).total_seconds() if newest else None
            return {"column": r.column, "newest": newest, "age_s": age}
    return None


def badge_html(table: str, status: str, checked_at: datetime | None, failed_rules: int) -> str:
    """A small coloured badge for notebooks (values escaped)."""
    import html

    colour = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}.get(status, "#57606a")
    when = f" · {checked_at:%Y-%m-%d %H:%M} UTC" if checked_at else ""
    failed = (
        f" · {failed_rules} rule{'s' if failed_rules != 1 else ''} failed" if failed_rules else ""
    )
    return (
        f'<div class="dap-quality-badge"><span style="background:{colour};color:#fff;'
        f'padding:2px 8px;border-radius:10px;font-weight:600">{html.escape(status)}</span> '
        f"<small>{html.escape(table)}{html.escape(failed + when)}</small></div>"
    )


def _row_result(rule: Rule, failures: int) -> RuleResult:
    label = ", ".join(rule.columns) or "the statement"
    if rule.kind == "not_null":
        message = f"{failures} row(s) with {label} null"
    elif rule.kind == "unique":
        message = f"{failures} row(s) repeat a key ({label}) of an earlier row"
    elif rule.kind == "accepted_values":
        message = f"{failures} row(s) with {label} outside the accepted values"
    elif rule.kind == "range":
        bounds = _bounds(rule.options.get("min"), rule.options.get("max"))
        message = f"{failures} row(s) with {label} out of range{bounds}"
    elif rule.kind == "regex":
        message = f"{failures} row(s) with {label} not matching the pattern"
    elif rule.kind == "foreign_key":
        message = f"{failures} row(s) with {label} not in {'.'.join(rule.references)}"
    else:
        message = f"{failures} row(s) returned by the statement"
    return _result(rule, failures, message if failures else "ok")


def _bounds(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f" [{low}, {high}]"
    return f" (min {low})" if low is not None else f" (max {high})"


def _table_result(
    rule: Rule, failures: int, details: Mapping[str, Any], message: str = ""
) -> RuleResult:
    if rule.kind == "sql" and not message:
        message = f"the statement returned {failures} row(s)" if failures else "ok"
    return _result(rule, failures, message or "ok", details)


def _result(
    rule: Rule, failures: int, message: str, details: Mapping[str, Any] | None = None
) -> RuleResult:
    """Where a rule's failures become its status: row and table rules alike fail, at the rule's
    severity, as soon as anything fails."""
    return RuleResult(
        rule=rule.name,
        kind=rule.kind,
        column=rule.column,
        severity=rule.severity,
        status=_status(failures > 0, rule.severity),
        failures=failures,
        message=message,
        details={} if details is None else details,
    )


def _to_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise QualityError(f"freshness needs a date or timestamp column, not {type(value).__name__}")


def _age_text(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _judge_table_rule(rule: Rule, rows: int, newest: Any) -> RuleResult:
    if rule.kind == "row_count":
        low, high = rule.options.get("min"), rule.options.get("max")
        message = "ok"
        if low is not None and rows < low:
            message = f"{rows} row(s), fewer than the minimum {low}"
        elif high is not None and rows > high:
            message = f"{rows} row(s), more than the maximum {high}"
        return _table_result(rule, int(message != "ok"), {"rows": rows}, message)
    # freshness
    latest = _to_utc(newest)
    limit = float(rule.options["max_age_s"])
    if latest is None:
        return _table_result(
            rule,
            1,
            {"newest": None, "age_s": None},
            f"no values in {rule.column}: no data is fresh",
        )
    age = (datetime.now(UTC) - latest).total_seconds()
    stale = age > limit
    message = (
        f"newest {rule.column} is {_age_text(age)} old, older than {rule.options['max_age']}"
        if stale
        else "ok"
    )
    return _table_result(rule, int(stale), {"newest": latest.isoformat(), "age_s": age}, message)


def _jsonable(value: Any) -> Any:
    """Dates and other scalars YAML may produce, as JSON-storable values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
