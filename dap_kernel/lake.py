"""The lake: Delta Lake tables under ``DAP_HOME/lake``, one folder per ``schema/table``.

Every write is a single Delta commit, so a reader sees either all of it or none of it, and a
failed write leaves the previous version intact. Readers get the files of one snapshot, which
the engine scans directly.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, SchemaMismatchError, TableNotFoundError

from .errors import DapError, SchemaMismatch, TableExists, UnknownTable

Data: TypeAlias = pa.Table | pl.DataFrame | pa.RecordBatchReader
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_name(name: str, what: str = "table") -> str:
    """Lake names become folder names: allow plain identifiers only."""
    if not _NAME.match(name):
        raise DapError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    return name


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
            except (DeltaError, ValueError) as e:
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
        return self._write(schema, table, data, mode="error", partition_by=partition_by)

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
        """Delete files no longer referenced by versions newer than ``retention_hours``."""
        dt = self._open(schema, table)
        return list(
            dt.vacuum(
                retention_hours=retention_hours,
                enforce_retention_duration=False,
                dry_run=False,
            )
        )

    def drop(self, schema: str, table: str) -> None:
        path = self.path(schema, table)
        if path.exists():
            shutil.rmtree(path)
