"""The REST endpoints, one module per concern; importing this package registers them all."""

from . import access, apikeys, audit, catalog, connectors, lineage, ops, query

__all__ = ["access", "apikeys", "audit", "catalog", "connectors", "lineage", "ops", "query"]
