"""dap ingest PATH --table NAME: load files into lake tables, bad rows quarantined."""

from __future__ import annotations
