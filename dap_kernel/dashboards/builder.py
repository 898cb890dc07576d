"""The ``Dashboard`` builder: a short notebook becomes a governed, filterable dashboard.

>>> d = Dashboard("Sales", filters=[MultiSelect("regions", column="region")])   # doctest: +SKIP
>>> d.kpi("revenue", source=SALES, title="Revenue")                              # doctest: +SKIP
>>> d.chart(SALES, kind="bar", y="revenue", drill=["region", "country", "city"])  # doctest: +SKIP
>>> d.show()                                                                     # doctest: +SKIP

Every component is a base relation (a catalog table or one SELECT) plus what to show of it;
:mod:`.sqlgen` wraps the base in the filters, the drill path and the cross-filter selections,
all as bound parameters, and the viewer's own session (:mod:`.identity`) runs it. The cards
are :mod:`.kpi`, :mod:`.charts` (drill-down, cross-filtering), :mod:`.tables` and
:mod:`.experiment` (an A/B test's results), on the base in :mod:`.cards`; :mod:`.exports`
writes their files.

What the page gets: :meth:`Dashboard.show` runs the viewer's queries first, then displays the
header and the grid of cards as HTML (the ``dap`` template puts it in the page as it streams,
and draws the charts with its plotly.js), with one widget between them: the filter bar and a
*bridge*. The bridge is two hidden widgets: the page writes the card buttons' clicks into one
(``{seq, action, card, arg}``, checked here, anything unexpected ignored), the kernel writes
the redrawn header and grid into the other after every refresh, and the template's script
puts them in place. So the first paint needs no widget round trip, and the page holds only
what the viewer's own queries returned.

In a notebook (``d.show()`` in JupyterLab) there is no template script and no plotly.js: each
chart is also displayed as its own output with plotly's MIME type (metadata
``{"dap": {"preview": …}}``, left out by the template), and after a refresh the header, grid
and charts are updated in place by display id. The card buttons stay inert there; the filter
bar works.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import polars as pl

from ..errors import DapError
from . import sqlgen
from .cards import Component
from .charts import Chart
from .experiment import ExperimentCard
from .exports import _export, _figures, _slug
from .filters import Filter
from .identity import prewarm, viewer_session
from .kpi import Kpi, batch_query
from .live import LiveRefresh
from .markup import _esc, action_button, download_link
from .sqlgen import Measure, Predicate
from .tables import Table

if TYPE_CHECKING:
    from ..client import DapClient
    from ..experiments.definition import Experiment
    from ..experiments.metrics import Metric


def in_voila() -> bool:
    """Whether this kernel serves a Voilà page (Voilà sets these in its kernels' environment)."""
    return "VOILA_KERNEL_ID" in os.environ or os.environ.get("SERVER_SOFTWARE", "").startswith(
        "voila"
    )


class Dashboard:
    """A titled grid of KPI tiles, charts, tables and experiments under one filter bar."""

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
        self._live: LiveRefresh | None = None
        self._built = False
        self._shown = False
        self.token = secrets.token_hex(6)  # ties the page's parts and bridge to this dashboard
        self.status = ""  # the status line's HTML
        self.download = ""  # a download link after a whole-dashboard export
        self._seq = 0  # updates sent to the page
        self._ack = 0  # the last page message handled
        self.inbox = w.Text(
            continuous_update=True, _dom_classes=["dap-bridge", f"dap-bridge-in-{self.token}"]
        )
        self.outbox = w.HTML(_dom_classes=["dap-bridge", f"dap-bridge-out-{self.token}"])
        self.widget = w.VBox(_dom_classes=["dap-controls", f"dap-controls-{self.token}"])
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

    def experiment(
        self,
        experiment: Experiment,
        metrics: Sequence[Metric] | Metric,
        *,
        exposures: str,
        title: str = "",
        width: int = 12,
        height: int = 0,
        alpha: float = 0.05,
        correction: str = "holm",
        sequential: bool = False,
        unique_exposures: bool = False,
        variant_column: str = "variant",
        exposed_at: str | None = "exposed_at",
    ) -> ExperimentCard:
        """An A/B test's results (units, means, lift with its interval, p-values, chance to
        beat control, the SRM banner, the forest plot), analysed as the viewer at each refresh
        with :func:`dap_kernel.experiments.analyze` and its options. The card keeps the
        definitions only (:meth:`~.experiment.ExperimentCard.spec`), never a result."""
        card = ExperimentCard(
            self,
            experiment,
            [metrics] if not isinstance(metrics, Sequence) else list(metrics),
            exposures=exposures,
            title=title or f"Experiment {getattr(experiment, 'name', '')}",
            width=width,
            height=height,
            options={
                "alpha": alpha,
                "correction": correction,
                "sequential": sequential,
                "unique_exposures": unique_exposures,
                "variant_column": variant_column,
                "exposed_at": exposed_at,
            },
        )
        self.components.append(card)
        return card

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
        """The widgets (once): the filter bar and the bridge; the cards are HTML."""
        if self._built:
            return self.widget
        self._built = True
        parts: list[w.Widget] = []
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
        self.inbox.observe(lambda change: self.receive(change["new"]), names="value")
        self.widget.children = (*parts, self.inbox, self.outbox)
        return self.widget

    def show(self) -> w.Widget:
        """Run the viewer's queries, then display the dashboard with its numbers in place."""
        from IPython.display import display

        self.build()
        self.refresh()
        meta = {"dap": {"static": self.token}}
        header, grid = self._page_outputs()
        ids = self._display_id
        display(header, raw=True, metadata=meta, display_id=ids("header"))  # type: ignore[no-untyped-call]
        display(self.widget)  # type: ignore[no-untyped-call]
        display(grid, raw=True, metadata=meta, display_id=ids("grid"))  # type: ignore[no-untyped-call]
        preview = {"dap": {"preview": self.token}}
        for chart in self._charts():
            display(  # type: ignore[no-untyped-call]
                chart.preview_bundle(),
                raw=True,
                metadata=preview,
                display_id=ids(f"chart-{chart.index}"),
            )
        self._shown = True
        return self.widget

    def _charts(self) -> list[Chart | ExperimentCard]:
        """The cards with a plot, each also its own output in a notebook preview."""
        return [c for c in self.components if isinstance(c, Chart | ExperimentCard)]

    def _display_id(self, part: str) -> str:
        return f"dap-{self.token}-{part}"

    def _page_outputs(self) -> tuple[dict[str, str], dict[str, str]]:
        header = {"text/html": self.header_html(), "text/plain": self.title}
        grid = {"text/html": self.grid_html(), "text/plain": f"{len(self.components)} cards"}
        return header, grid

    def _update_preview(self) -> None:
        """In a notebook (JupyterLab) no template script applies the bridge's updates: the
        header, grid and charts are redrawn in place by display id, so the filter bar works in
        a preview. A Voilà page gets them through the bridge only (not twice)."""
        if in_voila():
            return
        from IPython.display import update_display

        header, grid = self._page_outputs()
        for part, bundle in (("header", header), ("grid", grid)):
            update_display(bundle, raw=True, display_id=self._display_id(part))  # type: ignore[no-untyped-call]
        for chart in self._charts():
            update_display(  # type: ignore[no-untyped-call]
                chart.preview_bundle(),
                raw=True,
                display_id=self._display_id(f"chart-{chart.index}"),
            )

    # -- the page ------------------------------------------------------------------------------

    def header_html(self) -> str:
        """Title, description, status line, the whole-dashboard exports."""
        description = (
            f"<p class='dap-description'>{_esc(self.description)}</p>" if self.description else ""
        )
        actions = "".join(
            action_button(
                label,
                "export-all",
                fmt,
                classes=f"dap-export dap-export-all-{fmt}",
                title=f"Download the whole dashboard as {label}",
            )
            for fmt, label in (("pdf", "PDF"), ("xlsx", "Excel"))
        )
        return (
            f"<div class='dap-board dap-header' data-dap-board='{self.token}'>"
            f"<div class='dap-heading'><h1 class='dap-title'>{_esc(self.title)}</h1>"
            f"{description}</div>"
            f"<div class='dap-status' data-dap-part='status'>{self.status}</div>"
            f"<div class='dap-actions'>{actions}</div>"
            f"<div class='dap-download' data-dap-part='download'>{self.download}</div></div>"
        )

    def cards_html(self) -> str:
        return "".join(c.html() for c in self.components)

    def grid_html(self) -> str:
        return (
            f"<div class='dap-board dap-grid' data-dap-board='{self.token}' "
            f"data-dap-part='grid'>{self.cards_html()}</div>"
        )

    def publish(self, busy: bool = False) -> None:
        """Send the page the current header parts and grid (or only "busy") via the bridge."""
        if not self._shown:
            return
        self._seq += 1
        update: dict[str, Any] = {"seq": self._seq, "ack": self._ack, "busy": busy}
        if not busy:
            update.update(status=self.status, download=self.download, grid=self.cards_html())
        self.outbox.value = f"<code>{_esc(json.dumps(update))}</code>"
        if not busy:
            self._update_preview()

    def receive(self, message: str) -> None:
        """A button clicked in the page. The page is the viewer's: only the known actions on
        this dashboard's own cards run, with arguments checked by the card; the rest is
        ignored (the page is told, so it does not wait)."""
        try:
            found = json.loads(message) if message else None
        except ValueError:
            found = None
        if not isinstance(found, dict) or not isinstance(found.get("seq"), int):
            return
        self._ack = max(self._ack, found["seq"])
        action, card, arg = found.get("action"), found.get("card"), str(found.get("arg", ""))
        if action == "export-all" and arg in ("pdf", "xlsx"):
            self.export(arg)
        elif action == "reset":
            self.reset()
        elif isinstance(card, int) and 0 <= card < len(self.components) and action:
            self.components[card].act(str(action), arg)
        self.publish()

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
        self.publish(busy=True)
        try:
            self.session  # noqa: B018  # who is viewing: a missing identity says so once, on top
            if self.refreshed_at is None:
                self.build()
                self._load_options()
            self._run_components()
        except DapError as e:
            self.status = f"<span class='dap-error' role='alert'>{_esc(e.message)}</span>"
            self.publish()
            return
        finally:
            self._refreshing = False
        self.refreshed_at = dt.datetime.now(dt.UTC)
        self.refresh_ms = (time.perf_counter() - started) * 1000
        self.status = self._status_html()
        self.publish()

    def _run_components(self) -> None:
        """KPI tiles over the same base and filters share one query; the rest run one each."""
        batches: dict[tuple[str, str], list[Kpi]] = {}
        for c in self.components:
            if isinstance(c, Kpi):
                try:
                    batches.setdefault(c.batch_key(), []).append(c)
                except DapError as e:
                    c.show_error(e.message)
            else:
                c.run()
        for tiles in batches.values():
            if len(tiles) == 1:
                tiles[0].run()
                continue
            try:
                built = batch_query(tiles)
                result = self.session.query(built.sql, built.params, cache=True)
                self.note_tables(getattr(result, "tables", ()))
                frame = pl.from_arrow(result.table)
                assert isinstance(frame, pl.DataFrame)
            except DapError:
                for t in tiles:  # one tile's bad column must not blank the others
                    t.run()
                continue
            for i, t in enumerate(tiles):
                t.sql, t.params = built.sql, built.params
                t.show_frame(frame.select(pl.col(f"v{i}").alias("value")))

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

    def live(self, every: float = 1.0) -> LiveRefresh:
        """Redraw whenever a table behind the cards gets a new version (a stream's batch),
        checking the catalog every ``every`` seconds (at least 0.5); ``.stop()`` ends it."""
        if self._live is not None:
            self._live.stop()
        self._live = LiveRefresh(self.versions, self.refresh, every_s=every).start()
        return self._live

    def versions(self) -> dict[str, int | None]:
        """The Delta version of each table behind the cards, as the viewer may see them."""
        found: dict[str, int | None] = {}
        for name in sorted(self.tables):
            try:
                found[name] = self.session.describe(name).version
            except DapError:
                found[name] = None
        return found

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
            self.download = f"<span class='dap-error'>{_esc(e.message)}</span>"
            return None
        self.download = download_link(target)
        return target
