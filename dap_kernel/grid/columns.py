"""What a result column tells its display: kind, type label, decimals, and its distribution.

Numbers are shown with the decimals the data has — a ``Decimal(18, 2)`` column its scale, a
float column the fewest decimals (up to :data:`MAX_DECIMALS`) that show every value exactly —
so ``round(revenue, 2)`` reads ``11,303,000.00``, never ``1.1303e7``. Identifiers and years
(``id``, ``customer_id``, ``year``) are integers without thousands separators.

The sparkline in a column header is a histogram (numbers, dates) or the most frequent values
(text, booleans) of every row, or of every k-th row when there are more than :data:`STATS_ROWS`
(an even sample over the whole result, so a sorted column is not judged by its head);
``sampled`` says so. Float decimals are read from the same rows. A displayed result thus costs
at most ~0.1 s per column however large it is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

MAX_DECIMALS = 6
STATS_ROWS = 250_000
BINS = 16
TOP_VALUES = 6
LABEL_CHARS = 40
_IDENTIFIER = re.compile(r"(?:.*[_ ])?(?:id|key|year|yr|zip|code)", re.IGNORECASE)
_SAFE_INTEGER = 2**53  # larger integers travel as text: JavaScript numbers would round them


@dataclass(frozen=True)
class ColumnView:
    """How one column is shown; :meth:`to_json` is its part of the bundle."""

    name: str
    type: str  # the type as the user reads it: Int64, Decimal(18, 2), String, Datetime(us)
    kind: str  # int | float | decimal | bool | string | temporal | other
    decimals: int | None
    grouped: bool  # thousands separators
    nulls: int
    sparkline: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "decimals": self.decimals,
            "grouped": self.grouped,
            "nulls": self.nulls,
            "sparkline": self.sparkline,
        }


def kind_of(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Categorical | pl.Enum):
        return "string"
    if dtype.is_temporal():
        return "temporal"
    return "other"


def float_decimals(series: pl.Series) -> int:
    """The fewest decimals (0…MAX_DECIMALS) that show every finite value of ``series``."""
    values = series.cast(pl.Float64).drop_nulls()
    values = values.filter(values.is_finite())
    if values.is_empty():
        return 0
    for decimals in range(MAX_DECIMALS + 1):
        scaled = values * 10.0**decimals
        # relative tolerance: 0.1 + 0.2 is 0.30000000000000004, and shows as 0.3
        error = ((scaled - scaled.round(0)).abs() / scaled.abs().clip(lower_bound=1.0)).max()
        if error is not None and float(error) < 1e-9:  # type: ignore[arg-type]
            return decimals
    return MAX_DECIMALS


def column_view(series: pl.Series) -> ColumnView:
    kind = kind_of(series.dtype)
    step = -(-len(series) // STATS_ROWS)
    head = series.gather_every(step) if step > 1 else series
    if step > 1 and kind in ("int", "float", "decimal", "temporal"):
        # the true extremes: the histogram's range, and the widest value the grid must fit
        extremes = pl.Series(series.name, [series.min(), series.max()], dtype=series.dtype)
        head = pl.concat([head, extremes])
    decimals: int | None = None
    if kind == "int":
        decimals = 0
    elif kind == "decimal":
        decimals = int(series.dtype.scale or 0)  # type: ignore[attr-defined]
    elif kind == "float":
        decimals = float_decimals(head)
    return ColumnView(
        name=series.name,
        type=str(series.dtype),
        kind=kind,
        decimals=decimals,
        grouped=kind in ("int", "float", "decimal")
        and not (kind == "int" and _IDENTIFIER.fullmatch(series.name)),
        nulls=int(series.null_count()),
        sparkline=sparkline(head, kind, sampled=step > 1),
    )


def sparkline(series: pl.Series, kind: str, *, sampled: bool = False) -> dict[str, Any] | None:
    """A histogram or the top values of ``series``; None when it has nothing to draw."""
    values = series.drop_nulls()
    if kind in ("int", "float", "decimal", "temporal"):
        if kind == "temporal":
            if values.dtype == pl.Time or isinstance(values.dtype, pl.Duration):
                numbers = values.to_physical().cast(pl.Float64)
            else:
                numbers = values.cast(pl.Datetime("us")).to_physical().cast(pl.Float64)
        else:
            numbers = values.cast(pl.Float64)
        numbers = numbers.filter(numbers.is_finite())
        if numbers.is_empty():
            return None
        lo, hi = float(numbers.min()), float(numbers.max())  # type: ignore[arg-type]
        counts = [0] * BINS
        if hi == lo:
            counts[0] = len(numbers)
        else:
            bins = ((numbers - lo) / (hi - lo) * BINS).floor().clip(0, BINS - 1).cast(pl.Int32)
            for b, n in bins.rename("bin").value_counts(name="n").iter_rows():
                counts[int(b)] = int(n)
        low, high = _label(values.min()), _label(values.max())
        return {"kind": "histogram", "counts": counts, "min": low, "max": high, "sampled": sampled}
    if kind in ("string", "bool"):
        if values.is_empty():
            return None
        # renamed: a column named "count" would clash with value_counts' own column
        top = values.rename("value").value_counts(sort=True, name="n").head(TOP_VALUES)
        shown = [(_label(v), int(n)) for v, n in top.iter_rows()]
        other = len(values) - sum(n for _, n in shown)
        return {"kind": "top", "values": shown, "other": other, "sampled": sampled}
    return None


def _label(value: Any) -> str:
    text = str(value)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def json_page(frame: pl.DataFrame) -> list[list[Any]]:
    """Rows of ``frame`` as JSON values: numbers stay numbers (unless JavaScript would round
    them), decimals and dates travel as their exact text, NaN and infinities as text, null as
    null."""
    columns: list[list[Any]] = []
    for series in frame.iter_columns():
        kind = kind_of(series.dtype)
        if kind in ("float", "int", "bool"):
            values = series.to_list()
            if kind == "float":
                values = [_float(v) for v in values]
            elif kind == "int":
                values = [v if v is None or abs(v) < _SAFE_INTEGER else str(v) for v in values]
        elif kind in ("decimal", "string"):
            values = series.cast(pl.String).to_list()  # a decimal's text keeps its scale
        else:
            values = [None if v is None else str(v) for v in series.to_list()]
        columns.append(values)
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _float(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
