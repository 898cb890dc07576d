"""Load files into lake tables: ``dap.ingest("sales/*.csv", "main.sales")``.

Governed like every other write (CREATE on the schema for a new table, MODIFY on an existing
one). The good rows go to the table in one Delta commit, so a failure half-way leaves the table
at its previous version. The rows that could not be read go to ``<table>__quarantine`` with
file, line and reason. Loading into an existing table reads the file with the table's column
types; a file whose columns differ is refused before anything is written.

CSV and Parquet (the bulk cases) never cross into Python: DuckDB writes the Parquet files
straight into the table's folder and measures them, one Delta commit adds them, and the catalog
takes its statistics from those measurements instead of rescanning the table. Merges, the other
formats, and Parquet columns the copy does not convert exactly as the streamed read would
(:meth:`FilePlan.can_write_parquet` decides, failing closed) stream Arrow batches into the Delta
writer.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import polars as pl
import pyarrow as pa

from .caller import default_client
from .catalog import split_name
from .catalog.stats import written_stats
from .connectors.files import PARSE_RULE, FilePlan, plan_files, unify_types
from .errors import DapError, SchemaMismatch, StorageFull
from .gdpr.pii import suggest_on_ingest
from .lake import disk_full, storage_full
from .quarantine import SCHEMA as QUARANTINE_SCHEMA
from .quarantine import quarantine_name, write_quarantine

if TYPE_CHECKING:
    from .catalog import Catalog, TableInfo
    from .session import Session

Mode = Literal["append", "overwrite", "merge"]
MODES = ("append", "overwrite", "merge")


@dataclass(frozen=True)
class IngestResult:
    table: str
    rows_loaded: int
    rows_quarantined: int
    version: int
    files: list[str] = field(default_factory=list)
    created: bool = False
    run_id: str = ""
    # A new table's columns that look like personal data: (column, tag, confidence), kept
    # with the table for a steward to confirm (``dap pii confirm``); nothing is tagged.
    pii_suggested: tuple[tuple[str, str, float], ...] = ()
    notes: tuple[str, ...] = ()  # what the reader chose (which sheet of a workbook …)

    @property
    def quarantine_table(self) -> str:
        return quarantine_name(self.table)

    def summary(self) -> str:
        """The line the CLI and the magic print."""
        loaded = f"loaded {_rows(self.rows_loaded)} into {self.table} (version {self.version})"
        if self.rows_quarantined:
            loaded += f"; {_rows(self.rows_quarantined)} quarantined in {self.quarantine_table}"
        else:
            loaded += "; 0 rows quarantined"
        for note in self.notes:
            loaded += f"\nnote: {note}"
        if self.pii_suggested:
            found = ", ".join(f"{c} ({t} {p:.0%})" for c, t, p in self.pii_suggested)
            loaded += (
                f"\npossible personal data: {found}; a steward confirms a tag with "
                f"dap pii confirm {self.table} COLUMN TAG"
            )
        return loaded

    def __str__(self) -> str:
        return self.summary()


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


class Ingests(Protocol):
    """The caller's client as ``dap.ingest`` without a session uses it (here or the service)."""

    def ingest(
        self,
        path: str | Path,
        table: str,
        *,
        mode: str = "append",
        keys: Sequence[str] = (),
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> IngestResult: ...


def ingest(
    path: str | Path,
    table: str,
    *,
    mode: Mode | str = "append",
    keys: Sequence[str] = (),
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    session: Session | None = None,
) -> IngestResult:
    """Load a file, folder or glob into ``table``, creating it on the first load.

    ``mode``: ``append`` adds the rows, ``overwrite`` replaces the table's rows (re-running it
    loads the file exactly once), ``merge`` upserts on ``keys``.
    """
    if mode not in MODES:
        raise DapError(f"unknown mode {mode!r}: use append, overwrite or merge")
    keys = [keys] if isinstance(keys, str) else list(keys)
    if mode == "merge" and not keys:
        raise DapError("merge needs at least one key column (--key)")
    if session is None:  # the caller's client: this process, or the DAP service (no loads yet)
        client: Ingests = default_client()
        return client.ingest(path, table, mode=mode, keys=keys, format=format, options=options)
    qualified = "{}.{}".format(*split_name(table))
    what = f"ingest {path} into {qualified} ({mode}{', keys ' + ', '.join(keys) if keys else ''})"
    with session.audit_change("ingest", (qualified,), statement=what) as change:
        result = _ingest(session, path, qualified, mode, keys, format, options)
        change.rows = result.rows_loaded
        if result.rows_quarantined:
            change.touch(result.quarantine_table)
    return result


def _ingest(
    session: Session,
    path: str | Path,
    qualified: str,
    mode: Mode | str,
    keys: list[str],
    format: str | None,
    options: Mapping[str, Any] | None,
) -> IngestResult:
    catalog = session.workspace.catalog
    schema, name = split_name(qualified)
    exists = qualified in catalog.known_names()
    if exists:
        session.require("MODIFY", qualified)
        info = catalog.get(qualified)
        if info.kind != "delta":
            raise DapError(f"{qualified} is an external {info.kind} source, not a lake table")
        target: pa.Schema | None = session.workspace.lake.snapshot(schema, name).schema
    else:
        session.require("CREATE", schema)
        catalog.discard_unregistered(qualified)  # left by an ingest killed before registering
        target = None

    opts = dict(options or {})
    if target is not None:
        # Read with the table's types: values that do not fit are quarantined row by row.
        declared = {f.name: f.type for f in target}
        declared.update(opts.get("schema") or {})
        opts["schema"] = declared
    created = not exists
    with plan_files(path, format=format, options=opts) as plan:
        missing = [k for k in keys if k not in plan.schema.names]
        if missing:
            raise SchemaMismatch(f"key column(s) {', '.join(missing)} are not in {path}")
        if target is not None:
            check_schema(plan.schema, target, qualified, str(path))
            schema_out = pa.schema([pa.field(f.name, f.type) for f in target])
        else:
            schema_out = pa.schema([pa.field(f.name, lake_type(f.type)) for f in plan.schema])
        show = len(plan.files) > 1 or _tty()
        description = f"Loaded from {Path(plan.files[0]).name}" + (
            f" and {len(plan.files) - 1} more files" if len(plan.files) > 1 else ""
        )
        if (created or mode != "merge") and plan.can_write_parquet(schema_out):
            how: Literal["create", "append", "overwrite"] = (
                "create" if created else "append" if mode == "append" else "overwrite"
            )
            rows, info = _load_parquet(session, plan, qualified, schema_out, how, description, show)
        else:
            rows, info = _load_stream(
                session, plan, qualified, schema_out, mode, keys, created, description, show
            )
    bad_rows, notes = plan.bad, tuple(plan.notes)

    run_id = uuid.uuid4().hex
    bad = bad_rows.with_columns(pl.lit(run_id).alias("_dap_run_id"))
    if mode == "overwrite" and not created:
        quarantined = _replace_quarantine(catalog, qualified, bad, plan.files)
    else:
        quarantined = write_quarantine(catalog, qualified, bad)
    found = suggest_on_ingest(session, qualified) if created else []
    return IngestResult(
        table=qualified,
        rows_loaded=rows,
        rows_quarantined=quarantined,
        version=info.version,
        files=list(plan.files),
        created=created,
        run_id=run_id,
        pii_suggested=tuple((f.column, f.tag, round(f.confidence, 2)) for f in found),
        notes=notes,
    )


def _load_parquet(
    session: Session,
    plan: FilePlan,
    table: str,
    schema_out: pa.Schema,
    mode: Literal["create", "append", "overwrite"],
    description: str,
    show: bool,
) -> tuple[int, TableInfo]:
    """CSV or Parquet → Parquet files written by DuckDB into the table's folder → one Delta
    commit that adds them → catalog statistics from the writer's own measurements. Files
    written but not committed (a crash) are garbage vacuum removes; the table keeps its
    previous version."""
    ws = session.workspace
    schema, name = split_name(table)
    folder = ws.lake.path(schema, name)
    folder.mkdir(parents=True, exist_ok=True)
    types = plan.duckdb_types(schema_out)  # what the engine will call the columns
    before = None if mode == "create" else ws.lake.version(schema, name)
    bar = _bar() if show else None
    try:
        files = plan.write_parquet(folder, schema_out, bar.update if bar is not None else None)
        version = ws.lake.commit_parquet(schema, name, files, mode=mode, schema_arrow=schema_out)
    except BaseException as e:
        if mode == "create" and not any(folder.iterdir()):
            folder.rmdir()  # no empty folder left behind for a table that never was
        if isinstance(e, Exception) and not isinstance(e, StorageFull) and disk_full(e):
            # DuckDB's COPY says "cannot read the CSV" when it is the lake's disk that is full.
            raise storage_full(table, before) from e
        raise
    finally:
        if bar is not None:
            bar.close()
    rows = sum(f.rows for f in files)
    info = ws.catalog.register_committed(
        table,
        version,
        rows,
        written_stats(files, types),
        mode=mode,
        description=description if mode == "create" else "",
        owner=session.principal.name if mode == "create" else "",
    )
    return rows, info


def _load_stream(
    session: Session,
    plan: FilePlan,
    table: str,
    schema_out: pa.Schema,
    mode: str,
    keys: Sequence[str],
    created: bool,
    description: str,
    show: bool,
) -> tuple[int, TableInfo]:
    """Stream the rows through Arrow into the Delta writer (merge, JSON, Excel, and the files
    the DuckDB copy does not handle)."""
    catalog = session.workspace.catalog
    reader = plan.stream().data
    assert isinstance(reader, pa.RecordBatchReader)
    counter = _Counter(reader, schema_out, show=show)
    stream = pa.RecordBatchReader.from_batches(schema_out, counter.batches())
    try:
        if created:
            info = catalog.create_table(
                table, stream, description=description, owner=session.principal.name
            )
        else:
            info = catalog.write(table, stream, mode, keys=keys)  # type: ignore[arg-type]
    except BaseException as e:
        if counter.error is not None:  # the reader failed inside the writer: say why
            raise counter.error from None
        if isinstance(e, DapError) or not isinstance(e, Exception):
            raise
        # The Delta writer's own errors carry a Rust backtrace: keep the first line only.
        text = str(e).strip().splitlines()
        raise DapError(f"cannot write {table}: {text[0] if text else type(e).__name__}") from e
    finally:
        counter.close()
    return counter.rows, info


def _bar() -> Any:
    from tqdm import tqdm

    return tqdm(unit=" rows", unit_scale=True, desc="ingest", file=sys.stderr)


def check_schema(found: pa.Schema, table: pa.Schema, name: str, source: str) -> None:
    """Refuse a file whose columns are not the table's, naming them (nothing is written)."""
    extra = [c for c in found.names if c not in table.names]
    missing = [c for c in table.names if c not in found.names]
    problems = []
    if extra:
        problems.append(f"columns not in the table: {', '.join(extra)}")
    if missing:
        problems.append(f"table columns missing from the file: {', '.join(missing)}")
    for f in found:
        if f.name in table.names:
            want = table.field(f.name).type
            if unify_types(f.type, want) != want and not _widens(f.type, want):
                problems.append(f"column {f.name} is {f.type} in the file but {want} in the table")
    if problems:
        raise SchemaMismatch(
            f"{source} does not match {name}: {'; '.join(problems)}. Nothing was loaded"
        )


def lake_type(t: pa.DataType) -> pa.DataType:
    """The nearest type a Delta table can hold (it has no time of day, unsigned or null type)."""
    if pa.types.is_time(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_unsigned_integer(t):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(
            t.bit_width, pa.decimal128(20, 0)
        )
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_dictionary(t):
        return lake_type(t.value_type)
    if pa.types.is_duration(t):
        return pa.int64()
    return t


def _widens(src: pa.DataType, dst: pa.DataType) -> bool:
    """Types whose values always fit the table's type (text flavours, narrower numbers)."""
    if pa.types.is_null(src):
        return True
    if pa.types.is_dictionary(src):  # a categorical column holds its values' type
        return src.value_type == dst or _widens(src.value_type, dst)
    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if any(f(src) for f in text) and any(f(dst) for f in text):
        return True
    if pa.types.is_integer(src) and (pa.types.is_integer(dst) or pa.types.is_floating(dst)):
        return True
    return bool(pa.types.is_floating(src) and pa.types.is_floating(dst))


class _Counter:
    """Counts rows on their way to the writer, shows progress, and keeps the reader's error."""

    def __init__(self, reader: pa.RecordBatchReader, schema: pa.Schema, *, show: bool) -> None:
        self.reader = reader
        self.schema = schema
        self.rows = 0
        self.error: BaseException | None = None
        self.bar: Any = None
        if show:
            self.bar = _bar()

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self.reader:
                if not batch.schema.equals(self.schema):
                    batch = _cast(batch, self.schema)
                self.rows += batch.num_rows
                if self.bar is not None:
                    self.bar.update(batch.num_rows)
                yield batch
        except BaseException as e:
            self.error = e
            raise

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for f in schema:
        column = batch.column(batch.schema.get_field_index(f.name))
        if column.type != f.type:
            try:
                column = column.cast(f.type)
            except pa.ArrowException as e:
                raise SchemaMismatch(
                    f"column {f.name} ({column.type}) does not fit the table's {f.type}: {e}"
                ) from e
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _replace_quarantine(catalog: Catalog, table: str, bad: pl.DataFrame, files: list[str]) -> int:
    """An overwrite replaces the load, so the rows an earlier load of the same files left in
    quarantine are replaced too (one commit): re-running it never duplicates them."""
    name = quarantine_name(table)
    if name not in catalog.known_names():
        return write_quarantine(catalog, table, bad)
    schema, qname = split_name(name)
    old = pl.from_arrow(catalog.lake.read(schema, qname))
    assert isinstance(old, pl.DataFrame)
    stale = (pl.col("_dap_rule") == PARSE_RULE) & pl.col("_dap_source").is_in(files)
    keep = old.filter(~stale)
    if keep.height == old.height:
        return write_quarantine(catalog, table, bad)
    rows = bad.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    catalog.write(name, pl.concat([keep.cast(QUARANTINE_SCHEMA), rows]), "overwrite")  # type: ignore[arg-type]
    return rows.height


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
