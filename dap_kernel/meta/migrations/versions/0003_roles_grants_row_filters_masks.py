"""roles grants row filters masks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:35:54.706652
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "column_masks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("mask", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target"),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("privilege", sa.String(length=30), nullable=False),
        sa.Column("securable", sa.String(length=400), nullable=False),
        sa.Column("grantee_kind", sa.String(length=10), nullable=False),
        sa.Column("grantee", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("privilege", "securable", "grantee_kind", "grantee", name="uq_grant"),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_grantee"), ["grantee"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_kind", sa.String(length=10), nullable=False),
        sa.Column("parent", sa.String(length=200), nullable=False),
        sa.Column("member_kind", sa.String(length=10), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parent_kind", "parent", "member_kind", "member", name="uq_membership"),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_member"), ["member"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_parent"), ["parent"], unique=False)

    op.create_table(
        "policy_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("multi_user", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "row_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("predicate", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("row_filters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_row_filters_table_name"), ["table_name"], unique=False)

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("rewritten_sha256", sa.String(length=64), nullable=False, server_default="")
        )
    policy_state = sa.table(
        "policy_state",
        sa.column("id", sa.Integer),
        sa.column("multi_user", sa.Boolean),
        sa.column("version", sa.BigInteger),
    )
    op.bulk_insert(policy_state, [{"id": 1, "multi_user": False, "version": 0}])


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("rewritten_sha256")
        batch_op.drop_column("channel")

    with op.batch_alter_table("row_filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_row_filters_table_name"))

    op.drop_table("row_filters")
    op.drop_table("policy_state")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_parent"))
        batch_op.drop_index(batch_op.f("ix_memberships_member"))

    op.drop_table("memberships")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_grantee"))

    op.drop_table("grants")
    op.drop_table("column_masks")
