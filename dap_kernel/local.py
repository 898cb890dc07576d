"""The in-process client: a :class:`~dap_kernel.session.Session` and the features over it.

The session is the governed core (queries, grants, audit, catalog writes); it knows none of the
features. :class:`LocalClient` is the :class:`~dap_kernel.client.DapClient` of this process: it
hands the session to each feature (ingestion, lineage, quality, export), which checks the grants
and audits the change, and passes everything else straight to the session.
:class:`~dap_kernel.transport.HttpSession` offers the same methods over REST, so front doors
never ask which one they hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from .catalog.store import TableInfo
    from .export.formats import Data, Exported
    from .governance.audit import Change
    from .governance.identity import Principal
    from .governance.policy import Decision
    from .ingestion import IngestResult
    from .lake import Data as TableData
    from .lineage.graph import LineageGraph
    from .quality import QualityReport, Rule
    from .quality_view import QualityStatus
    from .session import QueryResult, Session, Workspace


class LocalClient:
    """The features and the governed core of one session, for its principal."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.catalog = session.catalog

    def __repr__(self) -> str:
        return f"LocalClient({self.session.principal.name!r}, channel={self.session.channel!r})"

    # -- the session's own ------------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        return self.session.workspace

    @property
    def principal(self) -> Principal:
        return self.session.principal

    @property
    def channel(self) -> str:
        return self.session.channel

    def sql(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        as_of: int | str | datetime | None = None,
    ) -> pl.DataFrame:
        return self.session.sql(sql, params, limit=limit, as_of=as_of)

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        query_id: str | None = None,
        on_batch: Callable[[int], None] | None = None,
        cache: bool = False,
        timeout_s: float | None = None,
        as_of: int | str | datetime | None = None,
    ) -> QueryResult:
        return self.session.query(
            sql,
            params,
            limit=limit,
            query_id=query_id,
            on_batch=on_batch,
            cache=cache,
            timeout_s=timeout_s,
            as_of=as_of,
        )

    def cancel(self, query_id: str) -> bool:
        return self.session.cancel(query_id)

    def progress(self, query_id: str) -> float | None:
        return self.session.progress(query_id)

    def visible_tables(self, term: str = "") -> list[TableInfo]:
        return self.session.visible_tables(term)

    def describe(self, table: str) -> TableInfo:
        return self.session.describe(table)

    def whoami(self) -> dict[str, Any]:
        return self.session.whoami()

    def check(self, action: str, securable: str) -> Decision:
        return self.session.check(action, securable)

    def require(self, action: str, securable: str) -> None:
        self.session.require(action, securable)

    def audit_change(
        self, action: str, tables: Iterable[str] = (), *, statement: str = ""
    ) -> AbstractContextManager[Change]:
        return self.session.audit_change(action, tables, statement=statement)

    def create_table(
        self,
        name: str,
        data: TableData,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        column_descriptions: dict[str, str] | None = None,
        column_tags: dict[str, list[str]] | None = None,
        replace: bool = False,
    ) -> TableInfo:
        return self.session.create_table(
            name,
            data,
            description=description,
            tags=tags,
            column_descriptions=column_descriptions,
            column_tags=column_tags,
            replace=replace,
        )

    def register_file(
        self,
        name: str,
        path: str | Path,
        *,
        format: str | None = None,
        options: dict[str, Any] | None = None,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        return self.session.register_file(
            name,
            path,
            format=format,
            options=options,
            description=description,
            tags=tags,
            replace=replace,
        )

    def register_database_table(
        self,
        name: str,
        url: str,
        source_table: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        return self.session.register_database_table(
            name, url, source_table, description=description, tags=tags, replace=replace
        )

    def drop_table(self, name: str, *, purge: bool = False) -> None:
        self.session.drop_table(name, purge=purge)

    # -- the features -----------------------------------------------------------------------

    def ingest(
        self,
        path: str | Path,
        table: str,
        *,
        mode: str = "append",
        keys: Sequence[str] = (),
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> IngestResult:
        """Load a file, folder or glob into a lake table (see :func:`dap_kernel.ingest`)."""
        from .ingestion import ingest

        return ingest(
            path, table, mode=mode, keys=keys, format=format, options=options, session=self.session
        )

    def lineage(self, name: str, *, depth: int = 5) -> LineageGraph:
        """What a table (or ``table.column``) is made from and feeds, as this caller may see."""
        from .lineage.access import session_graph

        return session_graph(self.session, name, depth=depth)

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport:
        """Check a table with its stored (or the given) rules, as this caller sees it."""
        from .quality import check

        return check(table, rules, session=self.session, write_failures=write_failures)

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]:
        """Replace a table's quality rules (needs MODIFY)."""
        from .quality import set_rules

        return set_rules(table, rules, session=self.session)

    def quality_status(self, table: str) -> QualityStatus:
        """The latest stored check of a table, its badge and rules, as this caller may see them
        (:mod:`dap_kernel.quality_view`)."""
        from .quality_view import quality_status

        return quality_status(self.session.governed_catalog, self.session.workspace.meta, table)

    def table_rules(self, table: str) -> list[dict[str, str]]:
        """Grants, row filters and masks reaching ``table``; for those who may read it."""
        from .catalog.store import split_name
        from .governance.policy import table_rules

        qualified = "{}.{}".format(*split_name(table))
        self.session.require("SELECT", qualified)
        return table_rules(self.session.workspace.policy, qualified)

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported:
        """Write ``data`` (or governed SQL) as CSV, xlsx or PDF; the file is audited as a copy
        of the rows (``export``: format, path, rows, tables read)."""
        from .export.api import write_audited_export

        return write_audited_export(self.session, data, to, path, **options)
