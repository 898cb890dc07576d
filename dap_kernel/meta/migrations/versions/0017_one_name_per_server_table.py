"""one catalog name per ClickHouse server table, kept by the database

Registering ``clickhouse:db.table`` checked for another catalog name of the same server table
before writing; two stewards registering it under two names at once could both pass that
check. A partial unique index on the location of ``clickhouse`` tables refuses the second.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

WHERE = "kind = 'clickhouse'"


def upgrade() -> None:
    op.create_index(
        "uq_catalog_server_table",
        "catalog_tables",
        ["location"],
        unique=True,
        sqlite_where=sa.text(WHERE),
        postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("uq_catalog_server_table", table_name="catalog_tables")
