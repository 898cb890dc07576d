"""One card of the dashboard grid: the base every KPI tile, chart and table shares.

A card holds a base relation (a catalog table or one SELECT), runs its query as the viewer,
draws its body or shows its error in place, and exports what it shows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets as w
import polars as pl

from ..errors import DapError
from . import sqlgen
from .exports import _export, _figures, _slug
from .markup import _esc, download_link
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
