"""What ``dap.ml`` says when it cannot do what was asked: one typed error per reason.

They are :class:`~dap_kernel.errors.DapError` subclasses, so a magic shows one line and the
REST door answers with the status named here; a missing grant on a model is the core's
:class:`~dap_kernel.errors.QueryRefused` (403), the same as for a table.
"""

from __future__ import annotations

from ..errors import DapError


class MLError(DapError):
    """The model cannot be trained, stored or used with what was given."""

    code = "ml_error"
    http_status = 400


class UnknownModel(MLError):
    """No registered model (or no such version or alias) by that reference."""

    code = "unknown_model"
    http_status = 404


class PromotionRefused(MLError):
    """A promotion to @champion whose metric does not beat the champion by the threshold."""

    code = "promotion_refused"
    http_status = 409
