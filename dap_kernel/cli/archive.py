"""dap archive run / retention: history and archiving of lake tables."""

from __future__ import annotations
