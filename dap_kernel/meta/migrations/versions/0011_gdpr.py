"""gdpr: a data-subject key per table, and the erasure requests (resumable, certified)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gdpr_subject_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=400), nullable=False),
        sa.Column("column_name", sa.String(length=300), nullable=False),
        sa.Column("declared_by", sa.String(length=200), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("table_name", name="uq_gdpr_subject_key_table"),
    )
    op.create_table(
        "gdpr_erasures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_sha256", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gdpr_erasures_subject", "gdpr_erasures", ["subject_sha256"])


def downgrade() -> None:
    op.drop_index("ix_gdpr_erasures_subject", table_name="gdpr_erasures")
    op.drop_table("gdpr_erasures")
    op.drop_table("gdpr_subject_keys")
