"""The catalog's registered tables as the metadata database holds them: reads only.

The base of the catalog (:class:`~.resolve.CatalogBindings`, then :class:`~.store.Catalog`), and
on its own what :class:`~.governed.GovernedCatalog` reads. It needs nothing but the metadata
database, so ``dap catalog list`` lists tables without loading the lake's or an engine's
libraries.
"""

from __future__ import annotations

import difflib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import UnknownTable
from ..meta import CatalogTable, MetaStore
from ..names import split_name
from .models import TableInfo, table_info


class CatalogIndex:
    """Lookups of registered tables: one, all, or those a search term matches."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    def known_names(self) -> set[str]:
        with self.meta.session() as s:
            rows = s.execute(select(CatalogTable.schema_name, CatalogTable.name)).all()
        return {f"{schema}.{name}" for schema, name in rows}

    def _row(self, s: Session, name: str) -> CatalogTable:
        schema, table = split_name(name)
        row = s.execute(
            select(CatalogTable).where(
                CatalogTable.schema_name == schema, CatalogTable.name == table
            )
        ).scalar_one_or_none()
        if row is None:
            known = sorted(self.known_names())
            close = difflib.get_close_matches(f"{schema}.{table}", known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownTable(f"table {schema}.{table} is not in the catalog{hint}")
        return row

    def get(self, name: str) -> TableInfo:
        with self.meta.session() as s:
            return table_info(self._row(s, name))

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        with self.meta.session() as s:
            query = select(CatalogTable).order_by(CatalogTable.schema_name, CatalogTable.name)
            if schema:
                query = query.where(CatalogTable.schema_name == schema)
            return [table_info(r) for r in s.execute(query).scalars()]

    def search(self, term: str) -> list[TableInfo]:
        """Tables whose name, description, tags or columns (name, description, tags) match.

        Matched in Python over one read of the catalog: tags are JSON lists, and this way
        SQLite and PostgreSQL behave the same.
        """
        needle = term.strip().lower()
        tables = self.list_tables()
        if not needle:
            return tables

        def texts(t: TableInfo) -> list[str]:
            found = [t.qualified_name, t.description, *t.tags]
            for c in t.columns:
                found += [c.name, c.description, *c.tags]
            return found

        return [t for t in tables if any(needle in x.lower() for x in texts(t))]
