"""A/B testing on governed data: ``dap.experiments``.

An :class:`Experiment` names its variants, weights, unit and salt; :func:`assign` (Python) and
:func:`variant_sql` (the engine) put every unit in the same variant from an md5 hash, so
:func:`log_exposures` can write the assignments into a lake table through the governed write
path. :func:`analyze` joins the exposures to every :class:`Metric` (SQL over lake tables) in
one statement in the engine through the caller's session, fetches per-variant sufficient
statistics only, and returns an :class:`ExperimentResult`: difference and relative lift with
intervals, Welch or two-proportion tests, the delta method for ratio metrics, CUPED, optional
always-valid sequential intervals, the Bayesian chance to beat control, the sample-ratio check and
Holm / Benjamini–Hochberg corrections across metrics. :func:`sample_size` and :func:`power`
plan one.

The modules, each building only on those before it:

* :mod:`.errors`: the typed errors;
* :mod:`.definition`: :class:`Experiment`;
* :mod:`.assignment`: the hash, in Python and as SQL (DuckDB; ClickHouse and Spark text);
* :mod:`.stats_engine`: the numbers, from sufficient statistics (gbstats' formulas);
* :mod:`.power`: :func:`power`, :func:`sample_size`;
* :mod:`.metrics`: :class:`Metric`;
* :mod:`.summary`: the one statement that sums every metric per variant;
* :mod:`.results`: :class:`ExperimentResult` (``_repr_html_``, ``plot()``);
* :mod:`.analysis`: :func:`analyze`;
* :mod:`.exposures`: :func:`log_exposures`;
* :mod:`.tracking`: :func:`log_result` (an analysis as an MLflow run).

This module only re-exports; the modules import one another, never this package.
"""

from __future__ import annotations

from .analysis import analyze
from .assignment import assign, assign_many, bucket, variant_sql, variant_sql_text
from .definition import Experiment
from .errors import ExperimentError, InvalidExperiment, InvalidMetric, NotEnoughData
from .exposures import exposure_select, log_exposures
from .metrics import Metric
from .power import SampleSize, power, sample_size
from .results import ExperimentResult, MetricResult
from .tracking import log_result

__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "InvalidExperiment",
    "InvalidMetric",
    "Metric",
    "MetricResult",
    "NotEnoughData",
    "SampleSize",
    "analyze",
    "assign",
    "assign_many",
    "bucket",
    "exposure_select",
    "log_exposures",
    "log_result",
    "power",
    "sample_size",
    "variant_sql",
    "variant_sql_text",
]
