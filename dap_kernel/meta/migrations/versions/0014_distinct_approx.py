"""catalog column statistics say whether a distinct count is an estimate (HyperLogLog)

Every distinct count recorded before this revision came from ``approx_count_distinct``, so
existing counts are marked as estimates: a catalog must not show a guess as a fact.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_columns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("distinct_approx", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        sa.text(
            "UPDATE catalog_columns SET distinct_approx = :yes WHERE distinct_count IS NOT NULL"
        ).bindparams(yes=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("catalog_columns", schema=None) as batch_op:
        batch_op.drop_column("distinct_approx")
