"""dap lineage TABLE: upstream and downstream tables (and columns)."""

from __future__ import annotations
