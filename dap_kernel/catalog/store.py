"""The catalog: what tables exist, where their data lives, what they mean, what is in them.

Lake tables are written through the catalog so a table's Delta version, schema and statistics
stay in step with its data. External sources (files, SQLite/PostgreSQL tables) are registered by
location and read at query time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..connectors.files import sniff_delimiter
from ..engines.base import CLICKHOUSE_KIND, TABLE_ENGINE_OPTION, Binding, Engine
from ..errors import DapError, SourceError, TableExists
from ..lake import Data, Lake, split_name
from ..meta import CatalogColumn, CatalogTable, MetaStore
from ..meta.models import CatalogSchema, PolicyState
from ..meta.store import redact_url
from .models import FILE_KINDS, ColumnInfo, TableInfo, column_info, column_rows, table_info
from .resolve import CatalogBindings
from .stats import EXACT_DISTINCT_ROWS, distinct_counts, merge_column_stats, profile_table

if TYPE_CHECKING:
    from ..engines.clickhouse_native import NativeTable
    from ..governance.secrets import SecretStore

_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "json",
    ".jsonl": "json",
}


class Catalog(CatalogBindings):
    """The tables DAP knows: lake tables written through it, external sources registered by
    location, and what people wrote about them."""

    def __init__(
        self,
        meta: MetaStore,
        lake: Lake,
        engine: Engine,
        secrets: SecretStore | None = None,
        *,
        exact_distinct_rows: int = EXACT_DISTINCT_ROWS,
    ) -> None:
        super().__init__(meta, lake, secrets)
        self.engine = engine  # profiles sources (DuckDB SQL: the workspace's local engine)
        # Tables up to this many rows get exact distinct counts, larger ones estimates.
        self.exact_distinct_rows = exact_distinct_rows

    def _ensure_new(self, schema: str, table: str, replace: bool) -> None:
        if not replace and f"{schema}.{table}" in self.known_names():
            raise TableExists(f"table {schema}.{table} already exists in the catalog")

    # -- lake tables ------------------------------------------------------------------------

    def discard_unregistered(self, name: str) -> bool:
        """Remove a lake table the catalog never registered, before creating one of that name.

        A writer killed between its lake commit and registering the table here leaves a table
        no one can query, and without this every rerun of the same CREATE or ingest would fail
        with "already exists". It is removed, not overwritten: its history would stay reachable
        by time travel, holding what that writer (maybe someone else) could read.
        """
        schema, table = split_name(name)
        if not self.lake.exists(schema, table) or f"{schema}.{table}" in self.known_names():
            return False
        self.lake.drop(schema, table)
        return True

    def create_table(
        self,
        name: str,
        data: Data,
        *,
        description: str = "",
        owner: str = "",
        tags: Iterable[str] = (),
        column_descriptions: dict[str, str] | None = None,
        column_tags: dict[str, list[str]] | None = None,
        replace: bool = False,
    ) -> TableInfo:
        """Write ``data`` as a new Delta table and register it, with statistics."""
        schema, table = split_name(name)
        self._ensure_new(schema, table, replace)
        self.discard_unregistered(name)
        new = not self.lake.exists(schema, table)
        version = self.lake.create(schema, table, data, exist_ok=replace)
        try:
            return self._register(
                schema,
                table,
                kind="delta",
                # Relative to the lake root, so moving or restoring DAP_HOME keeps it valid.
                location=f"lake:{schema}/{table}",
                version=version,
                description=description,
                owner=owner,
                tags=list(tags),
                column_descriptions=column_descriptions or {},
                column_tags=column_tags or {},
                options={},
            )
        except Exception:
            # The data was committed but the catalog cannot take it (the engine cannot read
            # what Delta wrote, say): a table only the lake knows would be a half-written one.
            # (A process killed here leaves it instead: the next create of the name removes it,
            # discard_unregistered above.)
            if new and f"{schema}.{table}" not in self.known_names():
                self.lake.drop(schema, table)
            raise

    def write(
        self,
        name: str,
        data: Data,
        mode: Literal["append", "overwrite", "merge"] = "append",
        *,
        keys: Sequence[str] = (),
    ) -> TableInfo:
        """Append, overwrite or merge into a registered lake table; one Delta commit."""
        schema, table = split_name(name)
        info = self.get(name)
        if info.kind != "delta":
            raise DapError(f"{info.qualified_name} is an external {info.kind} source, not writable")
        if mode == "append":
            self.lake.append(schema, table, data)
        elif mode == "overwrite":
            self.lake.overwrite(schema, table, data)
        elif mode == "merge":
            self.lake.merge(schema, table, data, keys)
        else:
            raise DapError(f"unknown write mode {mode!r}: use append, overwrite or merge")
        return self.refresh(name)

    # -- external sources -------------------------------------------------------------------

    def register_file(
        self,
        name: str,
        path: str | Path,
        *,
        format: str | None = None,
        options: dict[str, Any] | None = None,
        description: str = "",
        owner: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        """Register a CSV, Parquet or JSON file (or a glob of them) as a catalog table."""
        schema, table = split_name(name)
        location = str(Path(path).expanduser())
        kind = format or _EXTENSIONS.get(Path(location.removesuffix(".gz")).suffix.lower())
        if kind not in FILE_KINDS:
            raise SourceError(
                f"cannot tell the format of {location}: pass format= one of {', '.join(FILE_KINDS)}"
            )
        has_glob = any(ch in location for ch in "*?[")
        if not has_glob and not Path(location).exists():
            raise SourceError(f"file not found: {location}")
        location = location if has_glob else str(Path(location).resolve())
        opts = dict(options or {})
        if kind == "csv" and "delim" not in opts and not has_glob:
            delimiter = sniff_delimiter(Path(location))
            if delimiter:
                # An explicit delimiter makes ragged rows an error instead of letting the
                # sniffer fall back to reading each whole line as one text column.
                opts["delim"] = delimiter
        self._ensure_new(schema, table, replace)
        return self._register(
            schema,
            table,
            kind=kind,
            location=location,
            version=0,
            description=description,
            owner=owner,
            tags=list(tags),
            options=opts,
        )

    def register_database_table(
        self,
        name: str,
        url: str,
        source_table: str,
        *,
        description: str = "",
        owner: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        """Register a table of a SQLite or PostgreSQL database by SQLAlchemy URL."""
        schema, table = split_name(name)
        kind = "sqlite" if url.startswith("sqlite") else "postgres" if "postgres" in url else None
        if kind is None:
            raise SourceError(
                f"unsupported database URL {redact_url(url)}: use sqlite or postgresql"
            )
        self._ensure_new(schema, table, replace)
        options: dict[str, Any] = {"table": source_table}
        location = url
        if redact_url(url) != url:
            # The password goes to the secret store; the catalog keeps the redacted URL.
            if self.secrets is None:
                raise SourceError("a database URL with a password needs the secret store")
            options["secret"] = f"source:{schema}.{table}"
            self.secrets.put(options["secret"], url)
            location = redact_url(url)
        try:
            return self._register(
                schema,
                table,
                kind=kind,
                location=location,
                version=0,
                description=description,
                owner=owner,
                tags=list(tags),
                options=options,
            )
        except DapError:
            if "secret" in options and self.secrets is not None:
                self.secrets.delete(options["secret"])  # nothing half-registered stays behind
            raise

    def register_clickhouse_table(
        self,
        name: str,
        location: str,
        native: NativeTable,
        *,
        description: str = "",
        owner: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo:
        """Register ``location`` (``database.table``) of the workspace's ClickHouse server as
        described there (:mod:`dap_kernel.engines.clickhouse_native`); its statements run on
        the clickhouse engine. One catalog name per server table: a second name would be a
        second set of rules for the same rows."""
        schema, table = split_name(name)
        self._ensure_new(schema, table, replace)
        self._refuse_second_name(location, schema, table)
        # DuckDB's names of the column types, as every other table shows them.
        empty = Binding(schema, table, "arrow", "", "describe", arrow=native.schema.empty_table())
        _, typed = profile_table(self.engine, empty, "arrow", distinct=False)
        columns = []
        for column in typed:
            st = native.stats.get(column.name)
            columns.append(
                column
                if st is None
                else dataclasses.replace(
                    column,
                    null_count=native.rows - st.values,
                    distinct_count=st.distinct,
                    distinct_approx=native.distinct_approx,
                    min_value=st.minimum,
                    max_value=st.maximum,
                )
            )
        try:
            return self._register(
                schema,
                table,
                kind=CLICKHOUSE_KIND,
                location=location,
                version=0,
                description=description,
                owner=owner,
                tags=list(tags),
                options={TABLE_ENGINE_OPTION: "clickhouse"},
                profile=(native.rows, columns),
            )
        except IntegrityError:
            # Registered meanwhile by someone else: the database's unique index (0017) or name.
            self._refuse_second_name(location, schema, table)
            raise TableExists(f"table {schema}.{table} already exists in the catalog") from None

    def _refuse_second_name(self, location: str, schema: str, table: str) -> None:
        with self.meta.session() as s:
            taken = s.execute(
                select(CatalogTable.schema_name, CatalogTable.name).where(
                    CatalogTable.kind == CLICKHOUSE_KIND, CatalogTable.location == location
                )
            ).first()
        if taken is not None and (taken[0], taken[1]) != (schema, table):
            raise DapError(
                f"ClickHouse table {location} is registered already, as {taken[0]}.{taken[1]}"
            )

    # -- registration and statistics ---------------------------------------------------------

    def _register(
        self,
        schema: str,
        table: str,
        *,
        kind: str,
        location: str,
        version: int,
        description: str,
        owner: str,
        tags: list[str],
        options: dict[str, Any],
        column_descriptions: dict[str, str] | None = None,
        column_tags: dict[str, list[str]] | None = None,
        profile: tuple[int, list[ColumnInfo]] | None = None,
    ) -> TableInfo:
        if profile is None:
            probe = CatalogTable(
                schema_name=schema,
                name=table,
                kind=kind,
                location=location,
                version=version,
                options=options,
            )
            # Read the source before touching the metadata: a bad file registers nothing.
            profile = self._profile(self._binding(probe), kind)
        row_count, columns = profile
        with self.meta.session() as s:
            row = s.execute(
                select(CatalogTable).where(
                    CatalogTable.schema_name == schema, CatalogTable.name == table
                )
            ).scalar_one_or_none()
            if row is None:
                row = CatalogTable(schema_name=schema, name=table)
                s.add(row)
            row.kind, row.location, row.options, row.version = kind, location, options, version
            row.description, row.owner, row.tags = description, owner, tags
            row.row_count = row_count
            row.updated_at = datetime.now(UTC)
            row.columns.clear()
            s.flush()  # delete replaced column rows before inserting their successors
            row.columns = column_rows(columns, column_descriptions or {}, column_tags or {})
            _bump_policy_version(s)
            s.flush()
            return table_info(row)

    def _profile(self, binding: Binding, kind: str) -> tuple[int, list[ColumnInfo]]:
        return profile_table(
            self.engine, binding, kind, exact_distinct_rows=self.exact_distinct_rows
        )

    def refresh(self, name: str) -> TableInfo:
        """Re-read version, schema and statistics after the data changed."""
        schema, table = split_name(name)
        with self.meta.session() as s:
            row = self._row(s, name)
            if row.kind == "delta":
                row.version = self.lake.version(schema, table)
            if row.kind == CLICKHOUSE_KIND:  # described by its server, not by DuckDB
                raise DapError(
                    f"{schema}.{table} is a ClickHouse table: register it again with "
                    f"--replace (clickhouse:{row.location}) to refresh its statistics"
                )
            binding = self._binding(row)
            row_count, columns = self._profile(binding, row.kind)
            old = {c.name: c for c in row.columns}
            row.columns.clear()
            s.flush()  # delete the old column rows before inserting their successors
            row.row_count = row_count
            row.updated_at = datetime.now(UTC)
            row.columns = column_rows(
                columns,
                {name: c.description for name, c in old.items()},
                {name: list(c.tags or []) for name, c in old.items()},
            )
            _bump_policy_version(s)
            s.flush()
            return table_info(row)

    def register_committed(
        self,
        name: str,
        version: int,
        row_count: int,
        columns: Sequence[ColumnInfo],
        *,
        mode: Literal["create", "append", "overwrite"],
        description: str = "",
        owner: str = "",
        tags: Iterable[str] = (),
        recount: bool = True,
    ) -> TableInfo:
        """Record a lake commit made outside :meth:`create_table`/:meth:`write` (ingestion's
        Parquet files), with the statistics the writer measured instead of a rescan.

        ``row_count`` and ``columns`` describe the rows of that commit: ``create`` and
        ``overwrite`` take them as the table's, ``append`` adds them to the statistics of the
        version before (row and null counts add up, min/max widen). Distinct counts neither
        come from the writer nor add up, so one pass over the committed version counts them
        exactly (up to :attr:`exact_distinct_rows` rows). An append that leaves the table
        larger than that, or that asks for no ``recount`` (a stream, whose batches come every
        second, recounts now and then), keeps the counts of the version before, marked as
        estimates: they are a lower bound of the new ones, until the next recount or
        :meth:`refresh`. An append on top of a version the catalog did not profile falls back
        to :meth:`refresh`.
        """
        schema, table = split_name(name)
        if mode == "create":
            self._ensure_new(schema, table, replace=False)
            return self._register(
                schema,
                table,
                kind="delta",
                location=f"lake:{schema}/{table}",
                version=version,
                description=description,
                owner=owner,
                tags=list(tags),
                options={},
                profile=(
                    row_count,
                    self._with_distinct(schema, table, version, row_count, columns),
                ),
            )
        with self.meta.session() as s:
            row = self._row(s, name)
            if row.kind != "delta":
                raise DapError(f"{schema}.{table} is an external {row.kind} source")
            old = {c.name: c for c in row.columns}
            if mode == "append" and row_count == 0 and not columns:
                # An empty commit (a stream batch that all went to the quarantine) adds nothing:
                # the columns, their descriptions and tags — which tag masks read — stay.
                if row.version == version - 1:
                    row.version = version
                    row.updated_at = datetime.now(UTC)
                    s.flush()
                    return table_info(row)
                return self.refresh(name)
            if mode == "append":
                known = row.row_count is not None and row.version == version - 1
                merged = [merge_column_stats(column_info(old.get(c.name)), c) for c in columns]
                if not known or any(c is None for c in merged):
                    stale = True
                else:
                    stale = False
                    row_count += int(row.row_count or 0)
                    columns = [c for c in merged if c is not None]
            else:
                stale = False
            if not stale:
                if mode != "append" or (recount and row_count <= self.exact_distinct_rows):
                    columns = self._with_distinct(schema, table, version, row_count, columns)
                else:  # the counts of the version before: a lower bound, so an estimate
                    columns = [_carried(c, old.get(c.name)) for c in columns]
                row.version = version
                row.row_count = row_count
                row.updated_at = datetime.now(UTC)
                row.columns.clear()
                s.flush()  # delete the old column rows before inserting their successors
                row.columns = column_rows(
                    list(columns),
                    {n: c.description for n, c in old.items()},
                    {n: list(c.tags or []) for n, c in old.items()},
                )
                _bump_policy_version(s)
                s.flush()
                return table_info(row)
        return self.refresh(name)

    def _with_distinct(
        self, schema: str, table: str, version: int, rows: int, columns: Sequence[ColumnInfo]
    ) -> list[ColumnInfo]:
        """``columns`` of lake table version ``version`` with their distinct counts measured."""
        if not rows or all(c.distinct_count is not None for c in columns):
            return list(columns)
        probe = CatalogTable(
            schema_name=schema,
            name=table,
            kind="delta",
            location=f"lake:{schema}/{table}",
            version=version,
            options={},
        )
        return distinct_counts(
            self.engine,
            self._binding(probe),
            columns,
            rows,
            exact_distinct_rows=self.exact_distinct_rows,
        )

    def set_option(self, name: str, key: str, value: Any) -> TableInfo:
        """Keep a table setting (e.g. its retention policy) with the table; None removes it.

        The policy reads options (an archive is governed by the table it archives), so a
        change refreshes every policy snapshot.
        """
        with self.meta.session() as s:
            row = self._row(s, name)
            options = dict(row.options or {})
            if value is None:
                options.pop(key, None)
            else:
                options[key] = value
            row.options = options  # a new dict, so SQLAlchemy sees the JSON change
            _bump_policy_version(s)
            s.flush()
            return table_info(row)

    def set_schema_option(self, schema: str, key: str, value: Any) -> dict[str, Any]:
        """Keep a setting the tables of ``schema`` follow (their engine); None removes it.

        Catalog rows as the query path reads them carry their schema's settings
        (:meth:`lookup`), so a change bumps the metadata version they are kept under.
        """
        with self.meta.session() as s:
            row = s.get(CatalogSchema, schema) or CatalogSchema(name=schema, options={})
            options = dict(row.options or {})
            if value is None:
                options.pop(key, None)
            else:
                options[key] = value
            row.options, row.updated_at = options, datetime.now(UTC)
            s.add(row)
            _bump_policy_version(s)
            return options

    def schema_options(self, schema: str) -> dict[str, Any]:
        """The settings of ``schema`` (empty when none were made)."""
        with self.meta.session() as s:
            row = s.get(CatalogSchema, schema)
            return dict(row.options or {}) if row is not None else {}

    def describe_table(
        self,
        name: str,
        *,
        description: str | None = None,
        owner: str | None = None,
        tags: Iterable[str] | None = None,
        columns: dict[str, str] | None = None,
    ) -> TableInfo:
        """Set documentation: table description, owner, tags and column descriptions."""
        with self.meta.session() as s:
            row = self._row(s, name)
            if description is not None:
                row.description = description
            if owner is not None and owner != row.owner:
                row.owner = owner
                _bump_policy_version(s)  # the owner of a table reads its quarantine
            if tags is not None:
                row.tags = list(tags)
            for column in row.columns:
                if columns and column.name in columns:
                    column.description = columns[column.name]
            s.flush()
            return table_info(row)

    def drop(self, name: str, *, purge: bool = False) -> None:
        """Remove a table from the catalog; ``purge`` also deletes a lake table's files."""
        schema, table = split_name(name)
        with self.meta.session() as s:
            row = self._row(s, name)
            kind = row.kind
            secret = (row.options or {}).get("secret")
            s.delete(row)
            _bump_policy_version(s)
        if secret and self.secrets is not None:
            self.secrets.delete(secret)
        if purge and kind == "delta":
            self.lake.drop(schema, table)


def _carried(column: ColumnInfo, before: CatalogColumn | None) -> ColumnInfo:
    """``column`` after an append that did not recount: the distinct count of the version
    before (a lower bound of the new one), marked as an estimate; unknown if there was none."""
    if before is None or before.distinct_count is None:
        return column
    return dataclasses.replace(column, distinct_count=before.distinct_count, distinct_approx=True)


def _bump_policy_version(session: Session) -> None:
    """Masks project a table's columns: a schema change must refresh every policy snapshot."""
    session.execute(update(PolicyState).values(version=PolicyState.version + 1))
