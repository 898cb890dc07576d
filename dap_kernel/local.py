"""The in-process client: a :class:`~dap_kernel.session.Session` and the features over it.

The session is the governed core (queries, grants, audit, catalog writes); it knows none of the
features. :class:`LocalClient` is the :class:`~dap_kernel.client.DapClient` of this process: it
is a session that also hands itself to each feature (ingestion, lineage, quality, export), which
checks the grants and audits the change.
:class:`~dap_kernel.transport.HttpSession` offers the same methods over REST, so front doors
never ask which one they hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .session import Session

if TYPE_CHECKING:
    from .export.formats import Data, Exported
    from .ingestion import IngestResult
    from .lineage.graph import LineageGraph
    from .ml.registry import LocalModels
    from .quality import QualityReport, Rule
    from .quality.view import QualityStatus
    from .scheduler.api import Schedules
    from .streams.access import GovernedStreams


class LocalClient(Session):
    """A session with its features: the governed core is inherited as it is (queries, grants,
    audit, catalog writes), the features are added here."""

    def __init__(self, session: Session) -> None:
        super().__init__(session.workspace, session.principal, channel=session.channel)

    def __repr__(self) -> str:
        return f"LocalClient({self.principal.name!r}, channel={self.channel!r})"

    @property
    def session(self) -> Session:
        """The core the features are handed (this object itself)."""
        return self

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
        (:mod:`dap_kernel.quality.view`)."""
        from .quality.view import quality_status

        return quality_status(self.session.governed_catalog, self.session.workspace.meta, table)

    def table_rules(self, table: str) -> list[dict[str, str]]:
        """Grants, row filters and masks reaching ``table``; for those who may read it."""
        from .governance.policy import table_rules
        from .lake import split_name

        qualified = "{}.{}".format(*split_name(table))
        self.session.require("SELECT", qualified)
        return table_rules(self.session.workspace.policy, qualified)

    @property
    def schedules(self) -> Schedules:
        """Scheduled reports of this caller (:mod:`dap_kernel.scheduler.api`)."""
        from .scheduler.api import Schedules

        return Schedules(self.session)

    @property
    def streams(self) -> GovernedStreams:
        """Kafka streams of this home (:mod:`dap_kernel.streams.access`); the ones this caller
        starts run as child processes this process watches."""
        from .streams.access import GovernedStreams
        from .streams.supervisor import shared

        return GovernedStreams(self.session, shared(self.session.workspace.settings))

    @property
    def models(self) -> LocalModels:
        """The model registry (``dap.ml``): changes audited in this workspace's chain."""
        from .ml.registry import LocalModels

        return LocalModels(self.session)

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported:
        """Write ``data`` (or governed SQL) as CSV, xlsx or PDF; the file is audited as a copy
        of the rows (``export``: format, path, rows, tables read)."""
        from .export.api import write_audited_export

        return write_audited_export(self.session, data, to, path, **options)
