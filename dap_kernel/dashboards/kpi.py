"""A KPI tile: one number, ``agg(measure)`` over the card's filtered base.

Tiles over the same base and filters are asked in one query (:func:`batch_query`): four
tiles cost one scan of the base, not four.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import sqlgen
from .cards import Board, Component
from .markup import _esc
from .sqlgen import Measure


class Kpi(Component):
    kind = "kpi"
    placeholder = "<div class='dap-kpi-value'>…</div>"

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

    def query(self) -> sqlgen.Built:
        return sqlgen.build(
            self.source,
            measures=[self.measure],
            where=self.where(),
            params=self.dashboard.parameters(),
        )

    def batch_key(self) -> tuple[str, str]:
        """Tiles with the same key can share one query: the same base and the same filters."""
        return self.source, repr(self.where())

    @property
    def value(self) -> Any:
        if self.frame is None or self.frame.height == 0:
            return None
        return self.frame["value"][0]

    def draw(self) -> None:
        value = self.value
        text = "–" if value is None else self.fmt.format(value)
        self.body = f"<div class='dap-kpi-value'>{_esc(text)}</div>"


def batch_query(tiles: Sequence[Kpi]) -> sqlgen.Built:
    """One query for tiles that share a batch key: column ``v{i}`` is tile ``i``'s number."""
    first = tiles[0]
    measures = [
        Measure(t.measure.column, t.measure.agg, alias=f"v{i}") for i, t in enumerate(tiles)
    ]
    return sqlgen.build(
        first.source,
        measures=measures,
        where=first.where(),
        params=first.dashboard.parameters(),
    )
