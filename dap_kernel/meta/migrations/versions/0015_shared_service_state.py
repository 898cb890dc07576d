"""what the workers of one DAP service share: REST queries, cached results, rate buckets

``dap serve --workers N`` runs N processes; any of them must answer ``query/{id}`` of a query
another ran, find a result another cached, and count a caller's requests against one limit.
Results are stored encrypted (Fernet, the service's secret key): they are copies of governed
rows.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_queries",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("query_id", sa.String(200), primary_key=True),
        sa.Column("engine_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("cached", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("elapsed_ms", sa.Float(), nullable=True),
        sa.Column("tables", sa.Text(), nullable=False, server_default=""),
        sa.Column("nbytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_service_queries_expires_at", "service_queries", ["expires_at"])
    op.create_index("ix_service_queries_engine_id", "service_queries", ["engine_id"])
    op.create_table(
        "service_result_cache",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("result", sa.LargeBinary(), nullable=False),
        sa.Column("nbytes", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_service_result_cache_expires_at", "service_result_cache", ["expires_at"])
    op.create_table(
        "service_rate_buckets",
        sa.Column("bucket", sa.String(400), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_rate_buckets")
    op.drop_index("ix_service_result_cache_expires_at", table_name="service_result_cache")
    op.drop_table("service_result_cache")
    op.drop_index("ix_service_queries_engine_id", table_name="service_queries")
    op.drop_index("ix_service_queries_expires_at", table_name="service_queries")
    op.drop_table("service_queries")
