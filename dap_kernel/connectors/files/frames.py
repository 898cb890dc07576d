"""Frames read whole (JSON, Excel): declared columns cast, mostly-numeric text read as numbers,
and the values that do not convert quarantined with their row."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import polars as pl
import pyarrow as pa

from ...quarantine import quarantine_frame
from .parts import BATCH_ROWS, PARSE_RULE, TYPE_TOLERANCE, Part, ReadState


def coerce(
    state: ReadState,
    frame: pl.DataFrame,
    declared: Mapping[str, pa.DataType],
    source: str,
    lines: list[int | None] | None,
    where: str,
) -> pl.DataFrame:
    """Cast declared columns, and mostly-numeric text columns, keeping failures per row."""
    tolerance = float(state.options.get("type_tolerance", TYPE_TOLERANCE))
    failures: list[pl.Series] = []
    columns: dict[str, pl.Series] = {}
    for name in frame.columns:
        series = frame[name]
        converted: pl.Series | None = None
        if name in declared:
            dtype = pl.from_arrow(pa.array([], declared[name])).dtype  # type: ignore[union-attr]
            if series.dtype != dtype:
                converted = _convert(series, dtype)
        elif series.dtype == pl.String:
            converted = _numeric_guess(series, tolerance)
        if converted is None:
            continue
        failed = series.is_not_null() & converted.is_null()
        if failed.any():
            kind = _kind_of(converted.dtype)
            reason = pl.when(failed).then(
                pl.lit(f"{name}: ")
                + pl.lit("'")
                + series.cast(pl.String)
                + pl.lit(f"' is not {kind}{where}")
            )
            failures.append(frame.select(reason.alias(name)).to_series())
        columns[name] = converted
    if not columns:
        return frame
    if not failures:
        return frame.with_columns(list(columns.values()))
    reasons = pl.DataFrame(failures).select(
        pl.concat_str(pl.all(), separator="; ", ignore_nulls=True).alias("reason")
    )["reason"]
    mask = pl.DataFrame(failures).select(pl.any_horizontal(pl.all().is_not_null())).to_series()
    idx = mask.arg_true().to_list()
    lines = lines or [None] * frame.height
    state.bad.append(
        quarantine_frame(
            frame.filter(mask),
            rule=PARSE_RULE,
            reason=reasons.filter(mask).to_list(),
            source=source,
            line=[lines[i] for i in idx],
        )
    )
    return frame.with_columns(list(columns.values())).filter(~mask)


def _convert(series: pl.Series, dtype: pl.DataType) -> pl.Series:
    if series.dtype == pl.String:
        text = series.str.strip_chars()
        if dtype == pl.Date:
            return text.str.to_date(strict=False)
        if isinstance(dtype, pl.Datetime):
            return text.str.to_datetime(strict=False).cast(dtype, strict=False)
        if dtype == pl.Boolean:
            lowered = text.str.to_lowercase()
            return pl.select(
                pl.when(lowered.is_in(["true", "t", "yes", "1"]))
                .then(True)
                .when(lowered.is_in(["false", "f", "no", "0"]))
                .then(False)
                .otherwise(None)
                .alias(series.name)
            ).to_series()
        return text.cast(dtype, strict=False)
    return series.cast(dtype, strict=False)


def _numeric_guess(series: pl.Series, tolerance: float) -> pl.Series | None:
    """Text that is numbers except for a few values becomes numbers (mixed JSON/Excel cells)."""
    values = series.drop_nulls()
    if values.is_empty() or values.str.contains(r"^\s*[-+]?0\d").any():
        return None
    for dtype in (pl.Int64, pl.Float64):
        converted = series.str.strip_chars().cast(dtype, strict=False)
        bad = int((series.is_not_null() & converted.is_null()).sum())
        if 0 < bad <= tolerance * values.len():
            return converted
    return None


def _kind_of(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "an integer"
    if dtype.is_numeric():
        return "a number"
    if dtype == pl.Date:
        return "a date"
    if isinstance(dtype, pl.Datetime):
        return "a timestamp"
    if dtype == pl.Boolean:
        return "true or false"
    return f"a {str(dtype).lower()}"


def frame_part(frame: pl.DataFrame, source: str) -> Part:
    table = frame.to_arrow()

    def produce(_target: pa.Schema) -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=BATCH_ROWS)

    return Part(source=source, schema=table.schema, produce=produce)
