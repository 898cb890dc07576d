"""Lineage of a table or column: what it is made from, what is made from it, by which process.

The answer keeps the fields the lab extension's lineage view reads (``table``, ``upstream``,
``downstream`` of ``{name, kind}``) and adds the graph's ``nodes``, ``edges`` and column edges.
Registered file and database tables show their location upstream; tables the caller may not
read appear as ``(restricted)`` nodes (see :mod:`dap_kernel.lineage`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from dap_kernel.lineage import LineageGraph, session_graph

from ..api import Call, router
from ..models import Lineage, LineageNode, QueryParams, Timestamp
from .catalog import readable_table


class LineageQuery(QueryParams):
    column: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$",
        max_length=300,
        description="Column lineage of this column instead of the table's.",
    )
    depth: int = Field(default=5, ge=0, le=20, description="Steps followed each way.")


class LineageEdgeOut(BaseModel):
    source: str
    target: str
    process: str = Field(description="What made the edge: pipeline:NAME, sql:USER, catalog, …")
    run_id: str | None = None
    recorded_at: Timestamp | None = None


class ColumnEdgeOut(BaseModel):
    source_table: str
    source_column: str
    target_table: str
    target_column: str


class LineageGraphOut(Lineage):
    column: str | None = Field(default=None, description="Set for column lineage.")
    nodes: list[LineageNode] = Field(description="Every node of the graph, the table included.")
    edges: list[LineageEdgeOut]
    columns: list[ColumnEdgeOut] = Field(description="Column edges into the graph's tables.")


def graph_out(graph: LineageGraph) -> LineageGraphOut:
    return LineageGraphOut(
        table=graph.table,
        column=graph.column,
        upstream=[LineageNode(name=n.name, kind=n.kind) for n in graph.upstream],
        downstream=[LineageNode(name=n.name, kind=n.kind) for n in graph.downstream],
        nodes=[LineageNode(name=n.name, kind=n.kind) for n in graph.nodes],
        edges=[
            LineageEdgeOut(
                source=e.source,
                target=e.target,
                process=e.process,
                run_id=e.run_id,
                recorded_at=e.recorded_at,
            )
            for e in graph.edges
        ],
        columns=[
            ColumnEdgeOut(
                source_table=c.source_table,
                source_column=c.source_column,
                target_table=c.target_table,
                target_column=c.target_column,
            )
            for c in graph.columns
        ],
    )


@router.get(
    "lineage/{table}",
    query=LineageQuery,
    response=LineageGraphOut,
    tag="lineage",
    errors=(400, 403, 404),
)
def get_lineage(call: Call, table: str, query: LineageQuery) -> LineageGraphOut:
    """Upstream sources and downstream tables of a table you may read (or of one column)."""
    column = query.column
    parts = table.split(".")
    if column is None and len(parts) == 3:  # lineage/main.orders.amount
        table, column = ".".join(parts[:2]), parts[2]
    info = readable_table(call, table)
    name = info.qualified_name + (f".{column}" if column else "")
    return graph_out(session_graph(call.session, name, depth=query.depth))
