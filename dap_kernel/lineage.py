"""Table- and column-level lineage: worked out from SQL, stored as a graph, emitted as OpenLineage.

Who made a table from what is recorded by the process that did it (``pipeline:NAME``,
``sql:<user>``, ``ingest:<file>`` …); a re-run of the same process replaces its edges, so the
graph never piles up duplicates. Sources that are not catalog tables (files, database URLs, API
URLs) are nodes too, with passwords and query strings removed from their names.

Governance: :func:`lineage` (``dap.lineage("main.orders")``, ``dap lineage``, ``%dap lineage``,
REST ``lineage/{table}``) needs SELECT on the table asked about; every other table the caller
may not read is shown as a ``(restricted)`` node, so the shape of the flow stays visible while
the name does not. A file or URL is shown only if it feeds a table the caller may read.
A name that is not in the catalog is an :class:`~dap_kernel.errors.UnknownTable` there;
:meth:`LineageStore.graph`, below governance, answers it with a graph of just that node.
"""

from __future__ import annotations

import html
import json
import logging
import re
import socket
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import sqlglot
from sqlalchemy import DateTime, Index, Integer, String, Text, delete, select, tuple_
from sqlalchemy.orm import Mapped, mapped_column
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from ._modules import callable_module
from .errors import DapError, QueryRefused, SqlSyntaxError, UnknownTable
from .meta.models import Base, CatalogTable, utcnow
from .meta.store import redact_url

if TYPE_CHECKING:
    from .client import DapClient
    from .meta import MetaStore
    from .session import Session
    from .settings import Settings

log = logging.getLogger(__name__)

NODE_KINDS = ("table", "file", "database", "api", "column", "restricted")
RESTRICTED = "(restricted)"
CATALOG_PROCESS = "catalog"  # the edge from a registered file/database to its catalog table
DEFAULT_SCHEMA = "main"
_INPUT_SCHEMA = "__dap_input__"  # marks a statement's plain input names while it is qualified
_FILE_EXTENSIONS = {
    "csv",
    "tsv",
    "txt",
    "parquet",
    "pq",
    "json",
    "ndjson",
    "jsonl",
    "xlsx",
    "xls",
    "gz",
    "zst",
    "avro",
    "orc",
}
_DATABASE_KINDS = ("sqlite", "postgres")  # catalog kinds whose location is a database URL
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"


# -- names -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnEdge:
    """``target_table.target_column`` is computed from ``source_table.source_column``."""

    source_table: str
    source_column: str
    target_table: str
    target_column: str


def table_name(name: str) -> str:
    """``Orders`` → ``main.orders``; ``tpch.LineItem`` → ``tpch.lineitem``."""
    parts = [p.strip().strip('"') for p in name.strip().split(".")]
    if len(parts) == 1:
        parts = [DEFAULT_SCHEMA, parts[0]]
    if len(parts) != 2 or not all(re.fullmatch(_IDENT, p) for p in parts):
        raise DapError(f"invalid table name {name!r}: use TABLE or SCHEMA.TABLE")
    return ".".join(parts).lower()


def classify_source(name: str) -> tuple[str, str]:
    """(kind, node name) of a lineage source: a catalog table, a file, a database or an API.

    URLs lose their user information, query string and fragment (where keys and tokens hide);
    a ``kind:`` prefix (``file:orders.csv``) forces the kind.
    """
    text = name.strip()
    forced = re.match(r"^(table|file|database|api):(?!//)(.+)$", text)
    if forced:
        kind, rest = forced.group(1), forced.group(2).strip()
        if kind == "table":
            return "table", table_name(rest)
        return kind, _clean_url(rest) if "://" in rest else rest
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme == "file":
            return "file", urlsplit(text).path
        return ("api" if scheme in ("http", "https") else "database"), _clean_url(text)
    last = text.rsplit(".", 1)[-1].lower()
    if re.fullmatch(rf"{_IDENT}(\.{_IDENT})?", text) and last not in _FILE_EXTENSIONS:
        return "table", table_name(text)
    return "file", text


def _clean_url(url: str) -> str:
    parts = urlsplit(redact_url(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# -- SQL → lineage -----------------------------------------------------------------------------


def sql_lineage(
    sql: str,
    target: str,
    *,
    schemas: Mapping[str, Mapping[str, str]] | None = None,
    dialect: str = "duckdb",
    inputs: Mapping[str, str] | None = None,
) -> tuple[list[str], list[ColumnEdge]]:
    """Source tables and column edges of ``SELECT``, ``CREATE TABLE … AS`` or ``INSERT … SELECT``.

    ``schemas`` maps ``schema.table`` to ``{column: type}``: with it ``SELECT *`` expands and
    unqualified columns of joins resolve. ``inputs`` maps plain names that stand for something
    else (a pipeline's batch, ``FROM input``) to the source recorded instead (``/data/x.csv``);
    every other unqualified table is in schema ``main``.
    """
    from sqlglot.lineage import lineage as column_lineage
    from sqlglot.optimizer import qualify
    from sqlglot.optimizer.scope import build_scope
    from sqlglot.schema import ensure_schema

    target = table_name(target)
    inputs = {k.lower(): v for k, v in (inputs or {}).items()}
    statement = _parse_one(sql, dialect)
    query, insert_columns = _query_of(statement)
    if query is None:
        return [], []
    _mark_inputs(query, inputs)
    schema = ensure_schema(_nested_schema(schemas, inputs), dialect=dialect)
    try:
        qualified = qualify.qualify(
            query,
            dialect=dialect,
            schema=schema,
            db=DEFAULT_SCHEMA,
            validate_qualify_columns=False,
            identify=False,
        )
        scope = build_scope(qualified)
        if scope is None:
            return [], []
        sources = _scope_tables(scope, inputs)
        nodes = column_lineage(None, qualified, schema, dialect=dialect, scope=scope)
    except SqlglotError as e:
        raise SqlSyntaxError(f"cannot work out the lineage of this SQL: {_first_line(e)}") from e
    names = list(nodes)
    if insert_columns is None and isinstance(statement, exp.Insert) and schemas:
        known = {table_name(k): list(v) for k, v in schemas.items() if "." in k or k}
        insert_columns = known.get(target)
    edges: list[ColumnEdge] = []
    seen: set[ColumnEdge] = set()
    for position, name in enumerate(names):
        if name == "*":
            continue  # an unexpanded star: the table edges say it all
        out = name
        if insert_columns is not None:
            if position >= len(insert_columns):
                break
            out = insert_columns[position]
        for node in nodes[name].walk():
            if not isinstance(node.expression, exp.Table):
                continue
            column = node.name.rsplit(".", 1)[-1]
            if column == "*":
                continue
            source = _table_source(node.expression, inputs)
            edge = ColumnEdge(source, column.lower(), target, out.lower())
            if edge not in seen:
                seen.add(edge)
                edges.append(edge)
    return sources, edges


def _parse_one(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as e:
        raise SqlSyntaxError(f"cannot read the SQL for its lineage: {_first_line(e)}") from e
    if len(statements) != 1:
        raise DapError(f"lineage needs exactly one statement, got {len(statements)}")
    return statements[0]


def _query_of(statement: exp.Expr) -> tuple[exp.Expr | None, list[str] | None]:
    """The query that produces the rows, and the INSERT's column list if it has one."""
    if isinstance(statement, exp.Query):
        return statement, None
    if isinstance(statement, (exp.Create, exp.Insert)):
        query = statement.expression
        if not isinstance(query, exp.Query):
            return None, None  # CREATE TABLE t (a int), INSERT … VALUES: nothing flows in
        with_ = statement.args.get("with_") or statement.args.get("with")
        if isinstance(with_, exp.With) and not query.args.get("with_"):
            query.set("with_", with_)  # WITH c AS (…) INSERT INTO t SELECT … FROM c
        columns = None
        if isinstance(statement, exp.Insert) and isinstance(statement.this, exp.Schema):
            columns = [c.name for c in statement.this.expressions]
        return query, columns
    kind = type(statement).__name__.upper()
    raise DapError(f"lineage is worked out for SELECT, CREATE TABLE AS and INSERT, not {kind}")


def _mark_inputs(query: exp.Expr, inputs: Mapping[str, str]) -> None:
    if not inputs:
        return
    ctes = {c.alias_or_name.lower() for c in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        name = table.name.lower()
        if not table.args.get("db") and name in inputs and name not in ctes:
            table.set("db", exp.to_identifier(_INPUT_SCHEMA))


def _nested_schema(
    schemas: Mapping[str, Mapping[str, str]] | None, inputs: Mapping[str, str]
) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, columns in (schemas or {}).items():
        plain = name.strip().lower()
        if plain in inputs:
            schema, table = _INPUT_SCHEMA, plain
        else:
            schema, table = table_name(name).split(".")
        nested.setdefault(schema, {})[table] = {c.lower(): _type(t) for c, t in columns.items()}
    return nested


def _type(text: str) -> str:
    """A column type sqlglot can read (lineage does not need the exact one)."""
    try:
        exp.DataType.build(text, dialect="duckdb")
    except (ParseError, ValueError, SqlglotError):
        return "UNKNOWN"
    return text


def _scope_tables(scope: Any, inputs: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for child in scope.traverse():
        for source in child.sources.values():
            if isinstance(source, exp.Table) and source.name:
                name = _table_source(source, inputs)
                if name not in found:
                    found.append(name)
    return found


def _table_source(table: exp.Table, inputs: Mapping[str, str]) -> str:
    db = (table.db or DEFAULT_SCHEMA).lower()
    if db == _INPUT_SCHEMA.lower():
        return inputs[table.name.lower()]
    return f"{db}.{table.name.lower()}"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


# -- the stored graph --------------------------------------------------------------------------


class LineageEdgeRow(Base):
    """``target`` (a catalog table) was made from ``source`` by ``process``."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        Index("ix_lineage_edges_target_process", "target", "process"),
        Index("ix_lineage_edges_source", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(20))  # table | file | database | api
    target: Mapped[str] = mapped_column(String(400))
    process: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LineageColumnEdgeRow(Base):
    """``target_table.target_column`` was computed from ``source_table.source_column``."""

    __tablename__ = "lineage_column_edges"
    __table_args__ = (
        Index("ix_lineage_column_edges_target", "target_table", "target_column", "process"),
        Index("ix_lineage_column_edges_source", "source_table", "source_column"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_table: Mapped[str] = mapped_column(Text)
    source_column: Mapped[str] = mapped_column(String(300))
    target_table: Mapped[str] = mapped_column(String(400))
    target_column: Mapped[str] = mapped_column(String(300))
    process: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
        kinds = {n.name: n.kind for n in self.nodes}

        def label(name: str) -> str:
            kind = kinds.get(name, "table")
            return f"{kind} {name}" if kind in ("file", "database", "api") else name

        lines = [self.root, "upstream:"]
        for node in self.upstream:
            if node.kind in ("file", "database", "api") and self.root not in self._targets(node):
                continue  # shown after the ← of the table it feeds
            sources = self.sources_of(node.name)
            arrow = f" ← {', '.join(label(s) for s in sources)}" if sources else ""
            lines.append(f"  {label(node.name)}{arrow}")
        if not self.upstream:
            lines.append("  (none)")
        lines.append("downstream:")
        for node in self.downstream:
            via = [s for s in self.sources_of(node.name) if s != self.root]
            arrow = f" ← {', '.join(label(s) for s in via)}" if via else ""
            lines.append(f"  {label(node.name)}{arrow}")
        if not self.downstream:
            lines.append("  (none)")
        return "\n".join(lines)

    def _targets(self, node: LineageNode) -> list[str]:
        return [e.target for e in self.edges if e.source == node.name]

    def to_dot(self) -> str:
        shapes = {"table": "box", "column": "box", "file": "note", "database": "cylinder"}
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node in self.nodes:
            style = ', style="bold"' if node.name == self.root else ""
            shape = shapes.get(node.kind, "ellipse")
            lines.append(f"  {json.dumps(node.name)} [shape={shape}{style}];")
        for edge in self.edges:
            label = f" [label={json.dumps(edge.process)}]" if edge.process else ""
            lines.append(f"  {json.dumps(edge.source)} -> {json.dumps(edge.target)}{label};")
        lines.append("}")
        return "\n".join(lines)

    def to_svg(self) -> str:
        return render_svg(self)

    def _repr_html_(self) -> str:
        return f'<div class="dap-lineage">{render_svg(self)}</div>'

    def __repr__(self) -> str:
        return (
            f"LineageGraph({self.root}: {len(self.upstream)} upstream, "
            f"{len(self.downstream)} downstream)"
        )


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


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


# -- governance --------------------------------------------------------------------------------


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
    catalog = session.workspace.catalog
    table, column = resolve_name(name, catalog.known_names())
    info = catalog.get(table)  # UnknownTable, with a did-you-mean, if it is not there
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


def lineage(name: str, *, depth: int = 5, session: DapClient | None = None) -> LineageGraph:
    """``dap.lineage("main.orders")`` or ``dap.lineage("main.orders.amount")``: the graph of
    what a table (or column) is made from and what is made from it, as the caller may see it."""
    from .session import Session

    if session is None:
        from .client import connect

        session = connect()
    if isinstance(session, Session):
        return session_graph(session, name, depth=depth)
    return _remote_graph(session, name, depth)


def _remote_graph(session: DapClient, name: str, depth: int) -> LineageGraph:
    """Through the DAP service's ``lineage/{table}`` (which applies the same governance)."""
    from urllib.parse import quote

    from .transport import HttpSession

    if not isinstance(session, HttpSession):
        raise DapError("lineage needs a DAP session")
    parts = name.strip().split(".")
    table, column = (".".join(parts[:2]), parts[2]) if len(parts) == 3 else (name.strip(), None)
    params: dict[str, Any] = {"depth": depth}
    if column:
        params["column"] = column
    data = session._json("GET", f"lineage/{quote(table, safe='')}", params=params) or {}
    return LineageGraph.from_dict(data)


# -- drawing -----------------------------------------------------------------------------------

_COLOURS = {
    "table": ("#e8f1fb", "#3b78c2"),
    "column": ("#eef7ee", "#3f8f4f"),
    "file": ("#fdf3e1", "#c2862b"),
    "database": ("#f3e9f7", "#8a4fa8"),
    "api": ("#e6f6f6", "#2b8f8f"),
    "restricted": ("#eeeeee", "#999999"),
}


def render_svg(graph: LineageGraph) -> str:
    """A layered drawing: sources on the left, the root in the middle, what it feeds on the
    right (no Graphviz needed). Each node sits in the column of its distance from the root."""
    layer = _layers(graph)
    columns: dict[int, list[str]] = {}
    for name, index in layer.items():
        columns.setdefault(index, []).append(name)
    kinds = {n.name: n.kind for n in graph.nodes}
    char_w, node_h, gap_x, gap_y, pad = 7.2, 34, 70, 18, 16
    widths = {
        index: max(120, max(int(len(n) * char_w) + 24 for n in names))
        for index, names in columns.items()
    }
    order = sorted(columns)
    x_of: dict[int, float] = {}
    x = pad
    for index in order:
        x_of[index] = x
        x += widths[index] + gap_x
    width = int(x - gap_x + pad)
    rows = max(len(names) for names in columns.values())
    height = int(rows * (node_h + gap_y) - gap_y + 2 * pad + 18)
    pos: dict[str, tuple[float, float, float]] = {}
    for index in order:
        names = sorted(columns[index], key=lambda n: (kinds.get(n, ""), n))
        top = (height - 18 - len(names) * (node_h + gap_y) + gap_y) / 2 + 18
        for i, name in enumerate(names):
            pos[name] = (x_of[index], top + i * (node_h + gap_y), widths[index])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dap-lineage-svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        'font-size="12">',
        '<defs><marker id="dap-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>',
        f'<text x="{pad}" y="{pad}" fill="#555">lineage of {html.escape(graph.root)}: '
        f"{len(graph.upstream)} upstream, {len(graph.downstream)} downstream</text>",
    ]
    for e in graph.edges:
        if e.source not in pos or e.target not in pos:
            continue
        sx, sy, sw = pos[e.source]
        tx, ty, _ = pos[e.target]
        x1, y1, x2, y2 = sx + sw, sy + node_h / 2, tx, ty + node_h / 2
        if x2 <= x1:  # a cycle or a same-layer edge: go round below
            x1, x2 = sx + sw / 2, tx + pos[e.target][2] / 2
            y1, y2 = sy + node_h, ty + node_h
            path = f"M {x1} {y1} C {x1} {y1 + 40}, {x2} {y2 + 40}, {x2} {y2}"
        else:
            mid = (x1 + x2) / 2
            path = f"M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}"
        title = html.escape(f"{e.source} → {e.target} ({e.process})")
        out.append(
            f'<path class="dap-lineage-link" d="{path}" fill="none" stroke="#999" '
            f'stroke-width="1.4" marker-end="url(#dap-arrow)"><title>{title}</title></path>'
        )
    for name, (nx, ny, nw) in pos.items():
        kind = kinds.get(name, "table")
        fill, stroke = _COLOURS.get(kind, _COLOURS["table"])
        bold = ' stroke-width="2.5"' if name == graph.root else ' stroke-width="1.2"'
        label = html.escape(name)
        out.append(
            f'<g class="dap-lineage-node" data-name="{label}" data-kind="{kind}">'
            f'<rect x="{nx}" y="{ny}" width="{nw}" height="{node_h}" rx="6" fill="{fill}" '
            f'stroke="{stroke}"{bold}/>'
            f'<text x="{nx + 10}" y="{ny + 15}" fill="#222">{label}</text>'
            f'<text x="{nx + 10}" y="{ny + 28}" fill="{stroke}" font-size="10">{kind}</text>'
            f"<title>{html.escape(kind)} {label}</title></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _layers(graph: LineageGraph) -> dict[str, int]:
    """Distance from the root: negative upstream, positive downstream (longest path, capped)."""
    layer = {graph.root: 0}
    up = {n.name for n in graph.upstream}
    down = {n.name for n in graph.downstream}
    limit = len(graph.nodes) + 1
    for _ in range(limit):
        changed = False
        for e in graph.edges:
            if e.source in up and e.target in layer and layer[e.target] <= 0:
                want = layer[e.target] - 1
                if want < layer.get(e.source, 1) and want >= -limit:
                    layer[e.source] = want
                    changed = True
            if e.target in down and e.source in layer and layer[e.source] >= 0:
                want = layer[e.source] + 1
                if want > layer.get(e.target, -1) and want <= limit:
                    layer[e.target] = want
                    changed = True
        if not changed:
            break
    for n in graph.nodes:  # anything else (a side source of a downstream table)
        if n.name not in layer:
            feeds = [
                layer[e.target] for e in graph.edges if e.source == n.name and e.target in layer
            ]
            layer[n.name] = min(feeds) - 1 if feeds else 0
    return layer


# -- OpenLineage -------------------------------------------------------------------------------

_STATES = {
    "start": "START",
    "started": "START",
    "running": "RUNNING",
    "complete": "COMPLETE",
    "completed": "COMPLETE",
    "success": "COMPLETE",
    "succeeded": "COMPLETE",
    "ok": "COMPLETE",
    "fail": "FAIL",
    "failed": "FAIL",
    "error": "FAIL",
    "abort": "ABORT",
    "aborted": "ABORT",
    "cancelled": "ABORT",
    "other": "OTHER",
}
PRODUCER = "https://github.com/dap/dap"


def namespace(settings: Settings) -> str:
    """``dap://<host><home>``: one OpenLineage namespace per DAP home."""
    home = str(Path(settings.home).expanduser())
    return f"dap://{socket.gethostname().lower() or 'localhost'}{home}"


def _dataset(settings: Settings, source: str) -> tuple[str, str]:
    """(namespace, name) of a source, after OpenLineage's naming conventions."""
    kind, name = classify_source(source)
    if kind == "table":
        return namespace(settings), name
    if kind == "file":
        return "file", str(Path(name).expanduser())
    parts = urlsplit(name)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/"


def _run_uuid(run_id: str) -> str:
    """OpenLineage wants a UUID: DAP's own ids map onto one, the same id onto the same UUID."""
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dap-run:{run_id}"))


def run_event(
    settings: Settings,
    job: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    run_id: str,
    state: str,
    *,
    column_lineage: Sequence[ColumnEdge] | None = None,
    error: str | None = None,
    event_time: datetime | None = None,
) -> Any:
    """The ``openlineage.client.event_v2.RunEvent`` for one state of one run."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.event_v2 import RunState as EventType
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import error_message_run

    event_type = _STATES.get(state.strip().lower(), state.strip().upper())
    if event_type not in EventType.__members__:
        raise DapError(f"unknown run state {state!r}: use START, RUNNING, COMPLETE, FAIL or ABORT")
    run_facets: dict[str, Any] = {}
    if error:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error.splitlines()[0][:2000] if error.strip() else error,
            programmingLanguage="python",
            producer=PRODUCER,
        )
    by_target: dict[str, list[ColumnEdge]] = {}
    for c in column_lineage or ():
        by_target.setdefault(classify_source(c.target_table)[1], []).append(c)
    input_sets = [InputDataset(*_dataset(settings, s)) for s in _unique(inputs)]
    output_sets = []
    for target in _unique(outputs):
        ns, name = _dataset(settings, target)
        facets: dict[str, Any] = {}
        edges = by_target.get(classify_source(target)[1], [])
        if edges:
            fields: dict[str, list[Any]] = {}
            for c in edges:
                source_ns, source_name = _dataset(settings, c.source_table)
                fields.setdefault(c.target_column, []).append(
                    cl.InputField(namespace=source_ns, name=source_name, field=c.source_column)
                )
            facets["columnLineage"] = cl.ColumnLineageDatasetFacet(
                fields={k: cl.Fields(inputFields=v) for k, v in fields.items()},
                producer=PRODUCER,
            )
        output_sets.append(OutputDataset(ns, name, facets=facets))
    return RunEvent(
        eventType=EventType[event_type],
        eventTime=(event_time or datetime.now(UTC)).isoformat(),
        run=Run(runId=_run_uuid(run_id), facets=run_facets),
        job=Job(namespace=namespace(settings), name=job),
        producer=PRODUCER,
        inputs=input_sets,
        outputs=output_sets,
    )


def emit_run(
    settings: Settings,
    job: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    run_id: str,
    state: str,
    *,
    column_lineage: Sequence[ColumnEdge] | None = None,
    error: str | None = None,
) -> dict[str, Any] | None:
    """Send one OpenLineage run event to ``settings.openlineage_file`` (one JSON line appended)
    and/or ``settings.openlineage_url``; returns the event as a dict, or None when neither is
    set. Sending never fails the caller: a failure is logged as a warning."""
    if not (settings.openlineage_file or settings.openlineage_url):
        return None
    from openlineage.client.serde import Serde

    try:
        event = run_event(
            settings,
            job,
            inputs,
            outputs,
            run_id,
            state,
            column_lineage=column_lineage,
            error=error,
        )
        text = Serde.to_json(event)
    except Exception as e:  # lineage must never break the run it describes
        log.warning("OpenLineage event for %s not built: %s", job, _first_line(e))
        return None
    if settings.openlineage_file:
        _send_file(settings.openlineage_file, event)
    if settings.openlineage_url:
        _send_http(settings.openlineage_url, event)
    result: dict[str, Any] = json.loads(text)
    return result


def _send_file(path: str, event: Any) -> None:
    from openlineage.client.transport.file import FileConfig, FileTransport

    try:
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        FileTransport(FileConfig(log_file_path=str(target), append=True)).emit(event)
    except Exception as e:
        log.warning("OpenLineage event not written to %s: %s", path, _first_line(e))


def _send_http(url: str, event: Any) -> None:
    from openlineage.client.transport.http import HttpConfig, HttpTransport
    from openlineage.client.transport.http_common import DEFAULT_RETRY_CONFIG

    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
    endpoint = parts.path.lstrip("/") or "api/v1/lineage"  # Marquez's path when none is given
    if parts.query:
        endpoint += f"?{parts.query}"
    retry = {**DEFAULT_RETRY_CONFIG, "total": 2, "read": 2, "connect": 2, "backoff_factor": 0.2}
    transport = None
    try:
        transport = HttpTransport(HttpConfig(url=base, endpoint=endpoint, timeout=5.0, retry=retry))
        transport.emit(event)
    except Exception as e:
        log.warning("OpenLineage event not sent to %s: %s", _clean_url(url), type(e).__name__)
    finally:
        if transport is not None:
            transport.close()


def record_sql(
    session: Session,
    sql: str,
    target: str,
    *,
    run_id: str | None = None,
    process: str | None = None,
) -> tuple[list[str], list[ColumnEdge]]:
    """Record (and emit) the lineage of ``CREATE TABLE target AS …`` / ``INSERT INTO target …``
    run through ``session``: the helper the session's write path calls after a commit."""
    ws = session.workspace
    known = ws.catalog.known_names()
    schemas: dict[str, dict[str, str]] = {}
    try:
        sources, _ = sql_lineage(sql, target)
        for name in sources:
            if name in known:
                schemas[name] = {c.name: c.data_type for c in ws.catalog.get(name).columns}
        if table_name(target) in known:
            schemas[table_name(target)] = {
                c.name: c.data_type for c in ws.catalog.get(target).columns
            }
        sources, columns = sql_lineage(sql, target, schemas=schemas)
    except Exception as e:  # lineage must never fail the statement it describes
        log.warning("no lineage for %s: %s", target, _first_line(e))
        return [], []
    process = process or f"sql:{session.principal.name}"
    run = run_id or uuid.uuid4().hex
    LineageStore(ws.meta).record(target, sources, columns, process=process, run_id=run)
    emit_run(
        ws.settings,
        process,
        sources,
        [table_name(target)],
        run,
        "COMPLETE",
        column_lineage=columns,
    )
    return sources, columns


__all__ = [
    "ColumnEdge",
    "LineageColumnEdgeRow",
    "LineageEdge",
    "LineageEdgeRow",
    "LineageGraph",
    "LineageNode",
    "LineageStore",
    "classify_source",
    "emit_run",
    "governed_graph",
    "lineage",
    "record_sql",
    "render_svg",
    "run_event",
    "session_graph",
    "sql_lineage",
    "table_name",
]

callable_module(__name__, lineage)
