"""The tables of the service's shared state (created by migration ``0015``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..meta.models import Base


class ServiceQueryRow(Base):
    """A REST query of ``owner``, named ``query_id`` by them: its status and encrypted result."""

    __tablename__ = "service_queries"
    __table_args__ = (
        Index("ix_service_queries_expires_at", "expires_at"),
        Index("ix_service_queries_engine_id", "engine_id"),
    )

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    query_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    engine_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed | cancelled
    started_at: Mapped[float] = mapped_column(Float)  # epoch seconds
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    truncated: Mapped[bool] = mapped_column(default=False, server_default="0")
    cached: Mapped[bool] = mapped_column(default=False, server_default="0")
    elapsed_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    tables: Mapped[str] = mapped_column(Text, default="", server_default="")
    nbytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default="0")
    expires_at: Mapped[float] = mapped_column(Float)


class ServiceResultRow(Base):
    """One cached result under the hash of its cache key (governed statement, params, tokens)."""

    __tablename__ = "service_result_cache"
    __table_args__ = (Index("ix_service_result_cache_expires_at", "expires_at"),)

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    result: Mapped[bytes] = mapped_column(LargeBinary)
    nbytes: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Float)


class ServiceRateBucketRow(Base):
    """One caller's token bucket at one rate (see :mod:`dap_kernel.ratelimit`)."""

    __tablename__ = "service_rate_buckets"

    bucket: Mapped[str] = mapped_column(String(400), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)  # epoch seconds
