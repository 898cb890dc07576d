"""catalog schema settings: the engine a schema's tables run on

``dap catalog engine --schema SCHEMA ENGINE`` puts every table of a schema on an engine unless
the table names its own; statements that name an engine still run there.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_schemas",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog_schemas")
