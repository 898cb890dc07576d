"""Lineage of SQL run through a session: stored, then emitted as OpenLineage."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Protocol

from .names import ColumnEdge, _first_line, table_name
from .openlineage import emit_run
from .sql import sql_lineage
from .store import LineageStore

if TYPE_CHECKING:
    from ..catalog.store import Catalog
    from ..governance.identity import Principal
    from ..meta import MetaStore
    from ..settings import Settings


class _Workspace(Protocol):
    @property
    def catalog(self) -> Catalog: ...
    @property
    def meta(self) -> MetaStore: ...
    @property
    def settings(self) -> Settings: ...


class Writer(Protocol):
    """What recording needs of the session that wrote (the session calls this module, so it
    is named by what it offers rather than imported)."""

    @property
    def workspace(self) -> _Workspace: ...
    @property
    def principal(self) -> Principal: ...


log = logging.getLogger(__name__)


def record_sql(
    session: Writer,
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
