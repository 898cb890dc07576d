"""The catalog as the caller may see it: list and search, and one table in detail.

Parse, ask the core (:mod:`dap_kernel.catalog.governed`, the same answer as ``%dap describe``,
``dap catalog show`` and ``dap.catalog.get``), shape the model. Which tables, columns and
statistics a caller sees is decided there, not here.
"""

from __future__ import annotations

from dap_kernel.catalog import TableInfo
from dap_kernel.catalog.governed import GovernedTable
from dap_kernel.engines.names import quote_ident

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


def _summary(entry: GovernedTable) -> TableSummary:
    info = entry.info
    return TableSummary(
        name=info.qualified_name,
        schema=info.schema,
        table=info.name,
        kind=info.kind,
        description=info.description,
        owner=info.owner,
        tags=info.tags,
        row_count=info.row_count,
        version=info.version,
        updated_at=info.updated_at,
        readable=entry.readable,
    )


def governed_table(call: Call, table: str) -> GovernedTable:
    """The table as the caller may see it (403 if they may not read it, 404 if there is none)."""
    return call.session.governed_catalog.describe(table)


def readable_table(call: Call, table: str) -> TableInfo:
    """The table, if the caller may read it (403 otherwise, 404 if there is none)."""
    return governed_table(call, table).info


def readable_columns(call: Call, table: str) -> list[tuple[str, str]]:
    """(name, type) of the columns the caller may select (column-level grants applied)."""
    return [(c.name, c.data_type) for c in readable_table(call, table).columns]


@router.get("catalog", query=CatalogQuery, response=CatalogList, tag="catalog")
def list_catalog(call: Call, query: CatalogQuery) -> CatalogList:
    """Tables you may read (or, with `include_denied`, all tables, flagged), or a search."""
    entries = call.session.governed_catalog.entries(query.q, include_denied=query.include_denied)
    return CatalogList(tables=[_summary(e) for e in entries])


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
    entry = governed_table(call, table)
    info = entry.info
    columns = [
        ColumnOut(
            name=c.name,
            type=c.data_type,
            nullable=c.nullable,
            description=c.description,
            tags=c.tags,
            masked=c.name in entry.masked,
            null_count=c.null_count,
            distinct_count=c.distinct_count,
            distinct_approx=c.distinct_approx,
            min_value=c.min_value,
            max_value=c.max_value,
        )
        for c in info.columns
    ]
    sample_columns: list[str] = []
    sample_rows: list[list[object]] = []
    if query.sample:
        # Sample rows are data, not metadata: they come through the governed query path.
        target = f"{quote_ident(info.schema)}.{quote_ident(info.name)}"
        result = call.session.query(f"SELECT * FROM {target}", limit=query.sample, cache=True)
        sample_columns = result.table.column_names
        sample_rows = json_rows(result.table)
    return TableDetail.model_construct(
        **dict(_summary(entry)),
        columns=columns,
        row_filtered=entry.row_filtered,
        sample_columns=sample_columns,
        sample_rows=sample_rows,
    )
