"""The one error type of the charting layer."""

from __future__ import annotations

from ..errors import DapError


class ChartError(DapError):
    """A chart that cannot be drawn as asked: unknown kind or column, wrong option, bad data."""

    code = "chart_error"
    http_status = 400
