"""The REST endpoints, one module per concern; importing this package registers them all."""

from . import (
    access,
    apikeys,
    audit,
    catalog,
    connectors,
    dashboards,
    exports,
    hub,
    lineage,
    models,
    ops,
    pipelines,
    quality,
    query,
    schedules,
    streams,
)

__all__ = [
    "access",
    "apikeys",
    "audit",
    "catalog",
    "connectors",
    "dashboards",
    "exports",
    "hub",
    "lineage",
    "models",
    "ops",
    "pipelines",
    "quality",
    "query",
    "schedules",
    "streams",
]
