"""History and archiving of lake tables: how long time travel reaches back, and where old rows go.

A retention policy lives with its table (catalog options) and says two things:

* ``keep_history_days``: Delta versions older than this are vacuumed, so time travel reaches
  back that far and no further, and the files of replaced data are really gone (GDPR erasure
  depends on it).
* ``archive_after_days`` + ``column``: rows whose ``column`` is older than that move to the
  archive table (``archive.<table>`` unless named), which keeps them queryable and governed.
* ``delete_after_days`` + ``column``: rows older than that are deleted, from the table and its
  archive: the storage limit of a retention schedule (GDPR Art. 5(1)(e)). The deleted rows stay
  in the Delta history until it is vacuumed, so this needs ``keep_history_days`` too, and the
  archive's history is vacuumed with the table's.

``dap archive run`` applies every policy. Moving rows is two commits on two tables, so it is made
exactly-once: the archive commit records the source table's version it copied from, and a run
that finds its own record (the process died between the two commits) only finishes the delete.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import split_name
from .errors import DapError
from .governance.copies import COPY_OF, RETENTION

if TYPE_CHECKING:
    from .session import Session

OPTION = RETENTION
SOURCE_KEY = "dap.archive.source"
VERSION_KEY = "dap.archive.source_version"


@dataclass(frozen=True)
class Retention:
    keep_history_days: float | None = None
    archive_after_days: float | None = None
    column: str | None = None
    archive_table: str | None = None
    delete_after_days: float | None = None

    def __post_init__(self) -> None:
        for name in ("keep_history_days", "archive_after_days", "delete_after_days"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise DapError(f"{name} must be 0 or more, not {value}")
        aged = self.archive_after_days is not None or self.delete_after_days is not None
        if aged != (self.column is not None):
            raise DapError(
                "archiving or deleting old rows needs the date column, and a date column "
                "needs archive_after_days or delete_after_days"
            )
        if self.delete_after_days is None:
            return
        if self.keep_history_days is None:
            raise DapError(
                "delete_after_days needs keep_history_days: deleted rows stay readable by time "
                "travel until the history that holds them is vacuumed"
            )
        if self.archive_after_days is not None and self.delete_after_days < self.archive_after_days:
            raise DapError(
                f"delete_after_days ({self.delete_after_days:g}) is before archive_after_days "
                f"({self.archive_after_days:g}): rows would be deleted before they are archived"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ArchiveResult:
    table: str
    rows_archived: int
    archive_table: str | None
    files_vacuumed: int
    version: int
    rows_deleted: int = 0  # past delete_after_days, from the table and its archive


def set_retention(session: Session, table: str, retention: Retention | None) -> Retention | None:
    """Attach (or with None, remove) the retention policy of a lake table; needs MODIFY."""
    info = session.governed_catalog.find(table)  # "did you mean" names only readable tables
    if info.kind != "delta":
        raise DapError(f"{info.qualified_name} is an external {info.kind} source: no history")
    name = info.qualified_name
    what = f"set retention of {name}: {retention.to_dict() if retention else 'none'}"
    with session.audit_change("retention", (name,), statement=what):
        session.require("MODIFY", name)
        if retention is not None and retention.column is not None:
            names = [c.name for c in info.columns]
            if retention.column not in names:
                raise DapError(f"{name} has no column {retention.column}: {', '.join(names)}")
        session.catalog.set_option(name, OPTION, retention.to_dict() if retention else None)
    return retention


def get_retention(session: Session, table: str) -> Retention | None:
    stored = session.governed_catalog.find(table).options.get(OPTION)
    return Retention(**stored) if stored else None


def policies(session: Session) -> dict[str, Retention]:
    """Every table with a retention policy that the caller may read (a policy names its table
    and archive: metadata, governed like the catalog)."""
    return {
        name: retention
        for name, retention in _all_policies(session).items()
        if session.check("SELECT", name).allowed
    }


def _all_policies(session: Session) -> dict[str, Retention]:
    """Every policy, for a run of them all (each is then checked: MODIFY on its table)."""
    return {
        t.qualified_name: Retention(**t.options[OPTION])
        for t in session.catalog.list_tables()
        if t.options.get(OPTION)
    }


def versions(session: Session, table: str, limit: int = 20) -> list[dict[str, Any]]:
    """The versions of a table time travel can reach, newest first, for those who may read it
    (anyone else is told what a missing table tells: "did you mean" names readable ones only)."""
    info = session.governed_catalog.find(table)
    session.require("SELECT", info.qualified_name)
    schema, name = split_name(info.qualified_name)
    return [
        {
            "version": h.get("version"),
            "time": datetime.fromtimestamp(int(h["timestamp"]) / 1000, UTC).isoformat(
                timespec="seconds"
            ),
            "operation": h.get("operation", ""),
            "rows_added": (h.get("operationMetrics") or {}).get("num_added_rows"),
        }
        for h in session.workspace.lake.history(schema, name, limit)
    ]


def run_archive(
    session: Session, table: str | None = None, *, now: datetime | None = None
) -> list[ArchiveResult]:
    """Apply the retention policies (of one table, or all): archive old rows, then vacuum."""
    now = now or datetime.now(UTC)
    targets = (
        {session.governed_catalog.find(table).qualified_name: get_retention(session, table)}
        if table
        else _all_policies(session)
    )
    results = []
    for name, retention in targets.items():
        if retention is None:
            raise DapError(f"{name} has no retention policy: set one with dap archive set")
        with session.audit_change("archive", (name,), statement=f"archive run on {name}") as c:
            session.require("MODIFY", name)
            done = _apply(session, name, retention, now)
            c.rows = done.rows_archived + done.rows_deleted
            if done.archive_table and (done.rows_archived or done.rows_deleted):
                c.touch(done.archive_table)
            c.statement += (
                f" ({done.rows_deleted} rows past retention deleted, "
                f"{done.files_vacuumed} files vacuumed)"
            )
        results.append(done)
    return results


def _apply(session: Session, name: str, retention: Retention, now: datetime) -> ArchiveResult:
    archived, deleted = 0, 0
    archive = retention.archive_table or f"archive.{split_name(name)[1]}"
    if retention.archive_after_days is not None and retention.column is not None:
        cutoff = now - timedelta(days=retention.archive_after_days)
        archived = _move_old_rows(session, name, retention.column, cutoff, archive)
    kept = [name]
    if archive in session.catalog.known_names():
        session.require("MODIFY", archive)  # as when rows move in
        kept.append(archive)  # its rows are the table's rows: the same limits apply
    if retention.delete_after_days is not None and retention.column is not None:
        cutoff = now - timedelta(days=retention.delete_after_days)
        for table in kept:
            deleted += _delete_expired(session, table, retention.column, cutoff)
    vacuumed = 0
    if retention.keep_history_days is not None:
        hours = int(retention.keep_history_days * 24)
        for table in kept:
            vacuumed += len(
                session.workspace.lake.vacuum(*split_name(table), retention_hours=hours)
            )
    version = session.catalog.get(name).version
    used = archive if archive in kept else None
    return ArchiveResult(name, archived, used, vacuumed, version, deleted)


def _delete_expired(session: Session, name: str, column: str, cutoff: datetime) -> int:
    """Delete the rows of ``name`` whose ``column`` is before ``cutoff`` (one Delta commit)."""
    ws = session.workspace
    schema, table = split_name(name)
    _catch_up(session, name)
    field = ws.lake.snapshot(schema, table).schema.field(column)
    limit = _literal_for(field.type, cutoff)
    deleted = ws.lake.delete_where(schema, table, f'"{column}" < {_sql_literal(limit, field.type)}')
    if deleted:
        ws.catalog.refresh(name)
    return deleted


def _move_old_rows(session: Session, name: str, column: str, cutoff: datetime, archive: str) -> int:
    ws = session.workspace
    schema, table = split_name(name)
    # A run killed between a lake commit and its catalog refresh left the catalog a version
    # behind (queries read the catalog's version): the archive's rows invisible, or the
    # source's moved rows still showing. Catch both up before deciding anything.
    _catch_up(session, name)
    _catch_up(session, archive)
    version = ws.lake.version(schema, table)
    data = ws.lake.read(schema, table)
    field = data.schema.field(column)
    limit = _literal_for(field.type, cutoff)
    old = data.filter(pc.less(data[column], pa.scalar(limit, field.type)))
    marker = {SOURCE_KEY: name, VERSION_KEY: str(version)}
    if old.num_rows == 0:
        return 0
    if not _already_copied(session, archive, marker):
        if _half_created(session, archive, name):
            ws.catalog.set_option(archive, COPY_OF, name)  # killed before this, last time
        if archive in ws.catalog.known_names():
            session.require("MODIFY", archive)
            a_schema, a_table = split_name(archive)
            ws.lake.append(a_schema, a_table, old, metadata=marker)
            ws.catalog.refresh(archive)
        else:
            session.require("CREATE", split_name(archive)[0])
            source = ws.catalog.get(name)
            ws.catalog.create_table(
                archive,
                pl.from_arrow(old.slice(0, 0)),
                description=_description(name),
                owner=source.owner,
                tags=["archive"],
            )
            # Governed by its parent from now on (its grants, row filters and masks).
            ws.catalog.set_option(archive, COPY_OF, name)
            a_schema, a_table = split_name(archive)
            ws.lake.append(a_schema, a_table, old, metadata=marker)
            ws.catalog.refresh(archive)
    deleted = ws.lake.delete_where(schema, table, f'"{column}" < {_sql_literal(limit, field.type)}')
    ws.catalog.refresh(name)
    return deleted


def _catch_up(session: Session, table: str) -> None:
    ws = session.workspace
    if table not in ws.catalog.known_names():
        return
    schema, name = split_name(table)
    if ws.lake.exists(schema, name) and ws.catalog.get(table).version != ws.lake.version(
        schema, name
    ):
        ws.catalog.refresh(table)


def _half_created(session: Session, archive: str, source: str) -> bool:
    """Is ``archive`` one this job created for ``source`` and was killed before marking it a
    copy (so governed by its parent)? Recognised by what the job writes: the tag, the
    description, no rows committed yet and no copy-of option."""
    if archive not in session.catalog.known_names():
        return False
    info = session.catalog.get(archive)
    return (
        COPY_OF not in info.options
        and list(info.tags) == ["archive"]
        and info.description == _description(source)
        and info.version == 0
    )


def _description(source: str) -> str:
    return f"Rows of {source} older than the retention policy keeps."


def _already_copied(session: Session, archive: str, marker: dict[str, str]) -> bool:
    """Did an earlier run copy these rows and die before deleting them from the source?"""
    if archive not in session.catalog.known_names():
        return False
    schema, table = split_name(archive)
    last = session.workspace.lake.last_commit(schema, table)
    return all(last.get(k) == v for k, v in marker.items())


def _literal_for(dtype: pa.DataType, cutoff: datetime) -> Any:
    if pa.types.is_timestamp(dtype):
        tz = getattr(dtype, "tz", None)
        return cutoff if tz else cutoff.astimezone(UTC).replace(tzinfo=None)
    if pa.types.is_date(dtype):
        return cutoff.date()
    raise DapError(f"archiving needs a date or timestamp column, not {dtype}")


_UNITS = {"s": "Second", "ms": "Millisecond", "us": "Microsecond", "ns": "Nanosecond"}


def _sql_literal(value: date | datetime, dtype: pa.DataType) -> str:
    """A Delta (DataFusion) literal of exactly the column's type: it compares no other."""
    if isinstance(value, datetime):
        unit = _UNITS[dtype.unit]
        tz = f'Some("{dtype.tz}")' if dtype.tz else "None"
        return f"arrow_cast('{value.isoformat()}', 'Timestamp({unit}, {tz})')"
    return f"DATE '{value.isoformat()}'"
