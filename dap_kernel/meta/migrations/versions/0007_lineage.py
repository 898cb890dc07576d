"""lineage graph

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("process", sa.String(length=400), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lineage_edges_target_process", "lineage_edges", ["target", "process"])
    op.create_index("ix_lineage_edges_source", "lineage_edges", ["source"])
    op.create_table(
        "lineage_column_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_table", sa.Text(), nullable=False),
        sa.Column("source_column", sa.String(length=300), nullable=False),
        sa.Column("target_table", sa.String(length=400), nullable=False),
        sa.Column("target_column", sa.String(length=300), nullable=False),
        sa.Column("process", sa.String(length=400), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lineage_column_edges_target",
        "lineage_column_edges",
        ["target_table", "target_column", "process"],
    )
    op.create_index(
        "ix_lineage_column_edges_source",
        "lineage_column_edges",
        ["source_table", "source_column"],
    )


def downgrade() -> None:
    op.drop_index("ix_lineage_column_edges_source", table_name="lineage_column_edges")
    op.drop_index("ix_lineage_column_edges_target", table_name="lineage_column_edges")
    op.drop_table("lineage_column_edges")
    op.drop_index("ix_lineage_edges_source", table_name="lineage_edges")
    op.drop_index("ix_lineage_edges_target_process", table_name="lineage_edges")
    op.drop_table("lineage_edges")
