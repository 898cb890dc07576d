"""Dashboards: filters bound to parameters, drill-down, cross-filtering, a grid layout, and
published dashboards with grants (the gallery). Served by Voilà with the ``dap`` template.

Imports are lazy so the store (CLI, REST) does not pull in ipywidgets and plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Dashboard": ".builder",
    "Chart": ".charts",
    "Kpi": ".kpi",
    "Table": ".tables",
    "ExperimentCard": ".experiment",
    "Filter": ".filters",
    "Dropdown": ".filters",
    "MultiSelect": ".filters",
    "DateRange": ".filters",
    "Slider": ".filters",
    "viewer_session": ".identity",
    "publish": ".store",
    "gallery": ".store",
    "grant": ".store",
    "revoke": ".store",
    "unpublish": ".store",
    "DashboardInfo": ".store",
    "UnknownDashboard": ".store",
    "Explore": ".explore",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
