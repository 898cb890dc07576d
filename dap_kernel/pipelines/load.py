"""Loading a pipeline's batch into a lake table: one Delta commit that says which load it was.

Every commit a pipeline makes carries a Delta *application transaction*
(``appId = dap-pipeline:NAME``, ``version = load sequence number``) and the run id and new
watermark as commit metadata. That makes loads exactly-once:

* a commit either happened or it did not (Delta's atomic log), so a process killed mid-load
  leaves the table at its previous version;
* before committing, the loader asks the table which load sequence it already holds: a retry of
  a load that did commit (the process died after the commit, before it could say so) is
  skipped instead of written twice;
* the watermark is read back from the table's own log when the metadata database missed the
  end of a run, so the next run continues exactly where the committed data ends.

The catalog (``Catalog``) does not pass commit properties, so these helpers call ``deltalake``
on the table's folder themselves and refresh the catalog entry afterwards.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, SchemaMismatchError, TableNotFoundError

from ..catalog import split_name
from ..errors import DapError, SchemaMismatch, UnknownTable
from ..quarantine import SCHEMA as QUARANTINE_SCHEMA
from ..quarantine import quarantine_name
from .store import decode_value, encode_value

if TYPE_CHECKING:
    from ..session import Workspace

APP_PREFIX = "dap-pipeline:"
HISTORY_SCAN = 1000  # commits searched for a lost watermark (far more than runs between crashes)
Mode = Literal["append", "overwrite", "merge"]


def app_id(pipeline: str, quarantine: bool = False) -> str:
    return f"{APP_PREFIX}{pipeline}{':quarantine' if quarantine else ''}"


def _open(ws: Workspace, table: str) -> DeltaTable | None:
    schema, name = split_name(table)
    if not ws.lake.exists(schema, name):
        return None
    try:
        return DeltaTable(str(ws.lake.path(schema, name)))
    except TableNotFoundError:
        return None


def committed_seq(ws: Workspace, table: str, pipeline: str, *, quarantine: bool = False) -> int:
    """The sequence number of the last load ``pipeline`` committed to ``table`` (0: none)."""
    dt = _open(ws, table)
    if dt is None:
        return 0
    return int(dt.transaction_version(app_id(pipeline, quarantine)) or 0)


@dataclass(frozen=True)
class Committed:
    """What the table's log says about one load: its run, watermark and version."""

    seq: int
    run_id: str
    watermark: Any
    version: int


def committed_load(ws: Workspace, table: str, pipeline: str, seq: int) -> Committed | None:
    """Find load ``seq`` of ``pipeline`` in the table's history (newest first)."""
    dt = _open(ws, table)
    if dt is None or seq <= 0:
        return None
    for entry in dt.history(HISTORY_SCAN):
        if entry.get("dap.pipeline") == pipeline and str(entry.get("dap.load_seq")) == str(seq):
            raw = entry.get("dap.watermark")
            watermark = decode_value(json.loads(raw)) if raw else None
            return Committed(seq, str(entry.get("dap.run_id", "")), watermark, entry["version"])
    return None


# -- schema drift --------------------------------------------------------------------------------


def conform(
    batch: pa.Table, existing: pa.Schema, *, evolve: bool, table: str
) -> tuple[pa.Table, bool]:
    """The batch in the table's column order and types; (batch, schema changes).

    New or missing columns are drift: an error naming them unless ``evolve``, in which case new
    columns are added to the table and missing ones are loaded as nulls. A type the table's
    column cannot hold is always an error (Delta does not change a column's type in place).
    """
    have = {f.name: f for f in existing}
    new = [n for n in batch.column_names if n not in have]
    missing = [n for n in have if n not in batch.column_names]
    if (new or missing) and not evolve:
        parts = []
        if new:
            parts.append(f"new column{'s' if len(new) > 1 else ''} {', '.join(new)}")
        if missing:
            parts.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        raise SchemaMismatch(
            f"schema drift in {table}: the data has {' and '.join(parts)} "
            "(set load.schema_evolution: true to accept it)"
        )
    columns: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for name, f in have.items():
        if name not in batch.column_names:
            columns.append(pa.nulls(batch.num_rows, f.type))
            fields.append(f.with_nullable(True))
            continue
        column = batch.column(name)
        if not column.type.equals(f.type):
            try:
                column = column.cast(f.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise SchemaMismatch(
                    f"schema drift in {table}: column {name} is {f.type} in the table but "
                    f"{batch.column(name).type} in the data, and not every value converts"
                ) from e
        columns.append(column)
        fields.append(f)
    for name in new:
        columns.append(batch.column(name))
        fields.append(batch.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields)), bool(new)


# -- commits -------------------------------------------------------------------------------------


def _properties(pipeline: str, seq: int, run_id: str, watermark: Any, quarantine: bool) -> Any:
    return CommitProperties(
        custom_metadata={
            "dap.pipeline": pipeline,
            "dap.run_id": run_id,
            "dap.load_seq": str(seq),
            "dap.watermark": json.dumps(encode_value(watermark)),
        },
        app_transactions=[Transaction(app_id=app_id(pipeline, quarantine), version=seq)],
    )


def ensure_table(
    ws: Workspace, table: str, schema: pa.Schema, *, owner: str, description: str, tags: list[str]
) -> bool:
    """Create an empty table with ``schema`` (registered in the catalog) unless it exists.

    Creating it empty and loading in a second commit keeps the load itself an ordinary,
    idempotent commit; a crash in between leaves an empty table, which the re-run fills.
    """
    if table in ws.catalog.known_names():
        return False
    ws.catalog.create_table(
        table, schema.empty_table(), owner=owner, description=description, tags=tags
    )
    return True


def commit(
    ws: Workspace,
    table: str,
    batch: pa.Table,
    *,
    mode: Mode,
    keys: list[str],
    evolve: bool,
    pipeline: str,
    seq: int,
    run_id: str,
    watermark: Any,
    quarantine: bool = False,
) -> tuple[int, int] | None:
    """Write ``batch`` as load ``seq`` in one commit: (new version, rows written), or None if
    the table already holds that load."""
    schema_name, name = split_name(table)
    dt = _open(ws, table)
    if dt is None:
        raise UnknownTable(f"lake table {table} does not exist")
    if int(dt.transaction_version(app_id(pipeline, quarantine)) or 0) >= seq:
        return None  # this load committed before (a retry, or a run that died after it)
    existing = pa.schema(dt.schema().to_arrow())
    data, widened = conform(batch, existing, evolve=evolve, table=table)
    props = _properties(pipeline, seq, run_id, watermark, quarantine)
    try:
        if mode == "merge":
            missing = [k for k in keys if k not in data.column_names]
            if missing:
                raise SchemaMismatch(f"merge keys {', '.join(missing)} are not columns of the data")
            # An upsert: when a batch holds a key twice, its last row is the newest version.
            data = _last_per_key(data, keys)
            predicate = " AND ".join(f'target."{k}" = source."{k}"' for k in keys)
            (
                dt.merge(
                    data,
                    predicate,
                    source_alias="source",
                    target_alias="target",
                    merge_schema=widened,
                    commit_properties=props,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        else:
            write_deltalake(
                dt,
                data,
                mode=mode,
                schema_mode="merge" if widened else None,
                commit_properties=props,
            )
    except SchemaMismatchError as e:
        raise SchemaMismatch(f"cannot load into {table}: {_first_line(e)}") from e
    except DeltaError as e:
        if "transaction" in str(e).lower() and committed_seq(ws, table, pipeline) >= seq:
            return None  # a concurrent run committed this very load first
        raise
    return int(DeltaTable(str(ws.lake.path(schema_name, name))).version()), data.num_rows


def commit_quarantine(
    ws: Workspace,
    table: str,
    rows: pl.DataFrame,
    *,
    pipeline: str,
    seq: int,
    run_id: str,
    owner: str,
) -> int:
    """Append quarantined rows for load ``seq`` beside ``table``, at most once."""
    if rows.is_empty():
        return 0
    name = quarantine_name(table)
    frame = rows.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    arrow = frame.to_arrow()
    ensure_table(
        ws,
        name,
        arrow.schema,
        owner=owner,
        description=f"Rows that could not be loaded into {split_name(table)[1]}, with reasons.",
        tags=["quarantine"],
    )
    done = commit(
        ws,
        name,
        arrow,
        mode="append",
        keys=[],
        evolve=False,
        pipeline=pipeline,
        seq=seq,
        run_id=run_id,
        watermark=None,
        quarantine=True,
    )
    if done is not None:
        ws.catalog.refresh(name)
    return frame.height


def sync_catalog(ws: Workspace, table: str) -> None:
    """Bring the catalog's version of ``table`` up to the lake's (after a crash between the two)."""
    schema, name = split_name(table)
    if table not in ws.catalog.known_names() or not ws.lake.exists(schema, name):
        return
    with contextlib.suppress(DapError):
        if ws.catalog.get(table).version != ws.lake.version(schema, name):
            ws.catalog.refresh(table)


def _last_per_key(data: pa.Table, keys: list[str]) -> pa.Table:
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    if not frame.select(keys).is_duplicated().any():
        return data
    return frame.unique(subset=keys, keep="last", maintain_order=True).to_arrow()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
