"""The catalog, and ``dap.catalog.…`` shortcuts on the default workspace.

``dap.catalog.search("revenue")`` is the same call as ``connect().visible_tables("revenue")``
and ``dap.catalog.get(name)`` as ``connect().describe(name)``: reads show the catalog as the
caller may see it (:mod:`dap_kernel.catalog.governed`), in-process as over HTTP. Writes go to the
:class:`~dap_kernel.catalog.store.Catalog` of this process. The caller's client comes from
:func:`dap_kernel.caller.default_client`, so the catalog never imports the client above it.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..caller import default_client
from ..names import split_name
from .models import ColumnInfo, TableInfo

if TYPE_CHECKING:
    from ..lake import Data
    from .store import Catalog

__all__ = [
    "Catalog",
    "ColumnInfo",
    "TableInfo",
    "create_table",
    "get",
    "list",
    "register_file",
    "search",
    "split_name",
]


def __getattr__(name: str) -> Any:
    """``Catalog`` on first use: the package's reads (``dap catalog list``) need neither the
    lake's nor an engine's libraries, which the store's writes do."""
    if name == "Catalog":
        from .store import Catalog

        return Catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CatalogClient(Protocol):
    """What the shortcuts call on the caller's client (in process or a DAP service)."""

    def visible_tables(self, term: str = "") -> builtins.list[TableInfo]: ...

    def describe(self, table: str) -> TableInfo: ...

    def create_table(self, name: str, data: Data, **options: Any) -> TableInfo: ...

    def register_file(self, name: str, path: str | Path, **options: Any) -> TableInfo: ...


def _client() -> CatalogClient:
    client: CatalogClient = default_client()
    return client


def search(term: str) -> builtins.list[TableInfo]:
    """Tables you may read whose name, description, tags or columns mention ``term``."""
    return _client().visible_tables(term)


def get(name: str) -> TableInfo:
    """Schema, description, owner, tags and column statistics of one table, as you may see
    it (no statistics of masked columns or of a table you see through a row filter)."""
    return _client().describe(name)


def create_table(name: str, data: Data, **options: Any) -> TableInfo:
    """Write a polars/Arrow table to the lake and register it, owned by you (needs CREATE;
    audited). Through a DAP service this is not available yet."""
    return _client().create_table(name, data, **options)


def register_file(name: str, path: str | Path, **options: Any) -> TableInfo:
    """Register a CSV, Parquet or JSON file (or glob) as a catalog table (needs CREATE;
    audited)."""
    return _client().register_file(name, path, **options)


def list(schema: str | None = None) -> builtins.list[TableInfo]:
    """The catalog tables you may read, optionally of one schema."""
    return [t for t in _client().visible_tables() if schema is None or t.schema == schema]
