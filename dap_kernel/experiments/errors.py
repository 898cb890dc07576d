"""The typed errors of ``dap.experiments``: a mistake in the request (400) unless said otherwise."""

from __future__ import annotations

from ..errors import DapError


class ExperimentError(DapError):
    """Base of the experiment errors."""

    code = "experiment_error"


class InvalidExperiment(ExperimentError):
    """A definition no experiment can have: weights not summing to one, a repeated variant …"""

    code = "invalid_experiment"


class InvalidMetric(ExperimentError):
    """A metric whose kind, SQL or columns cannot be analysed."""

    code = "invalid_metric"


class NotEnoughData(ExperimentError):
    """Too few units in a variant for the statistic asked for."""

    code = "not_enough_data"
