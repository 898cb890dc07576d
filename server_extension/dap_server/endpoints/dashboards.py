"""Dashboards as governed objects (REST `dashboards`)."""

from __future__ import annotations
