"""A table card: chosen columns of the filtered base, ordered and limited."""

from __future__ import annotations

from collections.abc import Sequence

from . import sqlgen
from .cards import Board, Component
from .markup import html_table


class Table(Component):
    kind = "table"
    placeholder = "<div class='dap-table-scroll'></div>"

    def __init__(
        self,
        dashboard: Board,
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
        self.body = html_table(self.frame, self.formats)
