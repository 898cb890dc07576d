"""The metadata store: SQLAlchemy models and the Alembic-migrated database that holds them."""

from __future__ import annotations

from .models import AuditRecord, Base, CatalogColumn, CatalogTable, Principal
from .store import MetaStore

__all__ = ["AuditRecord", "Base", "CatalogColumn", "CatalogTable", "MetaStore", "Principal"]
