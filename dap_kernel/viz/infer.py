"""Choosing a chart from the column types when the caller does not say which.

The rules, in order (first match wins), for a frame with temporal columns T, numeric N and
categorical C (text, boolean, enum):

* nothing named: one row of one numeric column (and no label or date columns) → ``kpi``;
  T and N → ``line`` (T[0] × N[0]); two C and N → ``heatmap`` (C[0] × C[1], value N[0]);
  C and N → ``bar`` (C[0] × N[0]); two N → ``scatter``; one N → ``histogram``; only T →
  ``line`` of row counts; only C → ``bar`` of row counts.
* ``x`` named, no ``y``: a numeric x → ``histogram``; otherwise y is the first numeric column
  that is not x (none → row counts) and the kind follows from x as below.
* ``y`` named, no ``x``: one row without label or date columns → ``kpi``; else x is the
  first temporal column (→ ``line``), else the first categorical (→ ``bar``), else a
  ``histogram`` of y.
* both named: temporal x → ``line``; categorical x with numeric y → ``bar``; numeric x and y
  → ``scatter`` (several y → ``line``); categorical × categorical → ``heatmap``; numeric x with
  categorical y → ``box`` (x and y swapped).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .columns import Columns, as_list, column_kinds, require_columns
from .errors import ChartError


def infer_kind(
    frame: pl.DataFrame, x: str | None = None, y: Columns = None
) -> tuple[str, str | None, Any]:
    """``(kind, x, y)`` to draw ``frame`` with; ``y`` may be ``None`` (count rows).

    A one-row frame is a KPI only when it has no label or date column, so a filtered bar chart
    left with one bar stays a bar chart.
    """
    ys = as_list(y)
    require_columns(frame, [x, *ys])
    kinds = column_kinds(frame)
    by_kind: dict[str, list[str]] = {"temporal": [], "numeric": [], "categorical": []}
    for name, kind in kinds.items():
        if kind in by_kind:
            by_kind[kind].append(name)
    temporal, numeric, categorical = (
        by_kind["temporal"],
        by_kind["numeric"],
        by_kind["categorical"],
    )

    if x is None and not ys:
        if frame.height == 1 and len(numeric) == 1 and not (temporal or categorical):
            return "kpi", None, numeric[0]
        if temporal and numeric:
            return "line", temporal[0], numeric[0]
        if len(categorical) >= 2 and numeric:
            return "heatmap", categorical[0], categorical[1]
        if categorical and numeric:
            return "bar", categorical[0], numeric[0]
        if len(numeric) >= 2:
            return "scatter", numeric[0], numeric[1]
        if numeric:
            return "histogram", numeric[0], None
        if temporal:
            return "line", temporal[0], None
        if categorical:
            return "bar", categorical[0], None
        raise ChartError(
            f"cannot choose a chart for columns {', '.join(frame.columns) or '(none)'}; "
            "pass kind=, x= and y="
        )

    if x is None:
        single = frame.height == 1 and not (temporal or categorical)
        if single and len(ys) == 1 and kinds[ys[0]] == "numeric":
            return "kpi", None, y
        others = [c for c in temporal if c not in ys]
        if others:
            return "line", others[0], y
        others = [c for c in categorical if c not in ys]
        if others:
            return "bar", others[0], y
        return "histogram", ys[0], None

    if not ys:
        if kinds[x] == "numeric":
            return "histogram", x, None
        measures = [c for c in numeric if c != x]
        return _from_pair(kinds[x], "numeric", x, measures[0] if measures else None)

    if len(ys) > 1:
        several = {"temporal": "line", "numeric": "line"}.get(kinds[x], "bar")
        return several, x, y
    return _from_pair(kinds[x], kinds[ys[0]], x, y)


def _from_pair(x_kind: str, y_kind: str, x: str, y: Any) -> tuple[str, str | None, Any]:
    if x_kind == "temporal":
        return "line", x, y
    if y is None:
        return "bar", x, None
    if x_kind == "numeric" and y_kind == "numeric":
        return "scatter", x, y
    if x_kind == "numeric" and y_kind == "categorical":
        return "box", y, x
    if y_kind == "categorical":
        return "heatmap", x, y
    if y_kind == "numeric":
        return "bar", x, y
    return "scatter", x, y


# The built-in kinds whose x and y mean what inference chooses (categories or time on x,
# measures on y); the others (kpi, cohort, funnel, waterfall, registered kinds) take only what
# the caller names.
FILLED = frozenset({"bar", "line", "area", "scatter", "histogram", "box", "pie", "heatmap"})


def fill_columns(
    frame: pl.DataFrame, kind: str, x: str | None, y: Columns
) -> tuple[str | None, Any]:
    """For a kind the caller named without ``x``, the columns :func:`infer_kind` would choose:
    ``chart(sql, "bar")`` draws the first label column against the first number, as
    ``chart(sql)`` would. A named ``x`` is left as it is (without ``y``: rows are counted)."""
    if kind not in FILLED or x is not None:  # a named x without y: rows counted per x
        return x, y
    kinds = column_kinds(frame)
    if kind == "histogram":  # of one numeric column: the first, unless named
        return (
            x if x is not None else next((c for c, k in kinds.items() if k == "numeric"), None)
        ), y
    inferred, ix, iy = infer_kind(frame, x, y)
    if inferred == "heatmap" and kind != "heatmap":  # its y is a label column, not a measure
        iy = next((c for c, k in kinds.items() if k == "numeric" and c != ix), None)
    if inferred == "histogram":
        return x, y  # one number and no labels: the kind's own message says what it needs
    return ix, (y if as_list(y) else iy)
