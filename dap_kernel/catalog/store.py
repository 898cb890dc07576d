"""The catalog: what tables exist, where their data lives, what they mean, what is in them.

Lake tables are written through the catalog so a table's Delta version, schema and statistics
stay in step with its data. External sources (files, SQLite/PostgreSQL tables) are registered by
location and read at query time.
"""

from __future__ import annotations

import difflib
import json
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import pyarrow as pa
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..connectors.files import sniff_delimiter
from ..connectors.sql import read_sql
from ..engines.base import Binding
from ..engines.duckdb import DuckDBEngine, quote_ident
from ..errors import DapError, QueryFailed, QueryRefused, SourceError, TableExists, UnknownTable
from ..lake import ColumnStats, Data, Lake, ParquetFile, check_name
from ..lake import split_name as split_name  # the catalog's names are the lake's
from ..meta import CatalogColumn, CatalogTable, MetaStore
from ..meta.models import PolicyState
from ..meta.store import redact_url

if TYPE_CHECKING:
    from ..governance.rewrite import Travel
    from ..governance.secrets import SecretStore

FILE_KINDS = ("parquet", "csv", "json")
DATABASE_KINDS = ("sqlite", "postgres")
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


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    data_type: str
    nullable: bool = True
    description: str = ""
    tags: list[str] = field(default_factory=list)
    null_count: int | None = None
    distinct_count: int | None = None
    min_value: str | None = None
    max_value: str | None = None


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str
    location: str
    description: str
    owner: str
    tags: list[str]
    row_count: int | None
    version: int
    updated_at: datetime
    columns: list[ColumnInfo]
    # How DAP reads or keeps it (reader options, retention policy); not shown to users.
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def rows_label(self) -> str:
        """``1,234 rows``, or that the count is not shown (hidden by a row filter, unknown)."""
        return "row count not shown" if self.row_count is None else f"{self.row_count:,} rows"

    def columns_frame(self) -> pl.DataFrame:
        """The columns with their statistics, as shown by ``dap catalog show`` and
        ``%dap describe``."""
        return pl.DataFrame(
            [
                {
                    "column": c.name,
                    "type": c.data_type,
                    "nulls": c.null_count,
                    "distinct": c.distinct_count,
                    "min": c.min_value,
                    "max": c.max_value,
                    "tags": ", ".join(c.tags),
                    "description": c.description,
                }
                for c in self.columns
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("options")
        data["name"] = self.qualified_name
        data["table"] = self.name
        data["updated_at"] = self.updated_at.isoformat()
        return data


def _info(row: CatalogTable) -> TableInfo:
    location = redact_url(row.location) if row.kind in DATABASE_KINDS else row.location
    return TableInfo(
        schema=row.schema_name,
        name=row.name,
        kind=row.kind,
        location=location,
        description=row.description,
        owner=row.owner,
        tags=list(row.tags or []),
        row_count=row.row_count,
        version=row.version,
        updated_at=row.updated_at,
        columns=[
            ColumnInfo(
                name=c.name,
                data_type=c.data_type,
                nullable=c.nullable,
                description=c.description,
                tags=list(c.tags or []),
                null_count=c.null_count,
                distinct_count=c.distinct_count,
                min_value=c.min_value,
                max_value=c.max_value,
            )
            for c in row.columns
        ],
        options=dict(row.options or {}),
    )


class Catalog:
    def __init__(
        self,
        meta: MetaStore,
        lake: Lake,
        engine: DuckDBEngine,
        secrets: SecretStore | None = None,
    ) -> None:
        self.meta = meta
        self.secrets = secrets
        self.lake = lake
        self.engine = engine
        self._files: dict[tuple[str, int], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    # -- lookups ----------------------------------------------------------------------------

    def known_names(self) -> set[str]:
        with self.meta.session() as s:
            rows = s.execute(select(CatalogTable.schema_name, CatalogTable.name)).all()
        return {f"{schema}.{name}" for schema, name in rows}

    def _row(self, s: Session, name: str) -> CatalogTable:
        schema, table = split_name(name)
        row = s.execute(
            select(CatalogTable).where(
                CatalogTable.schema_name == schema, CatalogTable.name == table
            )
        ).scalar_one_or_none()
        if row is None:
            known = sorted(self.known_names())
            close = difflib.get_close_matches(f"{schema}.{table}", known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownTable(f"table {schema}.{table} is not in the catalog{hint}")
        return row

    def get(self, name: str) -> TableInfo:
        with self.meta.session() as s:
            return _info(self._row(s, name))

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        with self.meta.session() as s:
            query = select(CatalogTable).order_by(CatalogTable.schema_name, CatalogTable.name)
            if schema:
                query = query.where(CatalogTable.schema_name == schema)
            return [_info(r) for r in s.execute(query).scalars()]

    def search(self, term: str) -> list[TableInfo]:
        """Tables whose name, description, tags or columns (name, description, tags) match.

        Matched in Python over one read of the catalog: tags are JSON lists, and this way
        SQLite and PostgreSQL behave the same.
        """
        needle = term.strip().lower()
        tables = self.list_tables()
        if not needle:
            return tables

        def texts(t: TableInfo) -> list[str]:
            found = [t.qualified_name, t.description, *t.tags]
            for c in t.columns:
                found += [c.name, c.description, *c.tags]
            return found

        return [t for t in tables if any(needle in x.lower() for x in texts(t))]

    # -- engine bindings (the query path) -----------------------------------------------------

    def lookup(self, qualified: Sequence[str]) -> dict[str, Any]:
        """Catalog rows (without columns) for lower-cased ``schema.table`` names, in one query.

        This is the only metadata read on the query path: plain driver SQL, which skips
        SQLAlchemy's statement compilation (most of the cost of such a small query).
        """
        if not qualified:
            return {}
        mark = "?" if self.meta.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "SELECT schema_name, name, kind, location, options, version FROM catalog_tables "
            "WHERE lower(schema_name) || '.' || lower(name) IN "
            f"({', '.join(mark for _ in qualified)})"
        )
        with self.meta.engine.connect() as con:
            rows = con.exec_driver_sql(sql, tuple(qualified)).all()
        return {
            f"{r.schema_name}.{r.name}".lower(): _LookupRow(
                r.schema_name,
                r.name,
                r.kind,
                r.location,
                json.loads(r.options) if isinstance(r.options, str) else (r.options or {}),
                r.version,
            )
            for r in rows
        }

    def resolver(self) -> CatalogResolver:
        return CatalogResolver(self)

    def bindings(self, names: Sequence[str]) -> list[Binding]:
        rows = self.lookup([n.lower() for n in names])
        return [self._binding(r) for r in rows.values()]

    def _binding(self, row: Any) -> Binding:
        if row.kind == "delta":
            files = self._snapshot_files(row.schema_name, row.name, row.version)
            if not files:  # an empty table has no data files for the engine to scan
                return Binding(
                    schema=row.schema_name,
                    name=row.name,
                    kind="delta",
                    location=row.location,
                    signature=f"delta:{row.version}",
                    arrow=self.lake.read(row.schema_name, row.name, version=row.version),
                )
            return Binding(
                schema=row.schema_name,
                name=row.name,
                kind="delta",
                location=row.location,
                signature=f"delta:{row.version}",
                files=files,
                options=row.options or {},
            )
        if row.kind in DATABASE_KINDS:
            return Binding(
                schema=row.schema_name,
                name=row.name,
                kind=row.kind,
                location=row.location,
                # A live database can change at any time: read it afresh for every query.
                signature=f"db:{uuid.uuid4()}",
                arrow=read_sql(self._source_url(row), row.options["table"]).to_table(),
            )
        glob = any(ch in row.location for ch in "*?[")
        if not glob and not Path(row.location).exists():
            raise SourceError(
                f"the source of {row.schema_name}.{row.name} is gone: {row.location} "
                "does not exist any more"
            )
        return Binding(
            schema=row.schema_name,
            name=row.name,
            kind=row.kind,
            location=row.location,
            signature=f"{row.kind}:{row.location}:{row.version}",
            options=row.options or {},
        )

    def binding_at(self, travel: Travel) -> Binding:
        """A lake table as it was at a past version or time, under an engine schema of its own
        (``"main@v3".orders``), so no one else's view of the current table changes."""
        schema, table = split_name(travel.table)
        row = self.lookup([travel.table.lower()]).get(travel.table.lower())
        if row is None:
            raise UnknownTable(f"table {travel.table} does not exist in the catalog")
        if row.kind != "delta":
            raise QueryRefused(
                f"{travel.table} is an external {row.kind} source: only lake tables keep history"
            )
        point: int | datetime = (
            int(travel.value) if travel.kind == "version" else parse_timestamp(travel.value)
        )
        snapshot = self.lake.snapshot(schema, table, point)
        gone = [f for f in snapshot.files if not Path(f.removeprefix("file://")).exists()]
        if gone:
            raise DapError(
                f"version {snapshot.version} of {travel.table} is gone: its files were "
                "vacuumed by the table's retention policy"
            )
        common = {
            "schema": travel.engine_schema,
            "name": row.name,
            "kind": "delta",
            "location": row.location,
            "signature": f"delta:{snapshot.version}",
        }
        if not snapshot.files:
            arrow = self.lake.read(schema, table, version=snapshot.version)
            return Binding(**common, arrow=arrow)
        return Binding(**common, files=tuple(snapshot.files), options=row.options or {})

    def _source_url(self, row: Any) -> str:
        """The database URL with its password, decrypted only for the moment of reading."""
        secret = (row.options or {}).get("secret")
        if not secret:
            return str(row.location)
        if self.secrets is None:
            raise SourceError(f"{row.schema_name}.{row.name} needs a secret store to read")
        return self.secrets.get(secret)

    def _ensure_new(self, schema: str, table: str, replace: bool) -> None:
        if not replace and f"{schema}.{table}" in self.known_names():
            raise TableExists(f"table {schema}.{table} already exists in the catalog")

    def _snapshot_files(self, schema: str, name: str, version: int) -> tuple[str, ...]:
        key = (f"{schema}.{name}", version)
        with self._lock:
            files = self._files.get(key)
        if files is None:
            files = tuple(self.lake.snapshot(schema, name, version).files)
            with self._lock:
                self._files[key] = files
        return files

    # -- lake tables ------------------------------------------------------------------------

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
        version = self.lake.create(schema, table, data, exist_ok=replace)
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
            row.columns = _column_rows(columns, column_descriptions or {}, column_tags or {})
            _bump_policy_version(s)
            s.flush()
            return _info(row)

    def refresh(self, name: str) -> TableInfo:
        """Re-read version, schema and statistics after the data changed."""
        schema, table = split_name(name)
        with self.meta.session() as s:
            row = self._row(s, name)
            if row.kind == "delta":
                row.version = self.lake.version(schema, table)
            binding = self._binding(row)
            row_count, columns = self._profile(binding, row.kind)
            old = {c.name: c for c in row.columns}
            row.columns.clear()
            s.flush()  # delete the old column rows before inserting their successors
            row.row_count = row_count
            row.updated_at = datetime.now(UTC)
            row.columns = _column_rows(
                columns,
                {name: c.description for name, c in old.items()},
                {name: list(c.tags or []) for name, c in old.items()},
            )
            _bump_policy_version(s)
            s.flush()
            return _info(row)

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
    ) -> TableInfo:
        """Record a lake commit made outside :meth:`create_table`/:meth:`write` (ingestion's
        Parquet files), with the statistics the writer measured instead of a rescan.

        ``row_count`` and ``columns`` describe the rows of that commit: ``create`` and
        ``overwrite`` take them as the table's, ``append`` adds them to the statistics of the
        version before (row and null counts add up, min/max widen). Distinct counts are not
        measured by the writer, so they are None (unknown) until :meth:`refresh`. An append
        on top of a version the catalog did not profile falls back to :meth:`refresh`.
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
                profile=(row_count, list(columns)),
            )
        with self.meta.session() as s:
            row = self._row(s, name)
            if row.kind != "delta":
                raise DapError(f"{schema}.{table} is an external {row.kind} source")
            old = {c.name: c for c in row.columns}
            if mode == "append":
                known = row.row_count is not None and row.version == version - 1
                merged = [merge_column_stats(_info_column(old.get(c.name)), c) for c in columns]
                if not known or any(c is None for c in merged):
                    stale = True
                else:
                    stale = False
                    row_count += int(row.row_count or 0)
                    columns = [c for c in merged if c is not None]
            else:
                stale = False
            if not stale:
                row.version = version
                row.row_count = row_count
                row.updated_at = datetime.now(UTC)
                row.columns.clear()
                s.flush()  # delete the old column rows before inserting their successors
                row.columns = _column_rows(
                    list(columns),
                    {n: c.description for n, c in old.items()},
                    {n: list(c.tags or []) for n, c in old.items()},
                )
                _bump_policy_version(s)
                s.flush()
                return _info(row)
        return self.refresh(name)

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
            return _info(row)

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
            return _info(row)

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

    def _profile(self, binding: Binding, kind: str) -> tuple[int, list[ColumnInfo]]:
        """Row count and per-column statistics, computed by the engine over the real data."""
        probe = Binding(
            schema="__dap_profile",
            name=f"t_{uuid.uuid4().hex[:12]}",
            kind=binding.kind,
            location=binding.location,
            signature=binding.signature,
            files=binding.files,
            arrow=binding.arrow,
            options=binding.options,
        )
        target = self.engine.relation(probe.schema, probe.name)
        try:
            self.engine.bind([probe])
            described = self.engine.execute_internal(f"DESCRIBE {target}").to_pylist()
        except QueryFailed as e:
            raise SourceError(f"cannot read {binding.location} as {kind}: {e}") from e
        stats: list[str] = ["count(*)"]
        for col in described:
            q = quote_ident(col["column_name"])
            nested = any(t in col["column_type"] for t in ("STRUCT", "[]", "MAP", "UNION"))
            stats.append(f"count({q})")
            stats.append("NULL" if nested else f"approx_count_distinct({q})")
            stats.append("NULL" if nested else f"min({q})::VARCHAR")
            stats.append("NULL" if nested else f"max({q})::VARCHAR")
        try:
            values = self.engine.execute_internal(
                # Each statistic under its own name: repeated NULLs must not share a key.
                f"SELECT {', '.join(f'{e} AS s{i}' for i, e in enumerate(stats))} FROM {target}"
            ).to_pylist()[0]
        except QueryFailed as e:
            raise SourceError(f"cannot read {binding.location} as {kind}: {e}") from e
        finally:
            self.engine.unbind(probe)
        row_values = list(values.values())
        rows = int(row_values[0])
        columns = []
        for i, col in enumerate(described):
            non_null, distinct, low, high = row_values[1 + 4 * i : 5 + 4 * i]
            columns.append(
                ColumnInfo(
                    name=col["column_name"],
                    data_type=col["column_type"],
                    nullable=col.get("null", "YES") != "NO",
                    null_count=rows - int(non_null),
                    distinct_count=None if distinct is None else int(distinct),
                    min_value=_clip(low),
                    max_value=_clip(high),
                )
            )
        return rows, columns


@dataclass(frozen=True)
class _LookupRow:
    schema_name: str
    name: str
    kind: str
    location: str
    options: dict[str, Any]
    version: int


class InputResolver:
    """The catalog plus tables handed to one statement (a pipeline's batch as ``input``).

    Inputs are the caller's own data, not catalog tables: they win over a catalog table of
    the same unqualified name, need no grant, and live in an engine schema of their own for
    that one statement.
    """

    def __init__(self, inner: CatalogResolver, inputs: dict[str, pa.Table], tag: str) -> None:
        self.inner = inner
        self.schema = f"_input_{tag}"
        self.inputs = {name.lower(): table for name, table in inputs.items()}
        for name in self.inputs:
            check_name(name, "input")
        self.input_tables = {f"{self.schema}.{name}" for name in self.inputs}

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        mine = {
            q: f"{self.schema}.{q.split('.', 1)[1]}"
            for q in qualified
            if q.startswith("main.") and q.split(".", 1)[1] in self.inputs
        }
        rest = [q for q in qualified if q not in mine]
        return {**(self.inner.resolve(rest) if rest else {}), **mine}

    def all_names(self) -> Collection[str]:
        return [*self.inner.all_names(), *self.inputs]

    def bindings(self) -> list[Binding]:
        return self.inner.bindings() + self.input_bindings()

    def input_bindings(self) -> list[Binding]:
        return [
            Binding(
                schema=self.schema,
                name=name,
                kind="arrow",
                location="input",
                signature=f"{self.schema}:{name}",
                arrow=table,
            )
            for name, table in self.inputs.items()
        ]


class CatalogResolver:
    """Resolves a statement's table names and keeps the rows, so binding needs no second read."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.rows: dict[str, Any] = {}
        self._resolved: dict[tuple[str, ...], dict[str, str]] = {}

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        key = tuple(qualified)
        if key not in self._resolved:  # one statement may ask twice (check, then secure)
            rows = self.catalog.lookup(qualified)
            self.rows.update(rows)
            self._resolved[key] = {k: f"{r.schema_name}.{r.name}" for k, r in rows.items()}
        return dict(self._resolved[key])

    def all_names(self) -> Collection[str]:
        return self.catalog.known_names()

    def bindings(self) -> list[Binding]:
        return [self.catalog._binding(row) for row in self.rows.values()]


def _info_column(row: CatalogColumn | None) -> ColumnInfo | None:
    if row is None:
        return None
    return ColumnInfo(
        name=row.name,
        data_type=row.data_type,
        nullable=row.nullable,
        null_count=row.null_count,
        distinct_count=row.distinct_count,
        min_value=row.min_value,
        max_value=row.max_value,
    )


_INTEGERS = frozenset(
    [
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    ]
)


def _order(data_type: str, value: str | None) -> Any:
    """A value as printed by DuckDB, as something that sorts like the value (None: cannot)."""
    if value is None or value.endswith("…"):  # clipped text is no bound
        return None
    kind = data_type.upper()
    try:
        if kind in _INTEGERS:
            return int(value)
        if kind in ("DOUBLE", "FLOAT", "REAL"):
            return float(value)
        if kind.startswith("DECIMAL"):
            return Decimal(value)
    except (ValueError, InvalidOperation):
        return None
    # Text, dates, timestamps (ISO, same zone) and true/false sort as their text does.
    return value


def merge_column_stats(a: ColumnInfo | None, b: ColumnInfo | None) -> ColumnInfo | None:
    """The statistics of one column over the rows of both ``a`` and ``b`` (same type), or None
    when they cannot be combined. Distinct counts do not add up: the result has none."""
    if a is None or b is None or a.data_type != b.data_type:
        return None

    def pick(x: str | None, y: str | None, low: bool) -> str | None:
        kx, ky = _order(a.data_type, x), _order(a.data_type, y)
        if kx is None or ky is None:
            return x if y is None and kx is not None else y if x is None else None
        return (x if kx <= ky else y) if low else (x if kx >= ky else y)

    nulls = None if a.null_count is None or b.null_count is None else a.null_count + b.null_count
    return ColumnInfo(
        name=a.name,
        data_type=a.data_type,
        nullable=a.nullable or b.nullable,
        null_count=nulls,
        distinct_count=None,
        min_value=pick(a.min_value, b.min_value, True),
        max_value=pick(a.max_value, b.max_value, False),
    )


def written_stats(files: Sequence[ParquetFile], types: Mapping[str, str]) -> list[ColumnInfo]:
    """Column statistics of freshly written Parquet files, from their writer's measurements
    (``types``: column → DuckDB type name, in table order)."""
    columns: list[ColumnInfo] = []
    for name, data_type in types.items():
        merged: ColumnInfo | None = ColumnInfo(name=name, data_type=data_type, null_count=0)
        for f in files:
            if not f.rows:
                continue
            measured = f.columns.get(name, ColumnStats())
            one = ColumnInfo(
                name=name,
                data_type=data_type,
                null_count=measured.null_count,
                min_value=_clip(measured.min),
                max_value=_clip(measured.max),
            )
            merged = merge_column_stats(merged, one)
        columns.append(merged or ColumnInfo(name=name, data_type=data_type))
    return columns


def _bump_policy_version(session: Session) -> None:
    """Masks project a table's columns: a schema change must refresh every policy snapshot."""
    session.execute(update(PolicyState).values(version=PolicyState.version + 1))


def _column_rows(
    columns: list[ColumnInfo], descriptions: dict[str, str], tags: dict[str, list[str]]
) -> list[CatalogColumn]:
    """Metadata rows for profiled columns, keeping the documentation people wrote."""
    return [
        CatalogColumn(
            position=i,
            description=descriptions.get(c.name, ""),
            tags=tags.get(c.name, []),
            **{k: v for k, v in asdict(c).items() if k not in ("description", "tags")},
        )
        for i, c in enumerate(columns)
    ]


def parse_timestamp(value: str) -> datetime:
    """``'2026-11-01'`` or ISO 8601 → an aware datetime (UTC when no zone is given)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as e:
        raise DapError(f"{value!r} is not a timestamp: use ISO 8601, e.g. 2026-11-01T09:30") from e
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)  # year 1 at +14:00 or 9999-12-31 at -14:00 has no UTC time
    except OverflowError as e:
        raise DapError(f"{value!r} is out of range: use a time between 0001 and 9999") from e
    return moment


def _clip(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
