"""Alembic environment: DAP always passes an open connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from dap_kernel.meta.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
