"""Data-quality results of a table (REST `quality/{table}`)."""

from __future__ import annotations
