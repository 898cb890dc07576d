"""``chart()``: data in, styled plotly figure out, whatever the kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias

import plotly.graph_objects as go
import polars as pl
import pyarrow as pa

from ..caller import default_client
from .columns import Columns, as_list, require_columns
from .errors import ChartError
from .infer import fill_columns, infer_kind
from .registry import check_options
from .registry import get as get_kind
from .theme import empty_figure, merge_meta, style

Data: TypeAlias = pl.DataFrame | pl.LazyFrame | pa.Table | str


class RunsSql(Protocol):
    """Governed SQL, as a chart of a query runs it (a client or a session, here or remote)."""

    def sql(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> pl.DataFrame: ...


def chart(
    data: Data,
    kind: str | None = None,
    *,
    x: str | None = None,
    y: Columns = None,
    color: str | None = None,
    title: str | None = None,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    session: RunsSql | None = None,
    **options: Any,
) -> go.Figure:
    """Draw ``data`` as a ``kind`` chart (chosen from the column types when omitted).

    ``data`` is a polars DataFrame, a pyarrow Table, or SQL run as the current user through
    the governed client (``params`` bound, never pasted; ``session`` to use a given one).
    ``title=None`` makes one from the columns, ``title=""`` draws none. Other keyword
    ``options`` go to the chart kind (``top=``, ``agg=``, ``nbins=``, ``max_points=`` …).
    The figure's ``layout.meta["dap"]`` holds kind, x, y and color for drill-down.
    """
    frame = to_frame(data, params, session)
    require_columns(frame, [x, *as_list(y), color])
    if kind is None:
        kind, x, y = infer_kind(frame, x, y)
    fn = get_kind(kind)
    kind = kind.strip().lower()
    x, y = fill_columns(frame, kind, x, y)
    check_options(kind, fn, options)
    heading = auto_title(kind, x, y) if title is None else title
    if frame.height == 0:
        figure = empty_figure()
        figure.update_layout(title={"text": heading} if heading else None)
        empty = True
    else:
        figure = fn(frame, x=x, y=y, color=color, title=heading or None, **options)
        if not isinstance(figure, go.Figure):
            raise ChartError(
                f"chart type {kind!r} returned {type(figure).__name__}, not a plotly Figure"
            )
        if heading and figure.layout.title.text is None:
            figure.update_layout(title={"text": heading})
        empty = False
    style(figure)
    dap: dict[str, Any] = {"kind": kind, "x": x, "y": y, "color": color, "rows": frame.height}
    if empty:
        dap["empty"] = True
    merge_meta(figure, dap)
    return figure


def to_frame(
    data: Data,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    session: RunsSql | None = None,
) -> pl.DataFrame:
    """A polars frame from what ``chart()`` accepts; SQL only ever through a governed client."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pa.Table | pa.RecordBatch):
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        return frame
    if isinstance(data, str):
        if not data.strip():
            raise ChartError("chart() got an empty SQL string")
        client: RunsSql = default_client() if session is None else session
        return client.sql(data, params)
    raise ChartError(
        "chart() takes a polars DataFrame, a pyarrow Table or a SQL string, "
        f"not {type(data).__name__}"
    )


def auto_title(kind: str, x: str | None, y: Columns) -> str:
    measure = ", ".join(as_list(y))
    if kind == "kpi":
        return measure
    if kind == "cohort":
        return "retention by cohort"
    if kind == "histogram":
        return f"distribution of {x}" if x else ""
    if kind == "heatmap" and x and measure:
        return f"{x} × {measure}"
    if not x:
        return measure
    if not measure:
        return f"count by {x}"
    joiner = {"line": "over", "area": "over", "scatter": "vs"}.get(kind, "by")
    return f"{measure} {joiner} {x}"
