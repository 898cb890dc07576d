"""SQLAlchemy 2 models of DAP's metadata. Schema changes go through Alembic migrations only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Principal(Base):
    """A user or service account known to DAP; attributes feed row-filter policies later."""

    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="user")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderIdentity(Base):
    """A hub user's groups and mapped roles as the identity provider last said (at a login or
    refresh), for the doors that carry no hub token: their API keys and scheduled runs."""

    __tablename__ = "provider_identities"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogTable(Base):
    """A table users can query: a Delta table in the lake or a registered external source."""

    __tablename__ = "catalog_tables"
    __table_args__ = (
        UniqueConstraint("schema_name", "name", name="uq_catalog_table_name"),
        # One catalog name per ClickHouse server table (migration 0017).
        Index(
            "uq_catalog_server_table",
            "location",
            unique=True,
            sqlite_where=text("kind = 'clickhouse'"),
            postgresql_where=text("kind = 'clickhouse'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schema_name: Mapped[str] = mapped_column(String(200), default="main")
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(
        String(20)
    )  # delta | parquet | csv | json | sqlite | postgres
    location: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    columns: Mapped[list[CatalogColumn]] = relationship(
        back_populates="table",
        cascade="all, delete-orphan",
        order_by="CatalogColumn.position",
        lazy="selectin",
    )

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.name}"


class CatalogColumn(Base):
    """One column of a catalog table with the statistics computed at registration/refresh."""

    __tablename__ = "catalog_columns"
    __table_args__ = (UniqueConstraint("table_id", "name", name="uq_catalog_column_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("catalog_tables.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    data_type: Mapped[str] = mapped_column(String(200))
    nullable: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    null_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    distinct_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The distinct count is a HyperLogLog estimate (a table above DAP_EXACT_DISTINCT_ROWS).
    distinct_approx: Mapped[bool] = mapped_column(default=False, server_default=false())
    min_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    max_value: Mapped[str | None] = mapped_column(Text, nullable=True)

    table: Mapped[CatalogTable] = relationship(back_populates="columns")


class CatalogSchema(Base):
    """Settings of a catalog schema that its tables follow unless they say otherwise (the
    engine statements over them run on). A schema itself is only a name on its tables; this
    row exists once something is set."""

    __tablename__ = "catalog_schemas"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditRecord(Base):
    """One governed decision. Rows are only ever appended; each hash covers the previous one."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    principal: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(50))
    statement: Mapped[str] = mapped_column(Text, default="")
    tables: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(20))  # allowed | refused | failed
    reason: Mapped[str] = mapped_column(Text, default="")
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    elapsed_ms: Mapped[float | None] = mapped_column(nullable=True)
    channel: Mapped[str] = mapped_column(String(20), default="")  # magic | cli | rest | python …
    rewritten_sha256: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row that serialises audit appends and remembers the chain's last hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class Secret(Base):
    """A credential encrypted at rest (Fernet); only ``governance.secrets`` reads ``ciphertext``."""

    __tablename__ = "secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiKey(Base):
    """An API key: stored as a hash, shown once, scoped, optionally expiring, revocable."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    principal: Mapped[str] = mapped_column(String(200), index=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A key minted for one scheduled run: its queries record what they read under that run
    # (and read pinned versions when the run re-executes another as recorded).
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Requests a minute this key may send (dap_kernel.ratelimit); NULL = the service's default,
    # 0 = no limit. Set by an administrator.
    rate_limit_per_min: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RunRead(Base):
    """A table version a scheduled run read (``pinned=False``), or must read (``pinned=True``:
    a re-run as recorded). Written by the governed query path, which knows nothing else of
    schedules."""

    __tablename__ = "run_reads"
    __table_args__ = (UniqueConstraint("run_id", "table_name", "version", "pinned"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(BigInteger)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)


class Membership(Base):
    """``member`` (a user or a group) belongs to ``parent`` (a group or a role). Groups nest."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("parent_kind", "parent", "member_kind", "member", name="uq_membership"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_kind: Mapped[str] = mapped_column(String(10))  # group | role
    parent: Mapped[str] = mapped_column(String(200), index=True)
    member_kind: Mapped[str] = mapped_column(String(10))  # user | group
    member: Mapped[str] = mapped_column(String(200), index=True)


class Grant(Base):
    """A privilege on a securable (``*``, ``schema``, ``schema.table``, ``schema.table.column``)."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("privilege", "securable", "grantee_kind", "grantee", name="uq_grant"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    privilege: Mapped[str] = mapped_column(String(30))
    securable: Mapped[str] = mapped_column(String(400))
    grantee_kind: Mapped[str] = mapped_column(String(10))  # user | group | role
    grantee: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RowFilter(Base):
    """A SQL predicate every reader of the table sees the table through."""

    __tablename__ = "row_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(400), index=True)  # schema.table
    name: Mapped[str] = mapped_column(String(200))
    predicate: Mapped[str] = mapped_column(Text)


class ColumnMask(Base):
    """A mask on a column (``schema.table.column``) or on every column with a tag (``tag:pii``)."""

    __tablename__ = "column_masks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(400), unique=True)
    mask: Mapped[str] = mapped_column(Text)  # mask_email | hash | redact | null | partial | sql:…


class PolicyState(Base):
    """One row: multi-user mode and a version bumped by every policy change (cache keys)."""

    __tablename__ = "policy_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    multi_user: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Connector(Base):
    """A named external source. ``url`` is redacted; the full URL lives in the secret store."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # postgresql | sqlite | mysql | file | http
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    has_secret: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
