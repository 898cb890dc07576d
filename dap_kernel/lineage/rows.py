"""The lineage tables of the metadata database (created by migration ``0007_lineage``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..meta.models import Base, utcnow


class LineageEdgeRow(Base):
    """``target`` (a catalog table) was made from ``source`` by ``process``."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        Index("ix_lineage_edges_target_process", "target", "process"),
        Index("ix_lineage_edges_source", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(20))  # table | file | database | api
    target: Mapped[str] = mapped_column(String(400))
    process: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LineageColumnEdgeRow(Base):
    """``target_table.target_column`` was computed from ``source_table.source_column``."""

    __tablename__ = "lineage_column_edges"
    __table_args__ = (
        Index("ix_lineage_column_edges_target", "target_table", "target_column", "process"),
        Index("ix_lineage_column_edges_source", "source_table", "source_column"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_table: Mapped[str] = mapped_column(Text)
    source_column: Mapped[str] = mapped_column(String(300))
    target_table: Mapped[str] = mapped_column(String(400))
    target_column: Mapped[str] = mapped_column(String(300))
    process: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
