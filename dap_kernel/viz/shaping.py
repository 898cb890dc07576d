"""Reshaping a frame before drawing: aggregation, top-N with "other", sampling of big inputs.

A browser draws a few hundred thousand points at best, and a figure is sent whole to it (and
stored in the notebook), so ``chart()`` never ships more than ``MAX_POINTS`` points for a
point-per-row kind: scatter gets a random sample (fixed seed, same chart every run), line and
area keep every k-th point of each sorted series. The title says so: "(sampled 200,000 of
1,000,000 points)".
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from .errors import ChartError

MAX_POINTS = 200_000
COUNT = "count"
AGGREGATIONS = ("sum", "mean", "median", "min", "max", "count", "first", "last")


def aggregate(
    frame: pl.DataFrame, keys: Sequence[str], measures: Sequence[str], agg: str = "sum"
) -> tuple[pl.DataFrame, list[str]]:
    """One row per key combination: ``agg`` of each measure, or a row count when there are no
    measures (then the measure is called ``count``). Keys keep their first-seen order."""
    keys = list(dict.fromkeys(keys))
    if not measures:
        name = COUNT if COUNT not in keys else f"{COUNT}_"
        return frame.group_by(keys, maintain_order=True).agg(pl.len().alias(name)), [name]
    if agg not in AGGREGATIONS:
        raise ChartError(f"unknown agg {agg!r}; use one of {', '.join(AGGREGATIONS)}")
    if agg in ("sum", "mean", "median"):
        for measure in measures:
            dtype = frame.schema[measure]
            if not (dtype.is_numeric() or dtype == pl.Null):
                raise ChartError(
                    f"cannot {agg} column {measure!r} of type {dtype}: y must be numeric "
                    "(or pass agg='count')"
                )
    exprs = [_aggregation(pl.col(m), agg).alias(m) for m in measures]
    return frame.group_by(keys, maintain_order=True).agg(exprs), list(measures)


def _aggregation(column: pl.Expr, agg: str) -> pl.Expr:
    if agg == "count":
        return column.count()
    expr: pl.Expr = getattr(column, agg)()
    return expr


def top_n(
    frame: pl.DataFrame,
    label: str,
    measure: str,
    n: int | None,
    *,
    other: str = "other",
    by: str | None = None,
) -> tuple[list[str], pl.DataFrame]:
    """Category order (biggest ``measure`` total first) and the frame with every category
    beyond the first ``n`` folded into one ``other`` category (summed, per ``by`` group)."""
    totals = (
        frame.group_by(label, maintain_order=True)
        .agg(pl.col(measure).sum().alias("__total"))
        .sort("__total", descending=True, nulls_last=True, maintain_order=True)
    )
    order: list[str] = totals[label].to_list()
    if n is None or len(order) <= n:
        return order, frame
    keep = order[:n]
    keys = [label] if by is None else [label, by]
    folded = frame.with_columns(
        pl.when(pl.col(label).is_in(keep)).then(pl.col(label)).otherwise(pl.lit(other)).alias(label)
    )
    measures = [c for c in frame.columns if c not in keys]
    folded = folded.group_by(keys, maintain_order=True).agg(pl.col(measures).sum())
    return [*keep, other], folded


def in_order(frame: pl.DataFrame, column: str, order: Sequence[str]) -> pl.DataFrame:
    """Rows sorted by the position of their ``column`` value in ``order`` (stable)."""
    rank = {label: i for i, label in enumerate(order)}
    position = pl.col(column).replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
    return frame.sort(position, maintain_order=True)


def sample_rows(frame: pl.DataFrame, max_points: int) -> tuple[pl.DataFrame, str]:
    """A random sample (seed 0) of at most ``max_points`` rows, and the note for the title."""
    if max_points <= 0 or frame.height <= max_points:
        return frame, ""
    return frame.sample(max_points, seed=0), _note(max_points, frame.height)


def thin_rows(frame: pl.DataFrame, max_points: int) -> tuple[pl.DataFrame, str]:
    """Every k-th row of an ordered frame (a line keeps its shape), and the note."""
    if max_points <= 0 or frame.height <= max_points:
        return frame, ""
    step = -(-frame.height // max_points)
    thinned = frame.gather_every(step)
    return thinned, _note(thinned.height, frame.height)


def _note(kept: int, total: int) -> str:
    return f"(sampled {kept:,} of {total:,} points)"


def with_note(title: str | None, note: str) -> str | None:
    if not note:
        return title
    return f"{title} {note}" if title else note
