"""The lake: Delta Lake tables under ``DAP_HOME/lake``, one folder per ``schema/table``.

Every write is a single Delta commit, so a reader sees either all of it or none of it, and a
failed write leaves the previous version intact. Readers get the files of one snapshot, which
the engine scans directly.
"""

from __future__ import annotations

import errno
import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeAlias

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import DeltaError, SchemaMismatchError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from .errors import DapError, SchemaMismatch, StorageFull, TableExists, UnknownTable
from .names import check_name as check_name  # lake names are catalog names
from .names import split_name as split_name

Data: TypeAlias = pa.Table | pl.DataFrame | pa.RecordBatchReader
ORPHAN_HOURS = 24  # uncommitted files younger than this may belong to a running load


def disk_full(error: BaseException) -> bool:
    """Did ``error`` (an OSError, or DuckDB's or deltalake's wrapping of one) come from a full
    disk? The engines keep only the text of the OS error, so the text is what is looked at."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    return "no space left on device" in str(error).lower()


def storage_full(table: str, version: int | None) -> StorageFull:
    """The one message a full lake disk gives, whichever writer hit it."""
    state = "did not exist before" if version is None else f"is still at version {version}"
    return StorageFull(
        f"no space left on the disk of the lake while writing {table}: nothing was committed "
        f"({table} {state}); free some space and run the same write again"
    )


def to_arrow(data: Data) -> pa.Table | pa.RecordBatchReader:
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    return data


@dataclass(frozen=True)
class Snapshot:
    """One version of a Delta table: what the engine needs to scan it."""

    version: int
    files: list[str]
    schema: pa.Schema
    partition_columns: list[str]


@dataclass(frozen=True)
class ColumnStats:
    """One column of one Parquet file, as its writer measured it. ``min``/``max`` are the values
    as DuckDB prints them (``'2020-01-01 00:00:00'``, ``'12.50'``), None when not known exactly."""

    null_count: int | None = None
    min: str | None = None
    max: str | None = None


@dataclass(frozen=True)
class ParquetFile:
    """A Parquet file written into a table's folder, not yet part of any version."""

    path: Path
    rows: int
    size: int
    columns: Mapping[str, ColumnStats] = field(default_factory=dict)


class Lake:
    """Delta tables in one root folder. Names are ``schema.table``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, schema: str, table: str) -> Path:
        return self.root / check_name(schema, "schema") / check_name(table)

    def exists(self, schema: str, table: str) -> bool:
        return (self.path(schema, table) / "_delta_log").is_dir()

    def _open(
        self, schema: str, table: str, version: int | str | datetime | None = None
    ) -> DeltaTable:
        try:
            dt = DeltaTable(str(self.path(schema, table)))
        except TableNotFoundError as e:
            raise UnknownTable(f"lake table {schema}.{table} does not exist") from e
        if isinstance(version, datetime):
            # Delta answers a time before the first commit with version 0: say it did not exist.
            first = min(int(h["timestamp"]) for h in dt.history())
            if version.timestamp() * 1000 < first:
                raise DapError(f"{schema}.{table} did not exist yet at {version.isoformat()}")
        if version is not None:
            latest = dt.version()
            try:
                dt.load_as_version(version)
            except (DeltaError, ValueError, OverflowError) as e:  # overflow: past 2**64
                when = "at" if isinstance(version, datetime | str) else "numbered"
                raise DapError(
                    f"{schema}.{table} has no version {when} {version} "
                    f"(versions 0 to {latest}; vacuumed history is gone)"
                ) from e
        return dt

    # -- writes: each one is a single atomic Delta commit -------------------------------------

    def create(
        self,
        schema: str,
        table: str,
        data: Data,
        *,
        partition_by: Sequence[str] | None = None,
        exist_ok: bool = False,
    ) -> int:
        if self.exists(schema, table) and not exist_ok:
            raise TableExists(f"lake table {schema}.{table} already exists")
        self.path(schema, table).parent.mkdir(parents=True, exist_ok=True)
        if exist_ok and self.exists(schema, table):
            # Replacing a table replaces its schema too, still as one commit (time travel to
            # the old version keeps working).
            return self._write(
                schema,
                table,
                data,
                mode="overwrite",
                partition_by=partition_by,
                schema_mode="overwrite",
            )
        folder = self.path(schema, table)
        before = set(folder.iterdir()) if folder.is_dir() else None
        try:
            return self._write(schema, table, data, mode="error", partition_by=partition_by)
        except BaseException:
            if not self.exists(schema, table):
                _remove_uncommitted(folder, before)
            raise

    def append(
        self, schema: str, table: str, data: Data, *, metadata: dict[str, str] | None = None
    ) -> int:
        """``metadata`` lands in the commit (e.g. which archive run wrote it), for idempotence."""
        self._open(schema, table)
        return self._write(schema, table, data, mode="append", metadata=metadata)

    def delete_where(self, schema: str, table: str, predicate: str) -> int:
        """Delete the rows matching a Delta (DataFusion SQL) predicate in one commit; returns
        how many went. Only DAP's own code builds predicates (quoted identifiers, literals)."""
        dt = self._open(schema, table)
        try:
            metrics = dt.delete(predicate)
        except DeltaError as e:
            if disk_full(e):
                raise storage_full(f"{schema}.{table}", int(dt.version())) from e
            raise DapError(f"cannot delete from {schema}.{table}: {e}") from e
        return int(metrics.get("num_deleted_rows", 0))

    def last_commit(self, schema: str, table: str) -> dict[str, Any]:
        return dict(self._open(schema, table).history(1)[0])

    def overwrite(self, schema: str, table: str, data: Data) -> int:
        self._open(schema, table)
        return self._write(schema, table, data, mode="overwrite")

    def _write(
        self,
        schema: str,
        table: str,
        data: Data,
        *,
        mode: Literal["error", "append", "overwrite", "ignore"],
        partition_by: Sequence[str] | None = None,
        schema_mode: Literal["overwrite", "merge"] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> int:
        path = str(self.path(schema, table))
        before = self.version(schema, table) if self.exists(schema, table) else None
        try:
            write_deltalake(
                path,
                to_arrow(data),
                mode=mode,
                partition_by=list(partition_by) if partition_by else None,
                schema_mode=schema_mode,
                commit_properties=CommitProperties(custom_metadata=metadata) if metadata else None,
            )
        except SchemaMismatchError as e:
            raise SchemaMismatch(
                f"the data does not match the schema of {schema}.{table}: {e}"
            ) from e
        except (DeltaError, OSError) as e:
            if before is None:
                _remove_if_empty(self.path(schema, table))  # no folder for a table never made
            if disk_full(e):
                raise storage_full(f"{schema}.{table}", before) from e
            raise
        return self.version(schema, table)

    def commit_parquet(
        self,
        schema: str,
        table: str,
        files: Sequence[ParquetFile],
        *,
        mode: Literal["create", "append", "overwrite"],
        schema_arrow: pa.Schema,
    ) -> int:
        """Make Parquet files already written into the table's folder the next version, in one
        Delta commit (``create`` a new table, ``append`` to or ``overwrite`` an existing one).

        The files must hold exactly ``schema_arrow``'s columns (an existing table keeps its own
        schema). Until the commit they are invisible garbage that vacuum removes, so a writer
        killed half-way leaves the table at its previous version. When the commit fails the
        files are deleted here.
        """
        root = self.path(schema, table)
        try:
            actions: list[AddAction | RemoveAction] = [
                _add_action(root, f, schema_arrow) for f in files if f.rows
            ]
            if mode == "create":
                if self.exists(schema, table):
                    raise TableExists(f"lake table {schema}.{table} already exists")
                adds = [a for a in actions if isinstance(a, AddAction)]
                create_table_with_add_actions(
                    str(root), DeltaSchema.from_arrow(schema_arrow), adds, mode="error"
                )
            else:
                dt = self._open(schema, table)
                dt.create_write_transaction(actions, mode, schema=dt.schema())
        except BaseException as e:
            for f in files:
                f.path.unlink(missing_ok=True)
            if isinstance(e, DapError) or not isinstance(e, Exception):
                raise
            if disk_full(e):
                known = self.exists(schema, table) and mode != "create"
                raise storage_full(
                    f"{schema}.{table}", self.version(schema, table) if known else None
                ) from e
            text = str(e).strip().splitlines()
            raise DapError(
                f"cannot commit to {schema}.{table}: {text[0] if text else type(e).__name__}"
            ) from e
        for f in files:
            if not f.rows:  # nothing to commit: no empty files in the table's folder
                f.path.unlink(missing_ok=True)
        return self.version(schema, table)

    def merge(self, schema: str, table: str, data: Data, keys: Sequence[str]) -> dict[str, Any]:
        """Upsert on ``keys``: matching rows are updated, the rest inserted, in one commit."""
        if not keys:
            raise DapError("merge needs at least one key column")
        dt = self._open(schema, table)
        source = to_arrow(data)
        if isinstance(source, pa.RecordBatchReader):
            source = source.read_all()
        missing = [k for k in keys if k not in source.column_names]
        if missing:
            raise SchemaMismatch(f"merge keys {missing} are not columns of the new data")
        predicate = " AND ".join(f'target."{k}" = source."{k}"' for k in keys)
        try:
            metrics = (
                dt.merge(source, predicate, source_alias="source", target_alias="target")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        except (DeltaError, SchemaMismatchError) as e:
            if disk_full(e):
                raise storage_full(f"{schema}.{table}", int(dt.version())) from e
            raise SchemaMismatch(f"cannot merge into {schema}.{table}: {e}") from e
        return dict(metrics)

    # -- reads ------------------------------------------------------------------------------

    def version(self, schema: str, table: str) -> int:
        return int(self._open(schema, table).version())

    def snapshot(self, schema: str, table: str, version: int | datetime | None = None) -> Snapshot:
        dt = self._open(schema, table, version)
        return Snapshot(
            version=int(dt.version()),
            files=list(dt.file_uris()),
            schema=pa.schema(dt.schema().to_arrow()),
            partition_columns=list(dt.metadata().partition_columns),
        )

    def read(self, schema: str, table: str, *, version: int | datetime | None = None) -> pa.Table:
        """Read a whole table, optionally as of a version number or a timestamp (time travel)."""
        return self._open(schema, table, version).to_pyarrow_table()

    def history(self, schema: str, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self._open(schema, table).history(limit))

    def vacuum(self, schema: str, table: str, *, retention_hours: int = 168) -> list[str]:
        """Delete files no longer referenced by versions newer than ``retention_hours``.

        Also files no version ever referenced (a writer killed between writing its Parquet
        files and committing them), once they are ``ORPHAN_HOURS`` old at least: younger ones
        may belong to a load that is about to commit.
        """
        dt = self._open(schema, table)
        removed = dt.vacuum(
            retention_hours=retention_hours, enforce_retention_duration=False, dry_run=False
        )
        removed += dt.vacuum(
            retention_hours=max(retention_hours, ORPHAN_HOURS),
            enforce_retention_duration=False,
            dry_run=False,
            full=True,
        )
        return list(dict.fromkeys(removed))

    def drop(self, schema: str, table: str) -> None:
        path = self.path(schema, table)
        if path.exists():
            shutil.rmtree(path)


def _remove_if_empty(folder: Path) -> None:
    """Remove a table's folder that a failed create left empty."""
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


# -- Delta statistics of Parquet files written by DuckDB -----------------------------------------


def _remove_uncommitted(folder: Path, before: set[Path] | None) -> None:
    """After a first write that never committed: remove what it left in the table's folder
    (its Parquet files, the folder itself if it made it), so a failed create leaves no trace.
    Entries that were there before the write are kept."""
    if not folder.is_dir():
        return
    for entry in set(folder.iterdir()) - (before or set()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if before is None and not any(folder.iterdir()):
        folder.rmdir()


def _add_action(root: Path, file: ParquetFile, schema: pa.Schema) -> AddAction:
    try:
        relative = file.path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError as e:
        raise DapError(f"{file.path} is not inside the table folder {root}") from e
    return AddAction(
        path=relative,
        size=file.size,
        partition_values={},
        modification_time=int(file.path.stat().st_mtime * 1000),
        data_change=True,
        stats=delta_stats(file, schema),
    )


def delta_stats(file: ParquetFile, schema: pa.Schema) -> str:
    """The ``stats`` JSON of a Delta add action (numRecords, minValues, maxValues, nullCount).

    Readers skip files by these bounds, so a bound is written only when it is certainly one:
    exact values, timestamps rounded outwards to the millisecond Delta keeps, decimals only
    when a double holds them exactly, no NaN or infinities, no long text.
    """
    lows: dict[str, Any] = {}
    highs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for f in schema:
        column = file.columns.get(f.name)
        if column is None:
            continue
        if column.null_count is not None:
            nulls[f.name] = column.null_count
        low = _stat_value(column.min, f.type, up=False)
        high = _stat_value(column.max, f.type, up=True)
        if low is not None and high is not None:
            lows[f.name], highs[f.name] = low, high
    return json.dumps(
        {"numRecords": file.rows, "minValues": lows, "maxValues": highs, "nullCount": nulls}
    )


_STAT_TEXT = 64  # longer text gets no bounds (Delta readers truncate anyway)


def _stat_value(text: str | None, t: pa.DataType, *, up: bool) -> Any:
    if text is None:
        return None
    try:
        if pa.types.is_boolean(t):
            return text.lower() in ("true", "1")
        if pa.types.is_integer(t):
            return int(text)
        if pa.types.is_floating(t):
            value = float(text)
            return value if math.isfinite(value) else None
        if pa.types.is_decimal(t):
            return float(Decimal(text)) if t.precision <= 15 else None
        if pa.types.is_date32(t):
            return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
        if pa.types.is_timestamp(t):
            return _stat_timestamp(text, t, up=up)
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return text if len(text) <= _STAT_TEXT else None
    except (ValueError, InvalidOperation, OverflowError):
        return None
    return None


def _stat_timestamp(text: str, t: pa.TimestampType, *, up: bool) -> str | None:
    moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    if t.tz is not None and moment.tzinfo is None:
        return None
    extra = moment.microsecond % 1000
    moment -= timedelta(microseconds=extra)
    if up and extra:
        moment += timedelta(milliseconds=1)  # Delta keeps milliseconds: round the bound out
    if t.tz is not None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
