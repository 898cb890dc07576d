"""Edges found by walking the store, and how they become a :class:`LineageGraph`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .graph import LineageEdge, LineageGraph, LineageNode
from .names import ColumnEdge, _unique
from .rows import LineageEdgeRow


@dataclass(frozen=True)
class _Edge:
    source: str
    source_kind: str
    target: str
    process: str
    run_id: str | None
    recorded_at: datetime | None

    @classmethod
    def of(cls, row: LineageEdgeRow) -> _Edge:
        return cls(
            row.source, row.source_kind, row.target, row.process, row.run_id, _utc(row.recorded_at)
        )


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive timestamps (stored as UTC).
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _dedupe(edges: Iterable[_Edge]) -> list[_Edge]:
    seen: dict[tuple[str, str, str], _Edge] = {}
    for e in edges:
        seen.setdefault((e.source, e.target, e.process), e)
    return list(seen.values())


def _reach(root: str, edges: Sequence[_Edge], *, upstream: bool) -> set[str]:
    """Names reachable from ``root`` going up (against the edges) or down (along them)."""
    seen: set[str] = set()
    frontier = {root}
    while frontier:
        nxt = set()
        for e in edges:
            here, there = (e.target, e.source) if upstream else (e.source, e.target)
            if here in frontier and there not in seen and there != root:
                nxt.add(there)
        seen |= nxt
        frontier = nxt
    return seen


def _assemble(
    root: str,
    kind: str,
    up: Sequence[_Edge],
    down: Sequence[_Edge],
    kinds: Mapping[str, str],
    columns: list[ColumnEdge],
) -> LineageGraph:
    edges = _dedupe([*up, *down])
    upstream_names = _ordered_reach(root, up, upstream=True)
    downstream_names = _ordered_reach(root, down, upstream=False)

    def node(name: str) -> LineageNode:
        return LineageNode(name, kinds.get(name, "column" if kind == "column" else "table"))

    names = _unique([*reversed(upstream_names), root, *downstream_names])
    for e in edges:
        names += [n for n in (e.source, e.target) if n not in names]
    return LineageGraph(
        root=root,
        kind=kind,
        nodes=[node(n) if n != root else LineageNode(root, kind) for n in names],
        edges=[LineageEdge(e.source, e.target, e.process, e.run_id, e.recorded_at) for e in edges],
        upstream=[node(n) for n in upstream_names],
        downstream=[node(n) for n in downstream_names],
        columns=columns,
    )


def _ordered_reach(root: str, edges: Sequence[_Edge], *, upstream: bool) -> list[str]:
    """Reachable names, nearest first (breadth-first order, then by name)."""
    order: list[str] = []
    seen = {root}
    frontier = [root]
    while frontier:
        nxt: list[str] = []
        for e in sorted(edges, key=lambda e: (e.source, e.target)):
            here, there = (e.target, e.source) if upstream else (e.source, e.target)
            if here in frontier and there not in seen:
                seen.add(there)
                nxt.append(there)
        order += nxt
        frontier = nxt
    return order
