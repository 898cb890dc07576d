"""JSON ↔ core types: what a request sends (parameters, rules) and what an answer becomes
(:class:`~dap_kernel.catalog.TableInfo`, :class:`~dap_kernel.quality.QualityReport`).

Parameters leave the kernel in JSON types only, and only those the statement names; answers
carry only what the service chose to show (no locations, no failing rows).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import DapError

if TYPE_CHECKING:
    from pathlib import Path

    from ..catalog import TableInfo
    from ..quality import QualityReport, Rule


def wire_params(
    sql: str, params: Mapping[str, Any] | Sequence[Any] | None
) -> dict[str, Any] | list[Any] | None:
    """Parameters as JSON: only the names the statement uses, values in JSON types.

    The statement is parsed here only to pick names; the service parses and checks it again.
    """
    if params is None:
        return None
    if isinstance(params, Mapping):
        from ..governance.rewrite import parameters, parse_one_statement

        try:
            names, _ = parameters(parse_one_statement(sql))
        except DapError:
            return None  # the service reports the same syntax error, with nothing sent
        return {n: _wire_value(n, params[n]) for n in names if n in params}
    if isinstance(params, str | bytes):
        return [_wire_value("1", params)]
    return [_wire_value(str(i + 1), v) for i, v in enumerate(params)]


def _wire_value(name: str, value: Any) -> Any:
    """One parameter value in a JSON type; a value JSON cannot carry is refused, never guessed."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return _wire_value(name, value.item())  # numpy and friends' scalars
    if isinstance(value, list | tuple):
        return [_wire_value(name, v) for v in value]
    raise DapError(
        f"parameter :{name} is a {type(value).__name__}, which cannot be sent to the DAP "
        "service: pass a string, number, boolean, date or list of those"
    )


def header_list(value: str) -> tuple[str, ...]:
    """A comma-separated response header (``X-DAP-Tables``) as its items."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def table_info(data: Mapping[str, Any]) -> TableInfo:
    """A catalog entry from ``GET catalog`` (no columns) or ``GET catalog/{table}``."""
    from ..catalog import ColumnInfo, TableInfo

    name = str(data.get("name", ""))
    schema = str(data.get("schema") or name.partition(".")[0])
    updated = data.get("updated_at")
    return TableInfo(
        schema=schema,
        name=str(data.get("table") or name.partition(".")[2]),
        kind=str(data.get("kind", "")),
        location="",  # where the data lives is the service's business
        description=str(data.get("description") or ""),
        owner=str(data.get("owner") or ""),
        tags=list(data.get("tags") or []),
        row_count=data.get("row_count"),
        version=int(data.get("version") or 0),
        updated_at=dt.datetime.fromisoformat(updated) if updated else dt.datetime.min,
        columns=[
            ColumnInfo(
                name=str(c["name"]),
                data_type=str(c.get("type", "")),
                nullable=bool(c.get("nullable", True)),
                description=str(c.get("description") or ""),
                tags=list(c.get("tags") or []),
                null_count=c.get("null_count"),
                distinct_count=c.get("distinct_count"),
                distinct_approx=bool(c.get("distinct_approx", False)),
                min_value=c.get("min_value"),
                max_value=c.get("max_value"),
            )
            for c in data.get("columns") or []
        ],
    )


def quality_report(data: Mapping[str, Any], table: str) -> QualityReport:
    """A check's answer from ``POST quality/{table}/check``; failing rows stay on the service."""
    import polars as pl

    from ..quality import QualityReport, RuleResult

    checked = data.get("checked_at")
    results = [
        RuleResult(
            rule=str(r.get("rule", "")),
            kind=str(r.get("kind", "")),
            severity=r.get("severity", "error"),
            status=r.get("status", "fail"),
            failures=r.get("failures"),  # None: the service hides it from this caller
            message=str(r.get("message") or ""),
            column=r.get("column"),
            details=dict(r.get("details") or {}),
        )
        for r in data.get("results") or []
    ]
    return QualityReport(
        results=results,
        passed=pl.DataFrame(),
        failed=pl.DataFrame(),
        ok=bool(data.get("ok")),
        table=str(data.get("table") or table),
        checked_at=dt.datetime.fromisoformat(checked)
        if isinstance(checked, str)
        else dt.datetime.now(dt.UTC),
        rows=data.get("rows"),
        recorded=bool(data.get("recorded")),
        quarantined=int(data.get("quarantined") or 0),
    )


def rule_specs(rules: Sequence[Mapping[str, Any] | Rule] | str | Path) -> list[dict[str, Any]]:
    """Rules in their YAML form, as the REST body takes them (files are read here)."""
    from ..quality import parse_rules

    return [r.to_spec() for r in parse_rules(rules)]
