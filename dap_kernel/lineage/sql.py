"""SQL → lineage: the source tables and column edges of one statement, through sqlglot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from ..errors import DapError, SqlSyntaxError
from .names import DEFAULT_SCHEMA, ColumnEdge, _first_line, table_name

_INPUT_SCHEMA = "__dap_input__"  # marks a statement's plain input names while it is qualified


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
