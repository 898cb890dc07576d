"""Moved to :mod:`dap_kernel.quality.view`. This name stays only for
``server_extension/dap_server/endpoints/quality.py``; remove it once that imports from
``dap_kernel.quality.view``."""

from __future__ import annotations

from .quality.view import QualityStatus, ShownResult, quality_status, status

__all__ = ["QualityStatus", "ShownResult", "quality_status", "status"]
