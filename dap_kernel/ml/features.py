"""How the columns of a governed frame become a scikit-learn pipeline's input.

Each column gets a role from its type: numbers and booleans are imputed (median) and scaled;
text with few distinct values is one-hot encoded (unknown categories at scoring time are
ignored); dates and timestamps are expanded to year, month and day of week. Columns that can
teach a model nothing, or would copy governed values into the model file, are left out and
named in the result: a column with no values (a column masked to null), an identifier (every
value distinct), and text with many distinct values (names, e-mail addresses: a one-hot
encoder would store each of them).

The transformers are module-level functions so a stored model loads anywhere DAP is
installed, and they coerce what they are given (JSON rows of the REST door hold dates as text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from .errors import MLError

if TYPE_CHECKING:
    import pandas as pd

MAX_CATEGORIES = 50  # distinct text values a column may have to be one-hot encoded
DATE_PARTS = ("year", "month", "dayofweek")


@dataclass(frozen=True)
class FeatureSpec:
    """The features of a model by role, and the columns left out (with why)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dates: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...] = ()  # (column, reason)
    types: tuple[tuple[str, str], ...] = ()  # (column, MLflow type) of every feature

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical + self.dates


def is_numeric(dtype: pl.DataType) -> bool:
    return bool(dtype.is_numeric() or dtype == pl.Boolean)


def is_date(dtype: pl.DataType) -> bool:
    return bool(dtype == pl.Date or isinstance(dtype, pl.Datetime))


def mlflow_type(dtype: pl.DataType) -> str:
    """The MLflow column type a feature is declared with in the model signature."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "long"
    if dtype.is_numeric():
        return "double"
    if is_date(dtype):
        return "datetime"
    return "string"


def plan(frame: pl.DataFrame, target: str, features: Sequence[str] | None = None) -> FeatureSpec:
    """Roles of the columns of ``frame`` other than ``target`` (or of ``features``)."""
    names = list(features) if features is not None else [c for c in frame.columns if c != target]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise MLError(f"the source has no column {missing[0]!r}")
    if target in names:
        raise MLError(f"the target {target!r} cannot also be a feature")
    numeric: list[str] = []
    categorical: list[str] = []
    dates: list[str] = []
    dropped: list[tuple[str, str]] = []
    rows = frame.height
    for name in names:
        column = frame[name]
        dtype = column.dtype
        non_null = column.drop_nulls()
        distinct = non_null.n_unique()
        if non_null.len() == 0:
            dropped.append((name, "no values (masked or empty)"))
        elif distinct == 1:
            dropped.append((name, "one value only (masked or constant)"))
        elif is_numeric(dtype):
            if dtype.is_integer() and distinct == rows and rows > 20:
                dropped.append((name, "an identifier (every value distinct)"))
            else:
                numeric.append(name)
        elif is_date(dtype):
            dates.append(name)
        elif distinct <= MAX_CATEGORIES and distinct <= max(2, rows // 2):
            categorical.append(name)
        else:
            dropped.append((name, f"text with {distinct:,} distinct values"))
    if not numeric and not categorical and not dates:
        raise MLError("no usable feature columns: " + _reasons(dropped))
    chosen = [*numeric, *categorical, *dates]
    return FeatureSpec(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        dates=tuple(dates),
        dropped=tuple(dropped),
        types=tuple((c, mlflow_type(frame[c].dtype)) for c in chosen),
    )


def _reasons(dropped: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{c}: {why}" for c, why in dropped) or "no columns besides the target"


# -- transformers (module level: a stored pipeline refers to them by name) -------------------


def as_numbers(frame: pd.DataFrame) -> Any:
    """Numbers as floats (booleans 0/1; text that is no number becomes missing)."""
    import pandas as pd

    return frame.apply(lambda col: pd.to_numeric(col.astype("object"), errors="coerce")).astype(
        float
    )


def as_text(frame: pd.DataFrame) -> Any:
    """Categories as text, a missing value as its own category ``(missing)``."""
    return frame.astype("object").where(frame.notna(), "(missing)").astype(str)


def date_parts(frame: pd.DataFrame) -> Any:
    """Each date column as three numbers: year, month, day of week (missing stays missing)."""
    import pandas as pd

    parts = {}
    for name in frame.columns:
        when = pd.to_datetime(frame[name], errors="coerce", utc=True)
        parts[f"{name}_year"] = when.dt.year
        parts[f"{name}_month"] = when.dt.month
        parts[f"{name}_dayofweek"] = when.dt.dayofweek
    return pd.DataFrame(parts, index=frame.index).astype(float)


def preprocessor(spec: FeatureSpec) -> Any:
    """A ``ColumnTransformer`` for ``spec``: impute and scale numbers, one-hot encode
    categories, expand dates; every other column is dropped."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    branches: list[tuple[str, Any, list[str]]] = []
    if spec.numeric:
        numbers = make_pipeline(
            FunctionTransformer(as_numbers),
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
        )
        branches.append(("numeric", numbers, list(spec.numeric)))
    if spec.categorical:
        categories = make_pipeline(
            FunctionTransformer(as_text),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        branches.append(("categorical", categories, list(spec.categorical)))
    if spec.dates:
        dates = make_pipeline(
            FunctionTransformer(date_parts),
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
        )
        branches.append(("dates", dates, list(spec.dates)))
    return ColumnTransformer(branches, remainder="drop")


def to_pandas(frame: pl.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The feature columns of a governed frame as the pandas frame scikit-learn takes."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MLError(f"the rows to score have no column {missing[0]!r} (the model needs it)")
    return frame.select(list(columns)).to_pandas()
