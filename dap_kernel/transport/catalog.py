"""``connect().catalog`` over HTTP: reads only, and only of tables the caller may read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..catalog import TableInfo


class _Tables(Protocol):
    """What is used of :class:`~dap_kernel.transport.session.HttpSession` (not imported: it
    imports this module)."""

    def describe(self, table: str) -> TableInfo: ...

    def visible_tables(self, term: str = "") -> list[TableInfo]: ...


class HttpCatalog:
    """``connect().catalog`` over HTTP: reads only, and only of tables the caller may read."""

    def __init__(self, session: _Tables) -> None:
        self._session = session

    def get(self, name: str) -> TableInfo:
        return self._session.describe(name)

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        tables = self._session.visible_tables()
        return [t for t in tables if schema is None or t.schema == schema]

    def search(self, term: str) -> list[TableInfo]:
        return self._session.visible_tables(term)
