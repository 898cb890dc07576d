"""A KPI tile: one number, ``agg(measure)`` over the card's filtered base."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import sqlgen
from .cards import Board, Component
from .markup import _esc
from .sqlgen import Measure


class Kpi(Component):
    kind = "kpi"

    def __init__(
        self,
        dashboard: Board,
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
