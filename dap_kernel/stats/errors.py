"""What ``dap.stats`` says when its input cannot give an answer: one typed error per reason.

They are :class:`~dap_kernel.errors.DapError` subclasses with an HTTP status of 400, so a magic
shows one line and a REST door would answer 400; the message names the column or group.
"""

from __future__ import annotations

from ..errors import DapError


class StatsError(DapError):
    """The statistic cannot be computed from what was given."""

    code = "stats_error"
    http_status = 400


class UnknownColumn(StatsError):
    """A column the source (as the caller sees it) does not have."""

    code = "unknown_column"


class NotNumeric(StatsError):
    """A statistic of numbers asked of a column that holds something else."""

    code = "not_numeric"


class NotEnoughData(StatsError):
    """Too few rows, groups or non-null values for the statistic (an empty group, say)."""

    code = "not_enough_data"


class TooManyRows(StatsError):
    """A statistic that needs the rows themselves asked of more rows than it may pull."""

    code = "too_many_rows"
