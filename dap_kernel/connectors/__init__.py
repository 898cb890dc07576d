"""Connectors: named, governed connections to external sources (databases, folders, APIs).

The registry holds the definitions; the readers that ingest from a connector sit beside it.
"""

from __future__ import annotations

from .registry import ConnectorExists, ConnectorInfo, Connectors, ConnectorTest, securable

__all__ = ["ConnectorExists", "ConnectorInfo", "ConnectorTest", "Connectors", "securable"]
