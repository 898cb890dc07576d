"""Lineage as a caller may see it: ``dap.lineage(...)``, its session and remote paths, and
the governance that turns tables the caller may not read into ``(restricted)`` nodes."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..caller import default_client
from ..errors import DapError, QueryRefused, UnknownTable
from .graph import LineageEdge, LineageGraph, LineageNode
from .names import DEFAULT_SCHEMA, RESTRICTED, table_name
from .store import LineageStore

if TYPE_CHECKING:
    from ..session import Session


@runtime_checkable
class LineageReader(Protocol):
    """A client that answers lineage as its caller may see it (in process or a DAP service)."""

    def lineage(self, name: str, *, depth: int = 5) -> LineageGraph: ...


def governed_graph(graph: LineageGraph, may_read: Any) -> LineageGraph:
    """``graph`` as a caller who may read only tables where ``may_read(table)`` sees it.

    Unreadable tables (and their columns) become ``(restricted)`` nodes; a file, database or
    API feeding only unreadable tables does too. Column edges touching them are left out.
    """
    readable: dict[str, bool] = {}

    def table_ok(table: str) -> bool:
        if table not in readable:
            readable[table] = bool(may_read(table))
        return readable[table]

    kinds = {n.name: n.kind for n in graph.nodes}

    def visible(name: str) -> bool:
        kind = kinds.get(name, "table")
        if kind == "table":
            return table_ok(name)
        if kind == "column":
            return table_ok(name.rsplit(".", 1)[0])
        if kind == "restricted":
            return True
        feeds = [e.target for e in graph.edges if e.source == name]
        return any(visible(t) for t in feeds if kinds.get(t) not in ("file", "database", "api"))

    rename: dict[str, str] = {}
    for n in [*graph.upstream, *graph.downstream, *graph.nodes]:  # numbered nearest first
        if n.name not in rename and not visible(n.name):
            rename[n.name] = RESTRICTED if not rename else f"{RESTRICTED[:-1]} {len(rename) + 1})"

    def show(name: str) -> str:
        return rename.get(name, name)

    def node(n: LineageNode) -> LineageNode:
        return LineageNode(rename[n.name], "restricted") if n.name in rename else n

    edges = [
        LineageEdge(show(e.source), show(e.target), e.process, e.run_id, e.recorded_at)
        for e in graph.edges
    ]
    return LineageGraph(
        root=graph.root,
        kind=graph.kind,
        nodes=[node(n) for n in graph.nodes],
        edges=edges,
        upstream=[node(n) for n in graph.upstream],
        downstream=[node(n) for n in graph.downstream],
        columns=[
            c
            for c in graph.columns
            if table_ok(c.target_table)
            and (kinds.get(c.source_table, "table") != "table" or table_ok(c.source_table))
            and c.source_table not in rename
        ],
    )


def resolve_name(name: str, known: Collection[str]) -> tuple[str, str | None]:
    """``main.orders`` / ``orders`` / ``main.orders.amount`` / ``orders.amount`` →
    (table, column or None), using the catalog's names to tell the two-part forms apart."""
    parts = [p.strip().strip('"').lower() for p in name.strip().split(".")]
    if not name.strip() or not all(parts):
        raise DapError(f"invalid name {name!r}: use TABLE, SCHEMA.TABLE or SCHEMA.TABLE.COLUMN")
    if len(parts) == 3:
        return table_name(".".join(parts[:2])), parts[2]
    if len(parts) == 2:
        as_table = table_name(".".join(parts))
        if as_table not in known and f"{DEFAULT_SCHEMA}.{parts[0]}" in known:
            return f"{DEFAULT_SCHEMA}.{parts[0]}", parts[1]
        return as_table, None
    if len(parts) == 1:
        return table_name(parts[0]), None
    raise DapError(f"invalid name {name!r}: use TABLE, SCHEMA.TABLE or SCHEMA.TABLE.COLUMN")


def session_graph(session: Session, name: str, *, depth: int = 5) -> LineageGraph:
    """The governed graph around ``name`` (a table or ``table.column``) for this session."""
    governed = session.governed_catalog
    with session.workspace.policy.pinned():
        # Only names the caller may read tell the two-part forms apart and fill "did you mean".
        known = {n for n in governed.catalog.known_names() if session.check("SELECT", n).allowed}
    table, column = resolve_name(name, known)
    info = governed.find(table)  # UnknownTable, suggesting only readable tables
    decision = session.check("SELECT", info.qualified_name)
    if not decision.allowed:
        raise QueryRefused(decision.reason)
    if column is not None and info.columns and column not in {c.name.lower() for c in info.columns}:
        raise UnknownTable(f"{info.qualified_name} has no column {column}")
    graph = LineageStore(session.workspace.meta).graph(
        info.qualified_name, column, depth=min(max(depth, 0), 50)
    )
    policy = session.workspace.policy
    with policy.pinned():
        return governed_graph(graph, lambda t: session.check("SELECT", t).allowed)


def lineage(name: str, *, depth: int = 5, session: LineageReader | None = None) -> LineageGraph:
    """``dap.lineage("main.orders")`` or ``dap.lineage("main.orders.amount")``: the graph of
    what a table (or column) is made from and what is made from it, as the caller may see it."""
    if session is None or isinstance(session, LineageReader):  # a client, here or remote
        client: LineageReader = default_client() if session is None else session
        return client.lineage(name, depth=depth)
    return session_graph(session, name, depth=depth)  # a session of this process
