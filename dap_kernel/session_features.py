"""The features of the client protocol, run in this process (a part of :class:`Session`).

Each method hands the session to its feature (ingestion, lineage, quality, export), which checks
the grants and audits the change; :class:`~dap_kernel.transport.HttpSession` has the same
methods over REST. Front doors call these methods and never ask which kind of session they hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .export.formats import Data, Exported
    from .ingestion import IngestResult
    from .lineage.graph import LineageGraph
    from .quality import QualityReport, Rule
    from .quality_view import QualityStatus
    from .session import Session


class SessionFeatures:
    """Ingest, lineage, quality and export for the session's principal."""

    def _session(self) -> Session:
        return self  # type: ignore[return-value]  # mixed into Session only

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
            path,
            table,
            mode=mode,
            keys=keys,
            format=format,
            options=options,
            session=self._session(),
        )

    def lineage(self, name: str, *, depth: int = 5) -> LineageGraph:
        """What a table (or ``table.column``) is made from and feeds, as this caller may see."""
        from .lineage.access import session_graph

        return session_graph(self._session(), name, depth=depth)

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport:
        """Check a table with its stored (or the given) rules, as this caller sees it."""
        from .quality import check

        return check(table, rules, session=self._session(), write_failures=write_failures)

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]:
        """Replace a table's quality rules (needs MODIFY)."""
        from .quality import set_rules

        return set_rules(table, rules, session=self._session())

    def quality_status(self, table: str) -> QualityStatus:
        """The latest stored check of a table, its badge and rules, as this caller may see them
        (:mod:`dap_kernel.quality_view`)."""
        from .quality_view import quality_status

        session = self._session()
        return quality_status(session.governed_catalog, session.workspace.meta, table)

    def table_rules(self, table: str) -> list[dict[str, str]]:
        """Grants, row filters and masks reaching ``table``; for those who may read it."""
        from .catalog.store import split_name
        from .governance.policy import table_rules

        session = self._session()
        qualified = "{}.{}".format(*split_name(table))
        session.require("SELECT", qualified)
        return table_rules(session.workspace.policy, qualified)

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported:
        """Write ``data`` (or governed SQL) as CSV, xlsx or PDF; the file is audited as a copy
        of the rows (``export``: format, path, rows, tables read)."""
        from .export.api import write_export

        session = self._session()
        statement = f"export {to} to {path}" + (f": {data}" if isinstance(data, str) else "")
        with session.audit_change("export", statement=statement) as change:
            done = write_export(data, to, path, session=session, **options)
            change.rows = done.rows
            change.touch(*done.tables)
        return done
