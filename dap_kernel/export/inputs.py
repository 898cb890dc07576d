"""What is exported: a DataFrame, an Arrow table, or SQL run through a governed session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import polars as pl
import pyarrow as pa

from ..caller import default_client
from .errors import ExportError
from .formats import Data, Exported

if TYPE_CHECKING:
    from ..session import QueryResult


class Queries(Protocol):
    """What an export needs of a session or client: governed SQL (any client has it)."""

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
    ) -> QueryResult: ...


@runtime_checkable
class Exports(Queries, Protocol):
    """A client that writes (and, in process, audits) an export: ``export_file`` calls it."""

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported: ...


def _client(session: Exports | None) -> Exports:
    if session is not None:
        return session
    client: Exports = default_client("python")
    return client


def _chromium(session: Queries | None) -> str | None:
    workspace = getattr(session, "workspace", None)
    settings = getattr(workspace, "settings", None)
    return getattr(settings, "chromium", None)


def _table(
    data: Data,
    params: Mapping[str, Any] | Sequence[Any] | None,
    session: Queries | None,
    *,
    limit: int | None = None,
    read: list[str] | None = None,
) -> pa.Table:
    """An Arrow table of ``data``; SQL runs governed, asking for at most ``limit`` rows (the
    tables it read are added to ``read``)."""
    if isinstance(data, str):
        client = session if session is not None else _client(None)
        result = client.query(data, params, limit=limit)
        if read is not None:
            read.extend(t for t in result.tables if t not in read)
        return result.table
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    raise ExportError(
        f"cannot export a {type(data).__name__}: give a polars DataFrame, an Arrow table or SQL"
    )


def _describe(description: str, params: Mapping[str, Any] | Sequence[Any] | None) -> str:
    """The filter line of a report: the caller's words, else the bound parameters."""
    if description or not params:
        return description
    if isinstance(params, Mapping):
        return "Filters: " + ", ".join(f"{k} = {v}" for k, v in params.items())
    return "Parameters: " + ", ".join(str(v) for v in params)
