"""The two SQL statements that write: ``CREATE TABLE … AS SELECT`` and ``INSERT INTO … SELECT``.

Everything else that writes stays refused (:func:`dap_kernel.governance.rewrite.refuse_writes`).
A write statement is split into its target and its SELECT; the SELECT then takes the governed
query path like any other, so a table made this way holds only what its writer may read.
:meth:`~dap_kernel.session.Session.query` hands such a statement to :func:`run_write`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl
import pyarrow as pa
from sqlglot import exp

from .catalog.store import Catalog
from .errors import DapError, QueryRefused, SchemaMismatch
from .governance.identity import Principal
from .governance.rewrite import parse_one_statement
from .lake import Lake, split_name
from .meta import MetaStore
from .results import QueryResult
from .settings import Settings

Params = Mapping[str, Any] | Sequence[Any] | None
Inputs = Mapping[str, pa.Table | pl.DataFrame] | None

_WRITE_START = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(create|insert)\b", re.I | re.S)


def is_write(sql: str) -> bool:
    """Does ``sql`` start (after comments) with CREATE or INSERT? Then it takes :func:`run_write`
    (which accepts only the two writes above and refuses every other CREATE or INSERT)."""
    return _WRITE_START.match(sql) is not None


@dataclass(frozen=True)
class Write:
    kind: str  # "create" or "insert"
    target: str  # schema.table
    select: str  # the query whose rows are written
    columns: tuple[str, ...] = ()  # INSERT INTO t (a, b) …
    replace: bool = False  # CREATE OR REPLACE
    if_not_exists: bool = False


def parse_write(sql: str) -> Write:
    tree = parse_one_statement(sql)
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        query = tree.expression
        if not isinstance(query, exp.Query):
            raise QueryRefused(
                "CREATE TABLE needs AS SELECT …: DAP makes tables from queries "
                "(or use dap ingest / the lake API)"
            )
        target = _target(tree.this)
        return Write(
            "create",
            target,
            query.sql(dialect="duckdb"),
            replace=bool(tree.args.get("replace")),
            if_not_exists=bool(tree.args.get("exists")),
        )
    if isinstance(tree, exp.Insert):
        source = tree.expression
        if isinstance(source, exp.Values):
            source = exp.select("*").from_(source.copy())
        if not isinstance(source, exp.Query):
            raise QueryRefused("INSERT needs a SELECT or VALUES")
        if tree.args.get("overwrite") or tree.args.get("conflict") or tree.args.get("returning"):
            raise QueryRefused("INSERT OR REPLACE / ON CONFLICT / RETURNING are not supported")
        columns: tuple[str, ...] = ()
        if isinstance(tree.this, exp.Schema):
            columns = tuple(c.name for c in tree.this.expressions)
        return Write("insert", _target(tree.this), source.sql(dialect="duckdb"), columns)
    kind = tree.key.upper() if tree.key else type(tree).__name__.upper()
    raise QueryRefused(
        f"{kind} statements are not allowed here: DAP runs queries (SELECT …), "
        "CREATE TABLE … AS SELECT and INSERT INTO … SELECT"
    )


def _target(node: exp.Expr) -> str:
    table = node.this if isinstance(node, exp.Schema) else node
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise QueryRefused("the target of a write must be a table name")
    if table.catalog:
        raise QueryRefused(f"three-part name {table.sql()} is not supported")
    schema, name = split_name(f"{table.db}.{table.name}" if table.db else table.name)
    return f"{schema}.{name}"


class _Workspace(Protocol):
    @property
    def catalog(self) -> Catalog: ...
    @property
    def lake(self) -> Lake: ...
    @property
    def meta(self) -> MetaStore: ...
    @property
    def settings(self) -> Settings: ...


class Writer(Protocol):
    """What a write needs of the session that runs it (the session calls this module, so it is
    named by what it offers rather than imported)."""

    @property
    def workspace(self) -> _Workspace: ...
    @property
    def principal(self) -> Principal: ...
    @property
    def catalog(self) -> Catalog: ...

    def require(self, action: str, securable: str) -> None: ...

    def query(
        self,
        sql: str,
        params: Params = None,
        *,
        query_id: str | None = None,
        timeout_s: float | None = None,
        inputs: Inputs = None,
        engine: str | None = None,
    ) -> QueryResult: ...

    def audit_statement(
        self,
        sql: str,
        tables: Sequence[str],
        decision: str,
        *,
        started: float,
        reason: str = "",
        rows: int | None = None,
        action: str = "query",
    ) -> None: ...


def run_write(
    session: Writer,
    sql: str,
    params: Params,
    *,
    query_id: str | None,
    timeout_s: float | None,
    inputs: Inputs,
    engine: str | None = None,
) -> QueryResult:
    """``CREATE [OR REPLACE] TABLE t AS SELECT …`` / ``INSERT INTO t [(cols)] SELECT …``.

    The SELECT runs through the governed path like any query (so the new table holds only
    what the writer may read); the result is written as one Delta commit, and lineage
    (tables and columns) is recorded. Nothing else that writes is accepted.
    """
    started = time.perf_counter()
    write = parse_write(sql)
    target = write.target
    catalog = session.catalog
    try:
        schema = split_name(target)[0]
        exists = target in catalog.known_names()
        if write.kind == "insert" or (exists and write.replace):
            session.require("MODIFY", target)
        if write.kind == "create":
            # Checked first: IF NOT EXISTS must not tell a caller without CREATE which
            # tables exist.
            session.require("CREATE", schema)
            if exists and write.if_not_exists:
                return _written(session, target, 0, query_id, started, (), write.select)
        result = session.query(
            write.select,
            params,
            query_id=query_id,
            timeout_s=timeout_s,
            inputs=inputs,
            engine=engine,
        )
        data = result.table
        if write.kind == "create":
            if write.columns:
                data = data.rename_columns(list(write.columns))
            catalog.create_table(target, data, owner=session.principal.name, replace=write.replace)
        else:
            catalog.write(target, conform(session.workspace.lake, target, data, write.columns))
    except DapError as e:
        session.audit_statement(
            sql,
            (target,),
            "refused" if isinstance(e, QueryRefused) else "failed",
            reason=f"{e.code}: {e.message}",
            started=started,
            action="write",
        )
        raise
    from .lineage.record import record_sql  # needs only the session's workspace and name

    record_sql(session, sql, target, run_id=result.query_id)
    return _written(session, target, data.num_rows, result.query_id, started, result.tables, sql)


def _written(
    session: Writer,
    target: str,
    rows: int,
    query_id: str | None,
    started: float,
    sources: tuple[str, ...],
    sql: str,
) -> QueryResult:
    qualified = "{}.{}".format(*split_name(target))
    session.audit_statement(
        sql, (qualified, *sources), "allowed", rows=rows, started=started, action="write"
    )
    version = session.catalog.get(qualified).version
    table = pa.table({"table": [qualified], "rows_written": [rows], "version": [version]})
    elapsed = (time.perf_counter() - started) * 1000
    return QueryResult(table, query_id or uuid.uuid4().hex, elapsed, sources, sql)


def conform(lake: Lake, target: str, data: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Rows of an INSERT in the shape of the table: by position, or by the named columns; the
    columns not named are null; values cast to the column types (or a clear error)."""
    schema, name = split_name(target)
    fields = lake.snapshot(schema, name).schema
    names = list(columns) or fields.names[: data.num_columns]
    if len(names) != data.num_columns or len(set(names)) != len(names):
        raise SchemaMismatch(
            f"{schema}.{name} has {len(fields)} columns; the INSERT gives {data.num_columns} "
            f"values for {len(names)} distinct column(s)"
        )
    unknown = [n for n in names if n not in fields.names]
    if unknown:
        raise SchemaMismatch(f"{schema}.{name} has no column {', '.join(unknown)}")
    given = dict(zip(names, data.columns, strict=True))
    arrays = []
    for field in fields:
        column = given.get(field.name)
        if column is None:
            arrays.append(pa.nulls(data.num_rows, field.type))
            continue
        try:
            arrays.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise SchemaMismatch(
                f"column {field.name} of {schema}.{name} is {field.type}: {e}"
            ) from e
    return pa.Table.from_arrays(arrays, schema=fields)
