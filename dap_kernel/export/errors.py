"""What an export raises: the caller asked for something impossible, or chromium failed."""

from __future__ import annotations

from ..errors import DapError


class ExportError(DapError):
    """An export that cannot be made as asked (unknown format, existing file, bad input)."""

    code = "export_error"
    http_status = 400


class ExportTooLarge(ExportError):
    code = "export_too_large"
    http_status = 400


class RenderError(DapError):
    """Chromium is missing, failed, or the page did not finish drawing: DAP's environment."""

    code = "render_failed"
    http_status = 500
