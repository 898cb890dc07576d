"""The lineage graph handed to callers: nodes, edges, and the column edges among them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .names import ColumnEdge, _unique
from .render import render_dot, render_svg, render_text


@dataclass(frozen=True)
class LineageNode:
    name: str
    kind: str  # table | file | database | api | column | restricted


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    process: str
    run_id: str | None = None
    recorded_at: datetime | None = None


@dataclass
class LineageGraph:
    """What flows into ``root`` (``upstream``) and out of it (``downstream``), transitively.

    ``root`` is a table (``main.orders``) or, for column lineage, ``main.orders.amount``.
    ``columns`` are the column edges into the tables of a table graph.
    """

    root: str
    kind: str = "table"
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)
    upstream: list[LineageNode] = field(default_factory=list)
    downstream: list[LineageNode] = field(default_factory=list)
    columns: list[ColumnEdge] = field(default_factory=list)

    @property
    def table(self) -> str:
        return self.root if self.kind != "column" else self.root.rsplit(".", 1)[0]

    @property
    def column(self) -> str | None:
        return self.root.rsplit(".", 1)[1] if self.kind == "column" else None

    def to_dict(self) -> dict[str, Any]:
        edges = [
            {
                "source": e.source,
                "target": e.target,
                "process": e.process,
                "run_id": e.run_id,
                "recorded_at": e.recorded_at.isoformat() if e.recorded_at else None,
            }
            for e in self.edges
        ]
        return {
            "root": self.root,
            "table": self.table,
            "column": self.column,
            "kind": self.kind,
            "nodes": [asdict(n) for n in self.nodes],
            "edges": edges,
            "upstream": [asdict(n) for n in self.upstream],
            "downstream": [asdict(n) for n in self.downstream],
            "columns": [asdict(c) for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageGraph:
        def nodes(key: str) -> list[LineageNode]:
            return [LineageNode(n["name"], n["kind"]) for n in data.get(key) or []]

        root = str(data.get("root") or data["table"])
        column = data.get("column")
        if column and not root.endswith(f".{column}"):
            root = f"{root}.{column}"
        return cls(
            root=root,
            kind="column" if column else "table",
            nodes=nodes("nodes") or [LineageNode(root, "column" if column else "table")],
            edges=[
                LineageEdge(
                    e["source"],
                    e["target"],
                    e.get("process", ""),
                    e.get("run_id"),
                    datetime.fromisoformat(e["recorded_at"]) if e.get("recorded_at") else None,
                )
                for e in data.get("edges") or []
            ],
            upstream=nodes("upstream"),
            downstream=nodes("downstream"),
            columns=[ColumnEdge(**c) for c in data.get("columns") or []],
        )

    # -- views ------------------------------------------------------------------------------

    def sources_of(self, name: str) -> list[str]:
        return _unique(e.source for e in self.edges if e.target == name)

    def to_text(self) -> str:
        """Upstream nodes with what feeds each (``←``), then downstream nodes."""
        return render_text(self)

    def to_dot(self) -> str:
        return render_dot(self)

    def to_svg(self) -> str:
        return render_svg(self)

    def _repr_html_(self) -> str:
        return f'<div class="dap-lineage">{render_svg(self)}</div>'

    def __repr__(self) -> str:
        return (
            f"LineageGraph({self.root}: {len(self.upstream)} upstream, "
            f"{len(self.downstream)} downstream)"
        )
