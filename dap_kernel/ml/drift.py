"""``dap.ml.drift``: how far new rows have moved from a reference, feature by feature.

The population stability index of each feature, ``Σ (new − ref) · ln(new / ref)`` over bins:
deciles of the reference for numbers, the categories for anything else, missing values as a
bin of their own. The usual bands: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25
significant. Both sides are read through the caller's governed session; the reference is a
table or SELECT, or a model (its training query, read again as the caller sees it now).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from .data import ModelSession, read, session_of
from .errors import MLError
from .features import is_date, is_numeric
from .results import DriftReport, FeatureDrift, band, shares

EPSILON = 1e-4  # a share of zero would make the index infinite
MODEL_PREFIX = "models:/"


def psi(reference: Sequence[float], new: Sequence[float]) -> float:
    """The population stability index of two distributions over the same bins (shares)."""
    ref = np.maximum(np.asarray(reference, dtype=float), EPSILON)
    cur = np.maximum(np.asarray(new, dtype=float), EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _numeric(name: str, ref: pl.Series, new: pl.Series, bins: int) -> FeatureDrift:
    values = ref.drop_nulls().cast(pl.Float64).to_numpy()
    edges: Any = (
        np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        if len(values)
        else np.array([])
    )
    labels = [f"≤ {e:.4g}" for e in edges] + [f"> {edges[-1]:.4g}" if len(edges) else "all"]

    def counts(series: pl.Series) -> list[int]:
        present = series.drop_nulls().cast(pl.Float64).to_numpy()
        placed = np.searchsorted(edges, present, side="left")
        found = np.bincount(placed, minlength=len(edges) + 1).tolist()
        return [*found, series.null_count()]

    a, b = shares(counts(ref)), shares(counts(new))
    value = psi(a, b)
    return FeatureDrift(name, "numeric", value, band(value), (*labels, "missing"), a, b)


def _categorical(name: str, ref: pl.Series, new: pl.Series) -> FeatureDrift:
    ref_counts = dict(ref.cast(pl.String).value_counts().iter_rows())
    new_counts = dict(new.cast(pl.String).value_counts().iter_rows())
    keys = sorted({*ref_counts, *new_counts}, key=lambda k: (k is None, str(k)))
    a = shares([ref_counts.get(k, 0) for k in keys])
    b = shares([new_counts.get(k, 0) for k in keys])
    value = psi(a, b)
    labels = tuple("missing" if k is None else str(k) for k in keys)
    return FeatureDrift(name, "categorical", value, band(value), labels, a, b)


def _reference(reference: Any, session: ModelSession) -> tuple[str, tuple[str, ...] | None]:
    """The reference source, and the features to compare (a model's, or every column)."""
    if isinstance(reference, str) and not reference.strip().startswith(MODEL_PREFIX):
        return reference, None
    if isinstance(reference, str):
        from .registry import resolve

        info = resolve(reference, session)
        if not info.source_sql:
            raise MLError(f"model {info.name} v{info.version} has no recorded source query")
        return info.source_sql, info.columns
    source = getattr(reference, "source_sql", None)
    features = getattr(reference, "features", None)
    if not source or features is None:
        raise MLError("the reference is a table, a SELECT, models:/NAME… or a trained model")
    return str(source), tuple(features.columns)


def drift(
    reference: Any,
    new_source: str,
    *,
    features: Sequence[str] | None = None,
    bins: int = 10,
    params: Mapping[str, Any] | None = None,
    session: ModelSession | None = None,
) -> DriftReport:
    """Population stability of each feature from ``reference`` (a table, a SELECT,
    ``models:/NAME@ALIAS`` or a trained model) to ``new_source``."""
    governed = session_of(session)
    if not isinstance(bins, int) or bins < 2:
        raise MLError("bins is an integer of at least 2")
    source, model_features = _reference(reference, governed)
    ref = read(source, governed, params).frame
    new = read(new_source, governed, params).frame
    wanted = list(features or model_features or [c for c in ref.columns if c in new.columns])
    for column in wanted:
        if column not in ref.columns or column not in new.columns:
            raise MLError(f"column {column!r} is not in both the reference and the new rows")
    if ref.height == 0 or new.height == 0:
        raise MLError("drift needs rows on both sides")
    found = []
    for column in wanted:
        dtype = ref[column].dtype
        if is_numeric(dtype) and dtype != pl.Boolean:
            found.append(_numeric(column, ref[column], new[column], bins))
        elif is_date(dtype):
            found.append(
                _numeric(column, ref[column].dt.epoch("d"), new[column].dt.epoch("d"), bins)
            )
        else:
            found.append(_categorical(column, ref[column], new[column]))
    return DriftReport(tuple(found), ref.height, new.height)
