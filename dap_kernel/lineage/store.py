"""The lineage graph in the metadata database: recorded per process, walked per request."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, tuple_

from ..errors import DapError
from ..meta.models import CatalogTable, utcnow
from .edges import _assemble, _dedupe, _Edge, _reach, _utc
from .graph import LineageGraph
from .names import CATALOG_PROCESS, ColumnEdge, _clean_url, classify_source, table_name
from .rows import LineageColumnEdgeRow, LineageEdgeRow

if TYPE_CHECKING:
    from ..meta import MetaStore

_DATABASE_KINDS = ("sqlite", "postgres")  # catalog kinds whose location is a database URL


class LineageStore:
    """The lineage graph in the metadata database."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    def record(
        self,
        target: str,
        sources: Iterable[str],
        columns: Iterable[ColumnEdge] = (),
        *,
        process: str,
        run_id: str | None = None,
    ) -> None:
        """``target`` is now made from ``sources`` by ``process``: what that process recorded
        for ``target`` before is replaced (in one transaction), so re-runs never duplicate."""
        target = table_name(target)
        if not process.strip():
            raise DapError("lineage needs the process that made the table (pipeline:NAME, …)")
        columns = list(columns)
        kinds: dict[str, str] = {}
        for source in [*sources, *(c.source_table for c in columns)]:
            kind, name = classify_source(source)
            if name != target or kind != "table":
                kinds.setdefault(name, kind)
        now = utcnow()
        with self.meta.session() as s:
            s.execute(
                delete(LineageEdgeRow).where(
                    LineageEdgeRow.target == target, LineageEdgeRow.process == process
                )
            )
            s.execute(
                delete(LineageColumnEdgeRow).where(
                    LineageColumnEdgeRow.target_table == target,
                    LineageColumnEdgeRow.process == process,
                )
            )
            for name, kind in kinds.items():
                s.add(
                    LineageEdgeRow(
                        source=name,
                        source_kind=kind,
                        target=target,
                        process=process,
                        run_id=run_id,
                        recorded_at=now,
                    )
                )
            seen: set[tuple[str, str, str]] = set()
            for c in columns:
                source = classify_source(c.source_table)[1]
                key = (source, c.source_column.lower(), c.target_column.lower())
                if key in seen:
                    continue
                seen.add(key)
                s.add(
                    LineageColumnEdgeRow(
                        source_table=source,
                        source_column=key[1],
                        target_table=target,
                        target_column=key[2],
                        process=process,
                        run_id=run_id,
                        recorded_at=now,
                    )
                )

    def forget(self, table: str) -> int:
        """Remove every edge into ``table`` (it was dropped); returns how many went."""
        target = table_name(table)
        with self.meta.session() as s:
            gone = s.execute(delete(LineageEdgeRow).where(LineageEdgeRow.target == target))
            s.execute(
                delete(LineageColumnEdgeRow).where(LineageColumnEdgeRow.target_table == target)
            )
            return int(getattr(gone, "rowcount", 0) or 0)

    def graph(self, table: str, column: str | None = None, *, depth: int = 5) -> LineageGraph:
        """The graph around ``table`` (or one of its columns), ``depth`` edges each way.

        Registered file and database tables get their location as an upstream node. A name
        nothing is known about gives a graph of just that node.
        """
        depth = max(0, int(depth))
        kind, root = classify_source(table)
        if column is not None:
            if kind != "table":
                raise DapError(f"column lineage needs a table, not the {kind} {root}")
            return self._column_graph(root, column.strip().lower(), depth)
        with self.meta.session() as s:
            up = self._walk_tables(s, root, depth, upstream=True)
            down = self._walk_tables(s, root, depth, upstream=False)
            tables = {root} | {e.source for e in up} | {e.target for e in up + down}
            column_rows = s.execute(
                select(LineageColumnEdgeRow).where(LineageColumnEdgeRow.target_table.in_(tables))
            ).scalars()
            columns = sorted(
                {
                    ColumnEdge(r.source_table, r.source_column, r.target_table, r.target_column)
                    for r in column_rows
                },
                key=lambda c: (c.target_table, c.target_column, c.source_table, c.source_column),
            )
            source_kinds = self._kinds(s, up + down)
        return _assemble(root, kind, up, down, source_kinds, columns)

    # -- walking ----------------------------------------------------------------------------

    def _walk_tables(self, s: Any, root: str, depth: int, *, upstream: bool) -> list[_Edge]:
        """Breadth first, one query per level (plus one for catalog sources going up)."""
        found: list[_Edge] = []
        seen = {root}
        frontier = {root}
        for _ in range(depth):
            if not frontier:
                break
            level: list[_Edge] = []
            if upstream:
                rows = s.execute(
                    select(LineageEdgeRow).where(LineageEdgeRow.target.in_(frontier))
                ).scalars()
                level += [_Edge.of(r) for r in rows]
                level += _catalog_edges(s, frontier)
                nxt = {e.source for e in level if e.source_kind == "table"}
            else:
                rows = s.execute(
                    select(LineageEdgeRow).where(LineageEdgeRow.source.in_(frontier))
                ).scalars()
                level += [_Edge.of(r) for r in rows]
                level += _catalog_edges(s, frontier, by_location=True)
                nxt = {e.target for e in level}
            found += level
            frontier = nxt - seen
            seen |= nxt
        return _dedupe(found)

    def _kinds(self, s: Any, edges: Sequence[_Edge]) -> dict[str, str]:
        kinds = {e.source: e.source_kind for e in edges}
        for e in edges:
            kinds.setdefault(e.target, "table")
        return kinds

    def _column_graph(self, table: str, column: str, depth: int) -> LineageGraph:
        root = (table, column)
        with self.meta.session() as s:
            up = self._walk_columns(s, root, depth, upstream=True)
            down = self._walk_columns(s, root, depth, upstream=False)
            kinds = {
                r.source: r.source_kind
                for r in s.execute(
                    select(LineageEdgeRow.source, LineageEdgeRow.source_kind).where(
                        LineageEdgeRow.source.in_({c.source_table for c in up})
                    )
                )
            }
            # A registered file or database table: its location feeds every column.
            tables = {table} | {
                c.source_table for c in up if kinds.get(c.source_table, "table") == "table"
            }
            located = _catalog_edges(s, tables)
        edges: list[_Edge] = []
        for c in [*up, *down]:
            source_kind = kinds.get(c.source_table, "table")
            source = (
                f"{c.source_table}.{c.source_column}" if source_kind == "table" else c.source_table
            )
            edges.append(
                _Edge(
                    source,
                    "column" if source_kind == "table" else source_kind,
                    f"{c.target_table}.{c.target_column}",
                    c.process,
                    c.run_id,
                    _utc(c.recorded_at),
                )
            )
        columns_seen = {f"{table}.{column}"} | {e.source for e in edges} | {e.target for e in edges}
        for e in located:
            for name in sorted(columns_seen):
                if name.rsplit(".", 1)[0] == e.target and not any(x.target == name for x in edges):
                    edges.append(_Edge(e.source, e.source_kind, name, e.process, None, None))
        up_names = _reach(f"{table}.{column}", edges, upstream=True)
        kinds_by_name = {e.source: e.source_kind for e in edges}
        up_edges = [e for e in edges if e.target in up_names or e.target == f"{table}.{column}"]
        down_edges = [e for e in edges if e not in up_edges]
        graph = _assemble(
            f"{table}.{column}",
            "column",
            up_edges,
            down_edges,
            {**{n: "column" for n in columns_seen}, **kinds_by_name},
            sorted(
                {
                    ColumnEdge(c.source_table, c.source_column, c.target_table, c.target_column)
                    for c in [*up, *down]
                },
                key=lambda c: (c.target_table, c.target_column, c.source_table, c.source_column),
            ),
        )
        return graph

    def _walk_columns(
        self, s: Any, root: tuple[str, str], depth: int, *, upstream: bool
    ) -> list[LineageColumnEdgeRow]:
        found: dict[int, LineageColumnEdgeRow] = {}
        seen = {root}
        frontier = {root}
        table, column = (
            (LineageColumnEdgeRow.target_table, LineageColumnEdgeRow.target_column)
            if upstream
            else (LineageColumnEdgeRow.source_table, LineageColumnEdgeRow.source_column)
        )
        for _ in range(depth):
            if not frontier:
                break
            rows = list(
                s.execute(
                    select(LineageColumnEdgeRow).where(tuple_(table, column).in_(list(frontier)))
                ).scalars()
            )
            nxt: set[tuple[str, str]] = set()
            for r in rows:
                found.setdefault(r.id, r)
                nxt.add(
                    (r.source_table, r.source_column)
                    if upstream
                    else (r.target_table, r.target_column)
                )
            frontier = nxt - seen
            seen |= nxt
        return list(found.values())


def _catalog_edges(s: Any, names: Collection[str], *, by_location: bool = False) -> list[_Edge]:
    """Edges from a registered file or database to its catalog table (the ``catalog`` process).

    Going up, ``names`` are tables; going down, they are locations.
    """
    tables = [n for n in names if "." in n and "/" not in n]
    if by_location:
        where = CatalogTable.location.in_(list(names))
    else:
        if not tables:
            return []
        pairs = [tuple(n.split(".", 1)) for n in tables]
        where = tuple_(CatalogTable.schema_name, CatalogTable.name).in_(pairs)
    rows = s.execute(
        select(
            CatalogTable.schema_name, CatalogTable.name, CatalogTable.kind, CatalogTable.location
        ).where(where, CatalogTable.kind != "delta")
    ).all()
    edges = []
    for schema, name, kind, location in rows:
        is_db = kind in _DATABASE_KINDS
        source = _clean_url(location) if is_db else location
        edges.append(
            _Edge(
                source,
                "database" if is_db else "file",
                f"{schema}.{name}",
                CATALOG_PROCESS,
                None,
                None,
            )
        )
    return edges
