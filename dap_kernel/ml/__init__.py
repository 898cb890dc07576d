"""Machine learning on governed data: ``dap.ml``.

Models train on the caller's governed rows (their row filters and masks apply), are tracked in
MLflow with the source query and the Delta versions read, registered with ``@champion`` and
``@challenger`` aliases, promoted only past a metric threshold (audited), and used for batch
and REST scoring under a grant on ``model:NAME``. scikit-learn and MLflow load on first use.

The modules, each building only on those before it:

* :mod:`.errors`: the typed errors;
* :mod:`.access`: who may use or manage a model (``SELECT`` / ``MODIFY`` on ``model:NAME``);
* :mod:`.data`: the rows, through the governed session only;
* :mod:`.features`: column roles and the preprocessing pipeline;
* :mod:`.results`: :class:`TrainedModel`, :class:`DriftReport`;
* :mod:`.tracking`: the MLflow store (``DAP_HOME/mlflow`` or ``DAP_MLFLOW_TRACKING_URI``);
* :mod:`.registry`: registration, aliases, :func:`promote`;
* :mod:`.train`: :func:`train`;
* :mod:`.predict`: :func:`predict`, :func:`score_rows`;
* :mod:`.drift`: :func:`drift`.

This module only re-exports; the modules import one another, never this package.
"""

from __future__ import annotations

from .access import MANAGE, USE
from .drift import drift
from .errors import MLError, PromotionRefused, UnknownModel
from .predict import predict, score_rows
from .registry import Promotion, alias, promote
from .results import DriftReport, FeatureDrift, Metric, TrainedModel
from .train import train

__all__ = [
    "MANAGE",
    "USE",
    "DriftReport",
    "FeatureDrift",
    "MLError",
    "Metric",
    "Promotion",
    "PromotionRefused",
    "TrainedModel",
    "UnknownModel",
    "alias",
    "drift",
    "predict",
    "promote",
    "score_rows",
    "train",
]
