"""The ``Dashboard`` builder: a short notebook becomes a governed, filterable dashboard.

>>> d = Dashboard("Sales", filters=[MultiSelect("regions", column="region")])   # doctest: +SKIP
>>> d.kpi("revenue", source=SALES, title="Revenue")                              # doctest: +SKIP
>>> d.chart(SALES, kind="bar", y="revenue", drill=["region", "country", "city"])  # doctest: +SKIP
>>> d.show()                                                                     # doctest: +SKIP

Every component is a base relation (a catalog table or one SELECT) plus what to show of it;
:mod:`.sqlgen` wraps the base in the filters, the drill path and the cross-filter selections,
all as bound parameters, and the viewer's own session (:mod:`.identity`) runs it. Clicking a
bar drills down (or cross-filters the other components); the template's script turns a plotly
click into a click on the component's category button, so the buttons are also the keyboard
and small-screen way to do the same.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import polars as pl

from ..errors import DapError
from . import sqlgen
from .filters import Filter
from .identity import viewer_session
from .sqlgen import DashboardError, Measure, Predicate

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..client import DapClient

MAX_PICKS = 40  # category buttons under a chart; a longer axis is clicked on the chart only
PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_CONFIG = {
    "responsive": True,
    "displaylogo": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
}


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class Component:
    """One card of the grid: a title, a body, export buttons and a loading state."""

    kind = "component"

    def __init__(self, dashboard: Dashboard, source: str | None, title: str, width: int) -> None:
        if not 1 <= width <= 12:
            raise DashboardError(f"width {width} must be between 1 and 12 (grid columns)")
        self.dashboard = dashboard
        found = source or dashboard.source
        if not found:
            raise DashboardError(f"{title or self.kind}: give a source (table or SELECT)")
        self.source: str = found
        self.title = title
        self.width = width
        self.index = len(dashboard.components)
        self.frame: pl.DataFrame | None = None
        self.error = ""
        self.sql = ""
        self.params: dict[str, Any] = {}
        self._columns: list[str] | None = None
        self.body: w.Widget = w.HTML()
        self.download = w.HTML(_dom_classes=["dap-download"])
        self.buttons = w.HBox(self._export_buttons(), _dom_classes=["dap-card-actions"])
        head = w.HBox(
            [w.HTML(f"<h3 class='dap-card-title'>{_esc(title)}</h3>"), self.buttons],
            _dom_classes=["dap-card-head"],
        )
        self.card = w.VBox(
            [head, *self.extra_widgets(), self.body, self.download],
            _dom_classes=["dap-card", f"dap-w-{width}", f"dap-{self.kind}"],
        )
        self.card.add_class(f"dap-card-{self.index}")

    def extra_widgets(self) -> list[w.Widget]:
        return []

    def _export_buttons(self) -> list[w.Widget]:
        buttons = []
        for fmt in ("csv", "xlsx"):
            b = w.Button(
                description=fmt.upper(),
                tooltip=f"Download {self.title or 'this'} as {fmt.upper()}",
                _dom_classes=["dap-export", f"dap-export-{fmt}"],
            )
            b.on_click(lambda _b, fmt=fmt: self.export(fmt))
            buttons.append(b)
        return buttons

    # -- the data ------------------------------------------------------------------------------

    def columns(self) -> list[str]:
        """Columns of the base relation (parsed from the SELECT, else asked of the engine)."""
        if self._columns is None:
            found = sqlgen.output_columns(self.source)
            if found is None:
                built = sqlgen.build(self.source, limit=0, params=self.dashboard.parameters())
                found = list(
                    self.dashboard.session.query(built.sql, built.params).table.column_names
                )
            self._columns = found
        return self._columns

    def where(self) -> list[Predicate]:
        """The dashboard's filters and other components' selections that apply to this base."""
        known = set(self.columns())
        return [p for p in self.dashboard.predicates(exclude=self) if p.column in known]

    def query(self) -> sqlgen.Built:
        raise NotImplementedError

    def run(self) -> None:
        """Re-query and redraw; an error (no grant, a bad column) shows in the card only."""
        self.card.add_class("dap-loading")
        try:
            built = self.query()
            self.sql, self.params = built.sql, built.params
            result = self.dashboard.session.query(built.sql, built.params, cache=True)
            self.dashboard.note_tables(getattr(result, "tables", ()))
            frame = pl.from_arrow(result.table)
            assert isinstance(frame, pl.DataFrame)
            self.frame = frame
            self.error = ""
            self.draw()
        except DapError as e:
            self.frame = None
            self.error = e.message
            self.body_error(e.message)
        finally:
            self.card.remove_class("dap-loading")

    def draw(self) -> None:
        raise NotImplementedError

    def body_error(self, message: str) -> None:
        error = w.HTML(f"<div class='dap-error' role='alert'>{_esc(message)}</div>")
        self._set_body(error)

    def _set_body(self, body: w.Widget) -> None:
        children = list(self.card.children)
        children[children.index(self.body)] = body
        self.body = body
        self.card.children = tuple(children)

    def figure(self) -> go.Figure | None:
        return None

    # -- exports -------------------------------------------------------------------------------

    def export(self, fmt: str) -> Path | None:
        """Write this card's current data (its filter state) and offer it as a download."""
        if self.frame is None:
            return None
        name = _slug(self.title or f"{self.kind}-{self.index}")
        path = Path(tempfile.mkdtemp(prefix="dap-export-")) / f"{name}.{fmt}"
        try:
            _export(
                self.frame,
                fmt,
                path,
                title=self.title,
                description=self.dashboard.state(),
                charts=_figures([self.figure()]),
            )
        except DapError as e:
            self.download.value = f"<span class='dap-error'>{_esc(e.message)}</span>"
            return None
        self.download.value = download_link(path)
        return path


class Kpi(Component):
    kind = "kpi"

    def __init__(
        self,
        dashboard: Dashboard,
        measure: str | None,
        *,
        source: str | None,
        agg: str,
        title: str,
        fmt: str,
        width: int,
    ) -> None:
        self.measure = Measure(measure, agg, alias="value")
        self.fmt = fmt
        super().__init__(dashboard, source, title, width)
        self.body = w.HTML("<div class='dap-kpi-value'>…</div>")
        self.card.children = (*self.card.children[:-2], self.body, self.download)

    def query(self) -> sqlgen.Built:
        return sqlgen.build(
            self.source,
            measures=[self.measure],
            where=self.where(),
            params=self.dashboard.parameters(),
        )

    @property
    def value(self) -> Any:
        if self.frame is None or self.frame.height == 0:
            return None
        return self.frame["value"][0]

    def draw(self) -> None:
        value = self.value
        text = "–" if value is None else self.fmt.format(value)
        self._set_body(w.HTML(f"<div class='dap-kpi-value'>{_esc(text)}</div>"))


class Chart(Component):
    kind = "chart"

    def __init__(
        self,
        dashboard: Dashboard,
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


class Table(Component):
    kind = "table"

    def __init__(
        self,
        dashboard: Dashboard,
        source: str | None,
        *,
        columns: Sequence[str],
        order_by: str | None,
        limit: int,
        title: str,
        width: int,
        formats: dict[str, str],
    ) -> None:
        self.shown = list(columns)
        self.order_by = order_by
        self.limit = limit
        self.formats = formats
        super().__init__(dashboard, source, title, width)
        self.body = w.HTML("<div class='dap-table-scroll'></div>")
        self.card.children = (*self.card.children[:-2], self.body, self.download)

    def query(self) -> sqlgen.Built:
        order = []
        if self.order_by:
            order = [(self.order_by.lstrip("-"), self.order_by.startswith("-"))]
        return sqlgen.build(
            self.source,
            columns=self.shown,
            where=self.where(),
            params=self.dashboard.parameters(),
            order=order,
            limit=self.limit,
        )

    def draw(self) -> None:
        assert self.frame is not None
        self._set_body(w.HTML(html_table(self.frame, self.formats)))


def html_table(frame: pl.DataFrame, formats: dict[str, str] | None = None) -> str:
    """A table that scrolls inside its own box (never the page), numbers right-aligned."""
    formats = formats or {}
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    head = "".join(
        f"<th class='{'num' if c in numeric else ''}' scope='col'>{_esc(c)}</th>"
        for c in frame.columns
    )
    rows = []
    for row in frame.iter_rows():
        cells = []
        for c, v in zip(frame.columns, row, strict=True):
            text = "" if v is None else formats[c].format(v) if c in formats else str(v)
            cells.append(f"<td class='{'num' if c in numeric else ''}'>{_esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<div class='dap-table-scroll' tabindex='0'><table class='dap-table'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


class Dashboard:
    """A titled grid of KPI tiles, charts and tables under one filter bar."""

    def __init__(
        self,
        title: str,
        *,
        filters: Sequence[Filter] = (),
        source: str | None = None,
        description: str = "",
        session: DapClient | None = None,
    ) -> None:
        self.title = title
        self.description = description
        self.filters = list(filters)
        self.source = source
        self.components: list[Component] = []
        self._session = session
        self.refreshed_at: dt.datetime | None = None
        self.refresh_ms: float = 0.0
        self.tables: set[str] = set()
        self._refreshing = False
        self._built = False
        self.status = w.HTML(_dom_classes=["dap-status"])
        self.download = w.HTML(_dom_classes=["dap-download"])
        self.grid = w.Box(_dom_classes=["dap-grid"])
        self.widget = w.VBox(_dom_classes=["dap-dashboard"])
        prewarm()

    # -- building ------------------------------------------------------------------------------

    def kpi(
        self,
        measure: str | None = None,
        *,
        source: str | None = None,
        agg: str = "sum",
        title: str = "",
        fmt: str = "{:,.0f}",
        width: int = 3,
    ) -> Kpi:
        """A tile with one number: ``agg(measure)`` over the (filtered) base."""
        kpi = Kpi(
            self,
            measure,
            source=source,
            agg=agg,
            title=title or measure or "count",
            fmt=fmt,
            width=width,
        )
        self.components.append(kpi)
        return kpi

    def chart(
        self,
        source: str | None = None,
        *,
        kind: str = "bar",
        x: str | None = None,
        y: str | None = None,
        agg: str | None = "sum",
        drill: Sequence[str] = (),
        color: str | None = None,
        title: str = "",
        width: int = 6,
        cross_filter: bool = True,
        sort: str | None = None,
        limit: int | None = None,
        height: int = 320,
    ) -> Chart:
        """A chart of ``agg(y)`` by ``x``; ``drill=[a, b, c]`` makes x a hierarchy to click down."""
        chart = Chart(
            self,
            source,
            kind=kind,
            x=x,
            y=y,
            agg=agg,
            drill=drill,
            color=color,
            title=title or f"{y or 'count'} by {(list(drill) or [str(x)])[0]}",
            width=width,
            cross_filter=cross_filter,
            sort=sort,
            limit=limit,
            height=height,
        )
        self.components.append(chart)
        return chart

    def table(
        self,
        source: str | None = None,
        *,
        columns: Sequence[str] = (),
        order_by: str | None = None,
        limit: int = 100,
        title: str = "",
        width: int = 12,
        formats: dict[str, str] | None = None,
    ) -> Table:
        table = Table(
            self,
            source,
            columns=columns,
            order_by=order_by,
            limit=limit,
            title=title or "Rows",
            width=width,
            formats=dict(formats or {}),
        )
        self.components.append(table)
        return table

    # -- state ---------------------------------------------------------------------------------

    @property
    def session(self) -> DapClient:
        """The viewer's session, opened on first use (after Voilà handed over the request)."""
        if self._session is None:
            self._session = viewer_session()
        return self._session

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for f in self.filters:
            params.update(f.params())
        return params

    def predicates(self, exclude: Component | None = None) -> list[Predicate]:
        """Filters plus the selections of every chart but ``exclude``."""
        found = [p for f in self.filters for p in f.predicates()]
        for c in self.components:
            if c is not exclude and isinstance(c, Chart):
                found += c.selections()
        return found

    def note_tables(self, tables: Sequence[str]) -> None:
        self.tables.update(tables)

    def state(self) -> str:
        """The filter state in words, for the header and the exports."""
        parts = [f.describe() for f in self.filters]
        for c in self.components:
            if isinstance(c, Chart):
                parts += [f"{p.column}: {p.value}" for p in c.selections()]
        return " · ".join(p for p in parts if p) or "no filters"

    # -- running -------------------------------------------------------------------------------

    def build(self) -> w.Widget:
        """Lay the widgets out (once); :meth:`refresh` fills them."""
        if self._built:
            return self.widget
        self._built = True
        title = w.HTML(
            f"<h1 class='dap-title'>{_esc(self.title)}</h1>"
            + (
                f"<p class='dap-description'>{_esc(self.description)}</p>"
                if self.description
                else ""
            ),
            _dom_classes=["dap-heading"],
        )
        actions = []
        for fmt, label in (("pdf", "PDF"), ("xlsx", "Excel")):
            b = w.Button(
                description=label,
                tooltip=f"Download the whole dashboard as {label}",
                icon="download",
                _dom_classes=["dap-export", f"dap-export-all-{fmt}"],
            )
            b.on_click(lambda _b, fmt=fmt: self.export(fmt))
            actions.append(b)
        header = w.Box(
            [title, self.status, w.HBox(actions, _dom_classes=["dap-actions"]), self.download],
            _dom_classes=["dap-header"],
        )
        parts: list[w.Widget] = [header]
        if self.filters:
            reset = w.Button(
                description="Reset",
                _dom_classes=["dap-reset"],
                tooltip="Clear every filter and drill-down",
            )
            reset.on_click(lambda _b: self.reset())
            parts.append(
                w.Box([f.box() for f in self.filters] + [reset], _dom_classes=["dap-filters"])
            )
            for f in self.filters:
                f.on_change(self.refresh)
        self.grid.children = tuple(c.card for c in self.components)
        parts.append(self.grid)
        self.widget.children = tuple(parts)
        return self.widget

    def show(self) -> w.Widget:
        """Display the dashboard and run its queries as the viewer."""
        from IPython.display import display

        self.build()
        display(self.widget)  # type: ignore[no-untyped-call]
        self.refresh()
        return self.widget

    def _load_options(self) -> None:
        """Choice filters without fixed options list the values the viewer may see."""
        for f in self.filters:
            if not f.wants_options or f.column is None:
                continue
            try:
                self._load_filter_options(f, f.column)
            except DapError:
                continue  # the components say why (no grant …), each in its card

    def _load_filter_options(self, f: Filter, column: str) -> None:
        source = next((c.source for c in self.components if column in c.columns()), self.source)
        if source is None:
            return
        built = sqlgen.build(
            source,
            group=[column],
            measures=[Measure(None, "count", alias="n")],
            params=self.parameters(),
            order=[(column, False)],
        )
        frame = self.session.sql(built.sql, built.params)
        f.set_options([v for v in frame[column].to_list() if v is not None])

    def refresh(self) -> None:
        """Re-run every component's query with the current filters and selections."""
        if self._refreshing:
            return
        self._refreshing = True
        with contextlib.suppress(DapError):
            self.session  # noqa: B018  # a preheated kernel waits here for its viewer: not timed
        started = time.perf_counter()
        self.status.value = "<span class='dap-refreshing' role='status'>Refreshing…</span>"
        self.widget.add_class("dap-busy")
        try:
            self.session  # noqa: B018  # who is viewing: a missing identity says so once, on top
            if self.refreshed_at is None:
                self.build()
                self._load_options()
            for c in self.components:
                c.run()
        except DapError as e:
            self.status.value = f"<span class='dap-error' role='alert'>{_esc(e.message)}</span>"
            return
        finally:
            self._refreshing = False
            self.widget.remove_class("dap-busy")
        self.refreshed_at = dt.datetime.now(dt.UTC)
        self.refresh_ms = (time.perf_counter() - started) * 1000
        self.status.value = self._status_html()

    def reset(self) -> None:
        for c in self.components:
            if isinstance(c, Chart):
                c.path.clear()
                c.selected = None
        self._refreshing = True  # one refresh for the whole reset, not one per widget
        try:
            for f in self.filters:
                f.reset()
        finally:
            self._refreshing = False
        self.refresh()

    def freshness(self) -> dt.datetime | None:
        """When the least recently updated table behind the dashboard last changed."""
        times = []
        for name in sorted(self.tables):
            try:
                times.append(self.session.describe(name).updated_at)  # governed: readable only
            except DapError:
                continue
        aware = [t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in times]
        return min(aware) if aware else None

    def _status_html(self) -> str:
        assert self.refreshed_at is not None
        refreshed = self.refreshed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        fresh = self.freshness()
        data = f" · data as of {fresh:%Y-%m-%d %H:%M UTC}" if fresh else ""
        who = ""
        with contextlib.suppress(DapError):
            who = f" · viewing as {_esc(self.session.whoami().get('user', ''))}"
        return (
            f"<span class='dap-refreshed' data-refreshed='{self.refreshed_at.isoformat()}' "
            f"data-refresh-ms='{self.refresh_ms:.0f}'>"
            f"Refreshed {refreshed}</span><span class='dap-freshness'>{data}</span>"
            f"<span class='dap-viewer'>{who}</span>"
            f"<span class='dap-state'> · {_esc(self.state())}</span>"
        )

    # -- exports -------------------------------------------------------------------------------

    def export(self, fmt: str, path: str | Path | None = None) -> Path | None:
        """The whole dashboard in its current filter state: ``pdf`` or ``xlsx``."""
        frames: dict[str, pl.DataFrame] = {}
        for c in self.components:
            if c.frame is not None and not isinstance(c, Kpi):
                frames[(c.title or f"{c.kind} {c.index}")[:31]] = c.frame
        if not frames:
            return None
        target = (
            Path(path)
            if path
            else Path(tempfile.mkdtemp(prefix="dap-export-")) / f"{_slug(self.title)}.{fmt}"
        )
        first = next(iter(frames.values()))
        summary = pl.DataFrame(
            {
                "tile": [c.title for c in self.components if isinstance(c, Kpi)],
                "value": [str(c.value) for c in self.components if isinstance(c, Kpi)],
            }
        )
        try:
            _export(
                summary if summary.height else first,
                fmt,
                target,
                title=self.title,
                description=self.state(),
                sheets=frames,
                charts=_figures([c.figure() for c in self.components]),
            )
        except DapError as e:
            self.download.value = f"<span class='dap-error'>{_esc(e.message)}</span>"
            return None
        self.download.value = download_link(target)
        return target


# -- helpers -----------------------------------------------------------------------------------


def prewarm() -> None:
    """Heavy imports and the workspace, before a preheated kernel waits for its viewer."""
    import plotly.graph_objects  # noqa: F401

    from ..client import service_url

    if not service_url():
        from ..session import default_workspace

        default_workspace()


def make_figure(
    frame: pl.DataFrame, kind: str, *, x: str, y: str, color: str | None, title: str
) -> go.Figure:
    """The chart from :func:`dap_kernel.viz.chart`, the same as ``dap.chart`` draws."""
    from ..viz import chart

    figure: go.Figure = chart(frame, kind, x=x, y=y, color=color, title=title)
    return figure


def _figures(figures: Sequence[go.Figure | None]) -> list[go.Figure]:
    return [f for f in figures if f is not None]


def _export(
    frame: pl.DataFrame | None,
    fmt: str,
    path: Path,
    *,
    title: str,
    description: str = "",
    sheets: Mapping[str, pl.DataFrame] | None = None,
    charts: Sequence[go.Figure] = (),
) -> Path:
    """Through :func:`dap_kernel.export.export`: the same files as ``dap export`` writes."""
    if fmt not in ("csv", "xlsx", "pdf"):
        raise DashboardError(f"unknown export format {fmt!r}: use csv, xlsx or pdf")
    from ..export import export

    kwargs: dict[str, Any] = {"title": title, "description": description}
    if fmt != "csv":
        kwargs["charts"] = list(charts)
        if sheets:
            kwargs["sheets"] = dict(sheets)
    return Path(export(frame, to=fmt, path=path, **kwargs))


MIME = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def download_link(path: Path) -> str:
    """A link the template's script clicks once (the browser downloads the file)."""
    data = base64.b64encode(path.read_bytes()).decode()
    mime = MIME.get(path.suffix.lstrip("."), "application/octet-stream")
    return (
        f"<a class='dap-download-link' data-dap-auto='1' download='{_esc(path.name)}' "
        f"href='data:{mime};base64,{data}'>Download {_esc(path.name)}</a>"
    )


def _slug(text: str) -> str:
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")
    return "-".join(p for p in slug.split("-") if p) or "dashboard"


def _replace_children(box: w.Box, children: Sequence[w.Widget]) -> None:
    old = list(box.children)
    box.children = tuple(children)
    for child in old:
        if child not in children:
            child.close()
