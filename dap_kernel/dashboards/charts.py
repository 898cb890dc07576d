"""A chart card with drill-down along a hierarchy and cross-filtering of the other cards.

Clicking a bar drills down (or cross-filters the other components); the template's script turns
a plotly click into a click on the component's category button, so the buttons are also the
keyboard and small-screen way to do the same. The chart is a figure in the card's HTML, drawn
by the template's plotly.js (no plotly widget, no PNG); a button sends the *index* of its
category, and the kernel picks the value from its own list of what the viewer was shown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from . import sqlgen
from .cards import Board, Component
from .markup import action_button, plot_div
from .sqlgen import DashboardError, Measure, Predicate

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_MIME = "application/vnd.plotly.v1+json"
MAX_PICKS = 40  # category buttons under a chart; a longer axis is clicked on the chart only
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
        self.pick_values: list[Any] = []  # the category buttons shown, in order
        self._figure: go.Figure | None = None
        self.plotly: dict[str, Any] | None = None  # the figure as plotly's MIME type carries it
        super().__init__(dashboard, source, title, width)
        self.body = self._empty_body()

    def _empty_body(self) -> str:
        """The plot's box has the chart's height: plotly fills its container."""
        return f"<div class='dap-chart-body' style='height:{self.height}px'></div>"

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
        label = f"{self.title}: {self.frame.height} {self.level} values"
        figure = {**json.loads(fig.to_json()), "config": PLOTLY_CONFIG}
        self.plotly = figure
        self.body = (
            f"<div class='dap-chart-body' style='height:{self.height}px'>"
            f"{plot_div(figure, self.height, label)}</div>"
        )
        self.pick_values = (
            list(dict.fromkeys(self.frame[self.level].to_list()))[:MAX_PICKS]
            if self.can_drill or self.cross_filter
            else []
        )

    def show_error(self, message: str) -> None:
        super().show_error(message)
        self.pick_values = []
        self.plotly = None

    def preview_bundle(self) -> dict[str, Any]:
        """The chart as its own output, for a notebook preview (JupyterLab draws plotly's MIME
        type; the grid's HTML has no plotly.js there). The ``dap`` template skips this output:
        its page draws the chart in the grid. After an error the output is empty (the card
        says why)."""
        label = f"{self.title or 'Chart'}"
        bundle: dict[str, Any] = {
            "text/html": f"<div class='dap-chart-preview' data-dap-card='{self.index}'></div>",
            "text/plain": label if self.plotly is not None else f"{label}: {self.error}",
        }
        if self.plotly is not None:
            bundle[PLOTLY_MIME] = self.plotly
        return bundle

    def extra_html(self) -> str:
        """Breadcrumbs of the drill path: ``All regions › EMEA``."""
        if len(self.drill) == 1:
            return ""
        crumbs = [(f"All {self.drill[0]}s", 0)]
        crumbs += [(str(value), depth) for depth, (_col, value) in enumerate(self.path, start=1)]
        parts = []
        for i, (label, depth) in enumerate(crumbs):
            current = " dap-crumb-current" if i == len(crumbs) - 1 else ""
            if i:
                parts.append("<span class='dap-crumb-sep'>›</span>")
            parts.append(action_button(label, "up", depth, classes=f"dap-crumb{current}"))
        return f"<div class='dap-crumbs'>{''.join(parts)}</div>"

    def after_body_html(self) -> str:
        """One button per category shown: drill into it, or cross-filter by it."""
        buttons = []
        for i, value in enumerate(self.pick_values):
            selected = " dap-pick-selected" if value == self.selected else ""
            tip = f"Drill into {value}" if self.can_drill else f"Filter by {value}"
            buttons.append(
                action_button(str(value), "pick", i, classes=f"dap-pick{selected}", title=tip)
            )
        return f"<div class='dap-picks'>{''.join(buttons)}</div>"

    def act(self, action: str, arg: str) -> None:
        """``pick`` (a category's index in the buttons shown) and ``up`` (a crumb's depth)."""
        if action == "pick" and arg.isdecimal() and int(arg) < len(self.pick_values):
            self.pick(self.pick_values[int(arg)])
        elif action == "up" and arg.isdecimal() and int(arg) <= len(self.path):
            self.up(int(arg))
        else:
            super().act(action, arg)

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


def warm_up() -> None:
    """Build and serialise throwaway charts from constants (no query, no data): plotly imports
    its trace and layout classes on first use and the DAP template is built once, ~0.5 s that a
    preheated kernel pays before its viewer arrives, not after."""
    frame = pl.DataFrame({"x": ["a", "b"], "y": [1.0, 2.0]})
    for kind in ("bar", "line"):
        make_figure(frame, kind, x="x", y="y", color=None, title="").to_json()


def make_figure(
    frame: pl.DataFrame, kind: str, *, x: str, y: str, color: str | None, title: str
) -> go.Figure:
    """The chart from :func:`dap_kernel.viz.chart`, the same as ``dap.chart`` draws."""
    from ..viz import chart

    figure: go.Figure = chart(frame, kind, x=x, y=y, color=color, title=title)
    return figure
