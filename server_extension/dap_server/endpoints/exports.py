"""Governed exports: CSV, Excel and PDF (REST `export`)."""

from __future__ import annotations
