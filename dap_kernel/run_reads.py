"""What a scheduled run read, and what a re-run as recorded must read.

The governed query path records, for a session bound to a run (its API key was minted for the
run), the Delta version of every lake table each statement read. A re-run "as recorded" gets
those versions as pins: its statements read each pinned table at that version, so the report
shows the same numbers. The scheduler writes the pins; the query path knows nothing else of
schedules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from .engines.base import Binding
from .meta import MetaStore
from .meta.models import RunRead

_TABLE: Table = RunRead.__table__  # type: ignore[assignment]


def versions_read(tables: Sequence[str], bindings: Sequence[Binding]) -> dict[str, int]:
    """The Delta version of each of a statement's lake ``tables``, from what it bound."""
    versions: dict[str, int] = {}
    wanted = set(tables)
    for b in bindings:
        kind, _, version = b.signature.partition(":")
        if kind != "delta" or not version.isdigit():
            continue
        schema = b.schema.split("@", 1)[0]  # a time-travel schema: "main@v3"
        qualified = f"{schema}.{b.name}".lower()
        if qualified in wanted:
            versions[qualified] = int(version)
    return versions


class RunReads:
    """The ``run_reads`` table: reads recorded by queries, pins set by the scheduler."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    def record(self, run_id: str, versions: Mapping[str, int], *, pinned: bool = False) -> None:
        """Remember that ``run_id`` read (or must read) each table at its version (idempotent)."""
        if not versions:
            return
        known = self._versions(run_id, pinned)
        new = [(t, v) for t, v in versions.items() if (t, v) not in known]
        for table, version in new:
            try:
                with self.meta.connection() as con:
                    con.execute(
                        insert(_TABLE).values(
                            run_id=run_id, table_name=table, version=int(version), pinned=pinned
                        )
                    )
            except IntegrityError:  # the same read recorded by a concurrent statement
                continue

    def reads(self, run_id: str) -> dict[str, int]:
        """Each table the run read, at the highest version it read (a table may move mid-run)."""
        found: dict[str, int] = {}
        for table, version in sorted(self._versions(run_id, False)):
            found[table] = max(version, found.get(table, version))
        return found

    def pins(self, run_id: str) -> dict[str, int]:
        """The versions a re-run as recorded reads (empty for any other run)."""
        return dict(self._versions(run_id, True))

    def _versions(self, run_id: str, pinned: bool) -> set[tuple[str, int]]:
        with self.meta.connection() as con:
            rows = con.execute(
                select(_TABLE.c.table_name, _TABLE.c.version).where(
                    _TABLE.c.run_id == run_id, _TABLE.c.pinned == pinned
                )
            ).all()
        return {(r.table_name, int(r.version)) for r in rows}
