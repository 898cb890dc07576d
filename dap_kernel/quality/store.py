"""Where rules and results are kept: the metadata store's ``quality_rules`` and
``quality_results`` tables. The store checks no privileges; its callers do
(:func:`~dap_kernel.quality.table.set_rules`, :func:`~dap_kernel.quality.table.check`,
:func:`~dap_kernel.quality.view.quality_status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..catalog import split_name
from ..meta.models import Base, utcnow
from .results import QualityReport, RuleResult, Status, _jsonable, _to_utc, freshness_of
from .rules import Rule, _as_rules, parse_rules

if TYPE_CHECKING:
    from ..meta import MetaStore


class QualityRuleSet(Base):
    """The declared rules of one table (YAML forms, as :meth:`Rule.to_spec` writes them)."""

    __tablename__ = "quality_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(401), unique=True)
    spec: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityResult(Base):
    """One rule's outcome in one check of a table; a check's rows share ``check_id``."""

    __tablename__ = "quality_results"
    __table_args__ = (Index("ix_quality_results_table_checked", "table_name", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(String(32), index=True)
    table_name: Mapped[str] = mapped_column(String(401))
    rule: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    column_name: Mapped[str | None] = mapped_column(String(400), nullable=True)
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    table_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checked_by: Mapped[str] = mapped_column(String(200), default="")
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class StoredCheck:
    """One recorded check of a table."""

    table: str
    check_id: str
    checked_at: datetime
    checked_by: str
    table_version: int | None
    results: list[RuleResult]

    @property
    def status(self) -> Status | Literal["unknown"]:
        statuses = {r.status for r in self.results}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


class QualityStore:
    """Rules per table and check results in the metadata store. Callers check privileges."""

    def __init__(self, meta: MetaStore, *, keep: int = 200) -> None:
        self.meta = meta
        self.keep = keep  # checks kept per table

    def set_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path, *, actor: str = ""
    ) -> list[Rule]:
        parsed = _as_rules(rules)
        name = ".".join(split_name(table))
        spec = [r.to_spec() for r in parsed]
        with self.meta.session() as s:
            row = s.execute(
                select(QualityRuleSet).where(QualityRuleSet.table_name == name)
            ).scalar()
            if not parsed:
                if row is not None:
                    s.delete(row)
                return []
            if row is None:
                row = QualityRuleSet(table_name=name)
                s.add(row)
            row.spec = _jsonable(spec)
            row.updated_by = actor
            row.updated_at = utcnow()
        return parsed

    def rules(self, table: str) -> list[Rule]:
        name = ".".join(split_name(table))
        with self.meta.session() as s:
            spec = s.execute(
                select(QualityRuleSet.spec).where(QualityRuleSet.table_name == name)
            ).scalar()
        return parse_rules(spec or [])

    def record(self, report: QualityReport, *, checked_by: str = "") -> str:
        check_id = uuid.uuid4().hex
        with self.meta.session() as s:
            for r in report.results:
                s.add(
                    QualityResult(
                        check_id=check_id,
                        table_name=report.table,
                        rule=r.rule,
                        kind=r.kind,
                        column_name=r.column,
                        severity=r.severity,
                        status=r.status,
                        failures=r.failures,
                        message=r.message,
                        details=_jsonable(dict(r.details)),
                        table_version=report.table_version,
                        checked_by=checked_by,
                        checked_at=report.checked_at,
                    )
                )
            s.flush()
            # History is for trends, not an archive: the oldest checks beyond ``keep`` go.
            old = (
                s.execute(
                    select(QualityResult.check_id)
                    .where(QualityResult.table_name == report.table)
                    .group_by(QualityResult.check_id)
                    .order_by(func.max(QualityResult.checked_at).desc())
                    .offset(self.keep)
                )
                .scalars()
                .all()
            )
            if old:
                s.execute(delete(QualityResult).where(QualityResult.check_id.in_(old)))
        return check_id

    def latest(self, table: str) -> StoredCheck | None:
        name = ".".join(split_name(table))
        with self.meta.session() as s:
            last = s.execute(
                select(QualityResult.check_id)
                .where(QualityResult.table_name == name)
                .order_by(QualityResult.checked_at.desc(), QualityResult.id.desc())
                .limit(1)
            ).scalar()
            if last is None:
                return None
            rows = (
                s.execute(
                    select(QualityResult)
                    .where(QualityResult.check_id == last)
                    .order_by(QualityResult.id)
                )
                .scalars()
                .all()
            )
            first = rows[0]
            return StoredCheck(
                table=name,
                check_id=last,
                checked_at=_to_utc(first.checked_at) or first.checked_at,
                checked_by=first.checked_by,
                table_version=first.table_version,
                results=[
                    RuleResult(
                        rule=r.rule,
                        kind=r.kind,
                        column=r.column_name,
                        severity="warn" if r.severity == "warn" else "error",
                        status=r.status,  # type: ignore[arg-type]
                        failures=int(r.failures),
                        message=r.message,
                        details=dict(r.details or {}),
                    )
                    for r in rows
                ],
            )

    def badge(self, table: str) -> dict[str, Any]:
        """What the catalog shows beside a table: status of the last check and freshness."""
        last = self.latest(table)
        if last is None:
            return {"status": "unknown", "checked_at": None, "failed_rules": 0, "freshness": None}
        return {
            "status": last.status,
            "checked_at": last.checked_at,
            "failed_rules": sum(r.status != "pass" for r in last.results),
            "freshness": freshness_of(last.results),
        }
