"""The GDPR tables of the metadata database (migrations ``0011_gdpr``, ``0013_gdpr_processing``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..meta.models import Base, utcnow


class SubjectKeyRow(Base):
    """``table_name.column_name`` identifies the data subject a row is about (declared once)."""

    __tablename__ = "gdpr_subject_keys"
    __table_args__ = (UniqueConstraint("table_name", name="uq_gdpr_subject_key_table"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(400))  # schema.table, lower-case
    column_name: Mapped[str] = mapped_column(String(300))
    declared_by: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ErasureRow(Base):
    """One erasure request: what was done table by table, so a rerun after a failure resumes
    it under the same id and its certificate counts every row deleted, in either attempt.

    The subject is kept only as a keyed hash (HMAC-SHA256 under the workspace's subject key,
    :func:`~dap_kernel.gdpr.matching.subject_hash`; the column keeps its first name): the
    metadata database must not become one more copy of the identifier it was asked to forget."""

    __tablename__ = "gdpr_erasures"
    __table_args__ = (Index("ix_gdpr_erasures_subject", "subject_sha256"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_sha256: Mapped[str] = mapped_column(String(64))
    principal: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # running | failed | certified | uncertified
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # table -> what was done
    error: Mapped[str] = mapped_column(Text, default="")
    certificate: Mapped[str] = mapped_column(Text, default="")  # path of the certificate
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProcessingRow(Base):
    """One processing activity of the register (GDPR Art. 30): why personal data is processed,
    on which legal basis, in which tables."""

    __tablename__ = "gdpr_processing"
    __table_args__ = (UniqueConstraint("name", name="uq_gdpr_processing_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(40))
    tables: Mapped[list[str]] = mapped_column(JSON, default=list)  # schema.table, lower-case
    subjects: Mapped[str] = mapped_column(Text, default="")  # categories of data subjects
    recipients: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
