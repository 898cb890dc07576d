"""Pipelines and their runs (REST `pipelines`, `runs`)."""

from __future__ import annotations
