"""One card of the dashboard grid: the base every KPI tile, chart and table shares.

A card holds a base relation (a catalog table or one SELECT), runs its query as the viewer,
draws its body or shows its error in place, and exports what it shows. A card is HTML, not a
widget: the page shows it as soon as the kernel has run its query (no widget round trip), and
its buttons reach the kernel through the dashboard's bridge (:mod:`.builder`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from ..errors import DapError
from . import sqlgen
from .exports import _export, _figures, _slug
from .markup import _esc, action_button, download_link
from .sqlgen import DashboardError, Predicate

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..client import DapClient


class Board(Protocol):
    """What a card needs of its dashboard (:class:`.builder.Dashboard` is one): described here
    so the cards need not import the builder, which imports them."""

    source: str | None
    components: list[Component]

    @property
    def session(self) -> DapClient: ...

    def parameters(self) -> dict[str, Any]: ...

    def predicates(self, exclude: Component | None = None) -> list[Predicate]: ...

    def note_tables(self, tables: Sequence[str]) -> None: ...

    def state(self) -> str: ...

    def refresh(self) -> None: ...


class Component:
    """One card of the grid: a title, a body, export buttons and a loading state."""

    kind = "component"
    placeholder = ""  # the body before the first query has run

    def __init__(self, dashboard: Board, source: str | None, title: str, width: int) -> None:
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
        self.body = self.placeholder
        self.download = ""  # a download link after an export

    # -- the HTML ------------------------------------------------------------------------------

    def html(self) -> str:
        """The whole card, as the page shows it."""
        buttons = "".join(
            action_button(
                fmt.upper(),
                "export",
                fmt,
                classes=f"dap-export dap-export-{fmt}",
                title=f"Download {self.title or 'this'} as {fmt.upper()}",
            )
            for fmt in ("csv", "xlsx")
        )
        return (
            f"<div class='dap-card dap-w-{self.width} dap-{self.kind} dap-card-{self.index}' "
            f"data-dap-card='{self.index}'>"
            f"<div class='dap-card-head'><h3 class='dap-card-title'>{_esc(self.title)}</h3>"
            f"<div class='dap-card-actions'>{buttons}</div></div>"
            f"{self.extra_html()}{self.body}{self.after_body_html()}"
            f"<div class='dap-download'>{self.download}</div></div>"
        )

    def extra_html(self) -> str:
        """Between the head and the body (a chart's breadcrumbs)."""
        return ""

    def after_body_html(self) -> str:
        """Under the body (a chart's category buttons)."""
        return ""

    def act(self, action: str, arg: str) -> None:
        """A button of this card, sent by the page (``export``; charts add their own).
        Anything else is ignored: the page is the viewer's, its messages are not trusted."""
        if action == "export" and arg in ("csv", "xlsx"):
            self.export(arg)

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
        try:
            built = self.query()
            self.sql, self.params = built.sql, built.params
            result = self.dashboard.session.query(built.sql, built.params, cache=True)
            self.dashboard.note_tables(getattr(result, "tables", ()))
            frame = pl.from_arrow(result.table)
            assert isinstance(frame, pl.DataFrame)
            self.show_frame(frame)
        except DapError as e:
            self.show_error(e.message)

    def show_frame(self, frame: pl.DataFrame) -> None:
        """The query's result (this card's, or its share of a batched query) drawn."""
        self.frame = frame
        self.error = ""
        self.draw()

    def show_error(self, message: str) -> None:
        self.frame = None
        self.error = message
        self.body = f"<div class='dap-error' role='alert'>{_esc(message)}</div>"

    def draw(self) -> None:
        raise NotImplementedError

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
            self.download = f"<span class='dap-error'>{_esc(e.message)}</span>"
            return None
        self.download = download_link(path)
        return path
