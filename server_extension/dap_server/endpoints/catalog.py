"""The catalog as the caller may see it: list and search, and one table in detail."""

from __future__ import annotations

from dap_kernel.catalog import TableInfo
from dap_kernel.engines.duckdb import quote_ident
from dap_kernel.errors import QueryRefused, UnknownTable
from dap_kernel.governance.policy import TablePolicy

from ..api import Call, router
from ..models import (
    CatalogList,
    CatalogQuery,
    ColumnOut,
    TableDetail,
    TableDetailQuery,
    TableSummary,
)
from .rows import json_rows


def _table_policy(call: Call, table: str) -> TablePolicy | None:
    policy = call.workspace.policy
    if not policy.enforcing():
        return None
    return policy.table_policy(policy.principal_details(call.principal), table)


def _summary(info: TableInfo, view: TablePolicy | None, readable: bool = True) -> TableSummary:
    # Counts over rows a filter hides would tell the caller something about those rows.
    hide_counts = not readable or (view is not None and bool(view.row_filters))
    return TableSummary(
        name=info.qualified_name,
        schema=info.schema,
        table=info.name,
        kind=info.kind,
        description=info.description,
        owner=info.owner,
        tags=info.tags,
        row_count=None if hide_counts else info.row_count,
        version=info.version,
        updated_at=info.updated_at,
        readable=readable,
    )


def readable_table(call: Call, table: str) -> TableInfo:
    """The table, if the caller may read it (403 otherwise, 404 if there is none)."""
    try:
        info = call.workspace.catalog.get(table)
    except UnknownTable:
        raise UnknownTable(f"no table {table} in the catalog") from None
    decision = call.session.check("SELECT", info.qualified_name)
    if not decision.allowed:
        raise QueryRefused(decision.reason)
    return info


def readable_columns(call: Call, table: str) -> list[tuple[str, str]]:
    """(name, type) of the columns the caller may select (column-level grants applied)."""
    info = readable_table(call, table)
    view = _table_policy(call, info.qualified_name)
    visible = {name for name, _ in view.columns} if view is not None else None
    return [(c.name, c.data_type) for c in info.columns if visible is None or c.name in visible]


@router.get("catalog", query=CatalogQuery, response=CatalogList, tag="catalog")
def list_catalog(call: Call, query: CatalogQuery) -> CatalogList:
    """Tables you may read (or, with `include_denied`, all tables, flagged), or a search."""
    session = call.session
    policy = call.workspace.policy
    if query.include_denied:
        tables = (
            call.workspace.catalog.search(query.q)
            if query.q.strip()
            else (call.workspace.catalog.list_tables())
        )
        with policy.pinned():
            return CatalogList(
                tables=[
                    _summary(t, _table_policy(call, t.qualified_name), readable=True)
                    if session.check("SELECT", t.qualified_name).allowed
                    else _summary(t, None, readable=False)
                    for t in tables
                ]
            )
    with policy.pinned():
        visible = session.visible_tables(query.q)
        return CatalogList(
            tables=[_summary(t, _table_policy(call, t.qualified_name)) for t in visible]
        )


@router.get(
    "catalog/{table}",
    query=TableDetailQuery,
    response=TableDetail,
    pool="query",
    tag="catalog",
    errors=(403, 404),
)
def get_table(call: Call, table: str, query: TableDetailQuery) -> TableDetail:
    """One table: columns with types, tags and statistics, and governed sample rows."""
    info = readable_table(call, table)
    view = _table_policy(call, info.qualified_name)
    visible = {name for name, _ in view.columns} if view is not None else None
    masks = view.masks if view is not None else {}
    filtered = view is not None and bool(view.row_filters)
    columns = []
    for c in info.columns:
        if visible is not None and c.name not in visible:
            continue  # column-level grants: the caller does not learn the column exists
        hide = filtered or c.name in masks  # statistics of raw values would leak them
        columns.append(
            ColumnOut(
                name=c.name,
                type=c.data_type,
                nullable=c.nullable,
                description=c.description,
                tags=c.tags,
                masked=c.name in masks,
                null_count=None if filtered else c.null_count,
                distinct_count=None if filtered else c.distinct_count,
                min_value=None if hide else c.min_value,
                max_value=None if hide else c.max_value,
            )
        )
    sample_columns: list[str] = []
    sample_rows: list[list[object]] = []
    if query.sample:
        target = f"{quote_ident(info.schema)}.{quote_ident(info.name)}"
        result = call.session.query(f"SELECT * FROM {target}", limit=query.sample, cache=True)
        sample_columns = result.table.column_names
        sample_rows = json_rows(result.table)
    summary = _summary(info, view)
    return TableDetail.model_construct(
        **dict(summary),
        columns=columns,
        row_filtered=filtered,
        sample_columns=sample_columns,
        sample_rows=sample_rows,
    )
