"""The two SQL statements that write: ``CREATE TABLE … AS SELECT`` and ``INSERT INTO … SELECT``.

Everything else that writes stays refused (:func:`dap_kernel.governance.rewrite.refuse_writes`).
A write statement is split into its target and its SELECT; the SELECT then takes the governed
query path like any other, so a table made this way holds only what its writer may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from .errors import QueryRefused
from .governance.rewrite import parse_one_statement
from .lake import split_name


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
