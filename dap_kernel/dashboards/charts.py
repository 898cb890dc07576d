"""A chart card with drill-down along a hierarchy and cross-filtering of the other cards.

Clicking a bar drills down (or cross-filters the other components); the template's script turns
a plotly click into a click on the component's category button, so the buttons are also the
keyboard and small-screen way to do the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import polars as pl

from . import sqlgen
from .cards import Board, Component
from .sqlgen import DashboardError, Measure, Predicate

if TYPE_CHECKING:
    import plotly.graph_objects as go

MAX_PICKS = 40  # category buttons under a chart; a longer axis is clicked on the chart only
PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_CONFIG = {
    "responsive": True,
    "displaylogo": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
}


class Chart(Component):
    kind = "chart"

    def __init__(
        self,
        dashboard: Board,
        source: str | None,
        *,
        kind: str,
        x: str | None,
        y: str | None,
        agg: str | None,
        drill: Sequence[str],
        color: str | None,
        title: str,
        width: int,
        cross_filter: bool,
        sort: str | None,
        limit: int | None,
        height: int,
    ) -> None:
        if not drill and not x:
            raise DashboardError(f"chart {title!r}: give x (a column) or drill (a hierarchy)")
        self.chart_kind = kind
        self.drill = list(drill) or [str(x)]
        self.y = y
        self.agg = agg
        self.color = color
        self.cross_filter = cross_filter
        self.sort = sort
        self.limit = limit
        self.height = height
        self.path: list[tuple[str, Any]] = []  # the drill path: (level column, value)
        self.selected: Any = None  # cross-filter selection at the current level
        self.crumbs = w.HBox(_dom_classes=["dap-crumbs"])
        self.picks = w.HBox(_dom_classes=["dap-picks"])
        self._figure: go.Figure | None = None
        super().__init__(dashboard, source, title, width)
        self.body = self._new_body()
        self.card.children = (*self.card.children[:-2], self.body, self.picks, self.download)

    def extra_widgets(self) -> list[w.Widget]:
        return [self.crumbs] if len(self.drill) > 1 else []

    def _new_body(self) -> w.Output:
        """The plot's box has the chart's height: plotly fills its container."""
        return w.Output(_dom_classes=["dap-chart-body"], layout=w.Layout(height=f"{self.height}px"))

    @property
    def level(self) -> str:
        return self.drill[len(self.path)]

    @property
    def can_drill(self) -> bool:
        return len(self.path) < len(self.drill) - 1

    def selections(self) -> list[Predicate]:
        """What this chart contributes to the others: its drill path and its selection."""
        found = [Predicate(col, "=", value) for col, value in self.path]
        if self.cross_filter and self.selected is not None:
            found.append(Predicate(self.level, "=", self.selected))
        return found

    def query(self) -> sqlgen.Built:
        own = [Predicate(col, "=", value) for col, value in self.path]
        measures = []
        if self.agg is not None:
            measures = [Measure(self.y, self.agg, alias=self.y or "count")]
        group = [self.level] + ([self.color] if self.color else [])
        sort = self.sort or (
            "-" + measures[0].name if self.chart_kind in ("bar", "pie") and measures else self.level
        )
        order = [(sort.lstrip("-"), sort.startswith("-"))]
        return sqlgen.build(
            self.source,
            group=group if measures else (),
            measures=measures,
            columns=() if measures else [c for c in (*group, self.y) if c],
            where=own + self.where(),
            params=self.dashboard.parameters(),
            order=order,
            limit=self.limit,
        )

    def figure(self) -> go.Figure | None:
        return self._figure

    def draw(self) -> None:
        assert self.frame is not None
        y = self.y or "count"
        title = self.title
        fig = make_figure(
            self.frame, self.chart_kind, x=self.level, y=y, color=self.color, title=""
        )
        if self.selected is not None and self.chart_kind == "bar" and not self.color:
            xs = [str(v) for v in self.frame[self.level].to_list()]
            fig.update_traces(marker_opacity=[1.0 if v == str(self.selected) else 0.35 for v in xs])
        fig.update_layout(
            height=self.height,
            autosize=True,
            margin={"l": 8, "r": 8, "t": 8, "b": 8},
            legend={"orientation": "h"},
        )
        self._figure = fig
        bundle = {
            PLOTLY_MIME: {**json.loads(fig.to_json()), "config": PLOTLY_CONFIG},
            "text/plain": f"{title}: {self.frame.height} {self.level} values",
        }
        if not isinstance(self.body, w.Output):
            self._set_body(self._new_body())
        assert isinstance(self.body, w.Output)
        self.body.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        self._draw_crumbs()
        self._draw_picks()

    def _draw_crumbs(self) -> None:
        if len(self.drill) == 1:
            return
        buttons: list[w.Widget] = []
        top = w.Button(description=f"All {self.drill[0]}s", _dom_classes=["dap-crumb"])
        top.on_click(lambda _b: self.up(0))
        buttons.append(top)
        for depth, (_col, value) in enumerate(self.path, start=1):
            sep = w.HTML("<span class='dap-crumb-sep'>›</span>")
            crumb = w.Button(description=str(value), _dom_classes=["dap-crumb"])
            crumb.on_click(lambda _b, depth=depth: self.up(depth))
            buttons += [sep, crumb]
        buttons[-1].add_class("dap-crumb-current")
        _replace_children(self.crumbs, buttons)

    def _draw_picks(self) -> None:
        if not (self.can_drill or self.cross_filter) or self.frame is None:
            _replace_children(self.picks, [])
            return
        values = list(dict.fromkeys(self.frame[self.level].to_list()))[:MAX_PICKS]
        buttons = []
        for value in values:
            b = w.Button(
                description=str(value),
                tooltip=(f"Drill into {value}" if self.can_drill else f"Filter by {value}"),
                _dom_classes=["dap-pick"],
            )
            if value == self.selected:
                b.add_class("dap-pick-selected")
            b.on_click(lambda _b, value=value: self.pick(value))
            buttons.append(b)
        _replace_children(self.picks, buttons)

    # -- interaction ---------------------------------------------------------------------------

    def pick(self, value: Any) -> None:
        """A click on a category: drill one level down, or (at the last level) cross-filter."""
        if self.can_drill:
            self.path.append((self.level, value))
            self.selected = None
        elif self.cross_filter:
            self.selected = None if self.selected == value else value
        else:
            return
        self.dashboard.refresh()

    def up(self, depth: int) -> None:
        """Back up the breadcrumbs to ``depth`` levels of the path (0 = the top)."""
        del self.path[depth:]
        self.selected = None
        self.dashboard.refresh()


def make_figure(
    frame: pl.DataFrame, kind: str, *, x: str, y: str, color: str | None, title: str
) -> go.Figure:
    """The chart from :func:`dap_kernel.viz.chart`, the same as ``dap.chart`` draws."""
    from ..viz import chart

    figure: go.Figure = chart(frame, kind, x=x, y=y, color=color, title=title)
    return figure


def _replace_children(box: w.Box, children: Sequence[w.Widget]) -> None:
    old = list(box.children)
    box.children = tuple(children)
    for child in old:
        if child not in children:
            child.close()
