"""DAP's Jupyter Server extension: the REST API over the governed core, and the lab extension."""

from __future__ import annotations

from typing import Any

from .extension import DapExtension

__all__ = ["DapExtension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "dap_server", "app": DapExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@dap/labextension"}]
