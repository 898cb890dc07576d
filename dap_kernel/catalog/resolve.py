"""The query path's view of the catalog: a statement's table names resolved to catalog rows in
one metadata read, and each row bound to what the engine scans (a snapshot's files, a file or
glob, a database table read afresh, or a past version of a lake table)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..connectors.sql import read_sql
from ..engines.base import CLICKHOUSE_KIND, TABLE_ENGINE_OPTION, Binding
from ..errors import DapError, QueryRefused, SourceError, UnknownTable
from ..lake import Lake, check_name, split_name
from ..meta import MetaStore
from .index import CatalogIndex
from .models import DATABASE_KINDS

if TYPE_CHECKING:
    from ..governance.rewrite import Travel
    from ..governance.secrets import SecretStore


class CatalogBindings(CatalogIndex):
    """The catalog's rows as the engine binds them (the base of
    :class:`~dap_kernel.catalog.store.Catalog`, which adds registration and documentation)."""

    def __init__(self, meta: MetaStore, lake: Lake, secrets: SecretStore | None = None) -> None:
        super().__init__(meta)
        self.secrets = secrets
        self.lake = lake
        self._files: dict[tuple[str, int], tuple[str, ...]] = {}
        self._lock = threading.Lock()
        # Catalog rows as read under one metadata version (see :meth:`lookup`).
        self._rows_version: int | None = None
        self._rows_at: dict[tuple[str, ...], tuple[tuple[Any, ...], ...]] = {}

    # -- lookups ----------------------------------------------------------------------------

    # -- engine bindings (the query path) -----------------------------------------------------

    def lookup(self, qualified: Sequence[str], *, version: int | None = None) -> dict[str, Any]:
        """Catalog rows (without columns) for lower-cased ``schema.table`` names, in one query.

        This is the only catalog read on the query path: plain driver SQL, which skips
        SQLAlchemy's statement compilation (most of the cost of such a small query).

        ``version`` is the metadata version (``policy_state.version``) the caller's statement
        read from the database. Every write of a catalog row bumps it in the same transaction
        (:func:`~dap_kernel.catalog.store._bump_policy_version`), in whatever process, so the
        rows read under one version are the rows of that version: they are kept and reused
        while the statements asking still read that version, and forgotten at the next one.
        Without a ``version`` the rows are always read afresh.
        """
        if not qualified:
            return {}
        key = tuple(qualified)
        if version is not None:
            with self._lock:
                kept = self._rows_at.get(key) if self._rows_version == version else None
            if kept is not None:
                return _lookup_rows(kept)
        mark = "?" if self.meta.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "SELECT t.schema_name, t.name, t.kind, t.location, t.options, t.version, s.options "
            "FROM catalog_tables t LEFT JOIN catalog_schemas s ON s.name = lower(t.schema_name) "
            "WHERE lower(t.schema_name) || '.' || lower(t.name) IN "
            f"({', '.join(mark for _ in qualified)})"
        )
        with self.meta.connection() as con:  # a lost server: MetaStoreError, one line
            rows = tuple(_kept_row(r) for r in con.exec_driver_sql(sql, key).all())
        if version is not None:
            with self._lock:
                if self._rows_version is None or version > self._rows_version:
                    self._rows_version, self._rows_at = version, {}  # a newer catalog
                if version == self._rows_version and len(self._rows_at) < _KEPT_LOOKUPS:
                    self._rows_at[key] = rows
        return _lookup_rows(rows)

    def resolver(self, version: Callable[[], int | None] | None = None) -> CatalogResolver:
        """``version`` gives the metadata version the statement being resolved read (see
        :meth:`lookup`); without one every resolution reads the catalog."""
        return CatalogResolver(self, version)

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
        if row.kind == CLICKHOUSE_KIND:
            # The server's live table, bound by the clickhouse engine as a view: no two
            # statements share a cached answer.
            return Binding(
                schema=row.schema_name,
                name=row.name,
                kind=CLICKHOUSE_KIND,
                location=row.location,
                signature=f"clickhouse:{uuid.uuid4()}",
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
            options={k: v for k, v in (row.options or {}).items() if k != TABLE_ENGINE_OPTION},
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

    def _snapshot_files(self, schema: str, name: str, version: int) -> tuple[str, ...]:
        key = (f"{schema}.{name}", version)
        with self._lock:
            files = self._files.get(key)
        if files is None:
            files = tuple(self.lake.snapshot(schema, name, version).files)
            with self._lock:
                self._files[key] = files
        return files


# Distinct name lists kept per metadata version (a notebook or dashboard repeats a few).
_KEPT_LOOKUPS = 1024


def _kept_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A driver row with its options as JSON text (PostgreSQL's driver hands a dict), so each
    statement parses its own copy and none can change what the next one reads."""
    schema_name, name, kind, location, options, version, schema_options = row
    return (schema_name, name, kind, location, _text(options), version, _text(schema_options))


def _text(options: str | dict[str, Any] | None) -> str:
    return options if isinstance(options, str) else json.dumps(options or {})


def _lookup_rows(rows: Sequence[tuple[Any, ...]]) -> dict[str, _LookupRow]:
    """Rows as the query path reads them, built afresh per statement (nothing mutable shared)."""
    return {
        f"{schema_name}.{name}".lower(): _LookupRow(
            schema_name,
            name,
            kind,
            location,
            json.loads(options or "{}"),
            version,
            json.loads(schema_options or "{}"),
        )
        for schema_name, name, kind, location, options, version, schema_options in rows
    }


@dataclass(frozen=True)
class _LookupRow:
    schema_name: str
    name: str
    kind: str
    location: str
    options: dict[str, Any]
    version: int
    schema_options: dict[str, Any]  # the settings of its schema it follows (its engine)


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

    def __init__(
        self, catalog: CatalogBindings, version: Callable[[], int | None] | None = None
    ) -> None:
        self.catalog = catalog
        self.version = version
        self.rows: dict[str, Any] = {}
        self._resolved: dict[tuple[str, ...], dict[str, str]] = {}

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        key = tuple(qualified)
        if key not in self._resolved:  # one statement may ask twice (check, then secure)
            version = self.version() if self.version is not None else None
            rows = self.catalog.lookup(qualified, version=version)
            self.rows.update(rows)
            self._resolved[key] = {k: f"{r.schema_name}.{r.name}" for k, r in rows.items()}
        return dict(self._resolved[key])

    def all_names(self) -> Collection[str]:
        return self.catalog.known_names()

    def bindings(self) -> list[Binding]:
        return [self.catalog._binding(row) for row in self.rows.values()]


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
