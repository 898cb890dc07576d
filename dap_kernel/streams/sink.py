"""Micro-batches into the stream's Delta table: one commit holds the rows *and* the offsets.

Each commit carries one Delta application transaction per partition it read
(``dap-stream/<table>/<topic>/<p>``, version = the last offset of that partition in the batch),
the way kafka-delta-ingest does it. Delta commits are atomic, so the table never holds rows
without the offsets that produced them, or the reverse: after any crash the consumer seeks to
version + 1 and continues, whatever the broker's committed offsets say.

Bad events go to ``<table>__quarantine`` in a commit of their own, *before* the data commit,
with their own application transactions: a replay after a crash between the two commits skips
the bad events the quarantine already holds (offset ≤ its version), so they are kept once too.

Governed like every write: CREATE on the schema for a new table, MODIFY on an existing one,
checked before every commit, so a revoked grant stops the stream at its next batch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, SchemaMismatchError, TableNotFoundError

from ..catalog import split_name
from ..catalog.stats import profile_table
from ..engines.base import Binding
from ..errors import DapError, SchemaMismatch
from ..quarantine import SCHEMA as QUARANTINE_SCHEMA
from ..quarantine import quarantine_name
from .decode import Decoded, source_of
from .spec import StreamSpec

# Seconds between two recounts of a streamed table's distinct values (one pass over the table).
RECOUNT_S = 30.0

if TYPE_CHECKING:
    from ..session import Session


class OffsetsMoved(DapError):
    """The table holds offsets this stream did not write (another stream process, or a
    zombie of this one, committed first): the batch is dropped and the stream re-seeks."""


@dataclass(frozen=True)
class Committed:
    version: int | None  # the table's new version (None: nothing was committed)
    rows: int
    quarantined: int
    offsets: dict[int, int]  # partition → last offset now in the table


class StreamSink:
    """The stream's table: its schema, the offsets it holds, and the commits that extend it."""

    def __init__(self, session: Session, spec: StreamSpec) -> None:
        self.session = session
        self.spec = spec
        self.ws = session.workspace
        self.schema_name, self.name = split_name(spec.table)
        self.quarantine = quarantine_name(spec.table)
        self._table: DeltaTable | None = None
        self._quarantine: DeltaTable | None = None
        self.run_id = uuid.uuid4().hex
        self._recounted: float | None = None  # when the catalog last recounted distincts

    # -- the table --------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.spec.table in self.ws.catalog.known_names()

    def check_access(self) -> None:
        """CREATE on the schema for a new table, MODIFY on an existing one (fails closed) —
        or, for a table the caller created, CREATE on its schema still: whoever may create
        tables there may keep filling the ones they made (a stream restarts into its table)."""
        if self.exists:
            info = self.ws.catalog.get(self.spec.table)
            if info.kind != "delta":
                raise DapError(f"{self.spec.table} is an external {info.kind} source")
            mine = info.owner == self.session.principal.name
            if mine and self.session.check("CREATE", self.schema_name).allowed:
                return
            self.session.require("MODIFY", self.spec.table)
        else:
            self.session.require("CREATE", self.schema_name)

    def schema(self) -> pa.Schema | None:
        """The table's columns, or None before the first batch created it."""
        dt = self._open()
        if dt is None:
            return None
        return pa.schema(dt.schema().to_arrow())

    def _open(self) -> DeltaTable | None:
        if self._table is None and self.exists:
            try:
                self._table = DeltaTable(str(self.ws.lake.path(self.schema_name, self.name)))
            except TableNotFoundError:
                return None
        return self._table

    def _open_quarantine(self) -> DeltaTable | None:
        if self._quarantine is None and self.quarantine in self.ws.catalog.known_names():
            schema, name = split_name(self.quarantine)
            self._quarantine = DeltaTable(str(self.ws.lake.path(schema, name)))
        return self._quarantine

    def create(self, schema: pa.Schema) -> None:
        """Create the table, empty, with ``schema``; the first batch is its first commit."""
        self.session.require("CREATE", self.schema_name)
        self.ws.catalog.create_table(
            self.spec.table,
            schema.empty_table(),
            description=f"Streamed from the Kafka topic {self.spec.topic}.",
            owner=self.session.principal.name,
            tags=["stream"],
        )

    def sync_catalog(self) -> None:
        """After a crash between a Delta commit and its catalog entry, catch the catalog up."""
        for name in (self.spec.table, self.quarantine):
            if name not in self.ws.catalog.known_names():
                continue
            schema, table = split_name(name)
            if self.ws.catalog.get(name).version != self.ws.lake.version(schema, table):
                self.ws.catalog.refresh(name)

    # -- offsets ----------------------------------------------------------------------------

    def offsets(self, partitions: list[int]) -> dict[int, int | None]:
        """The last offset of each partition the table holds (None: none yet), read afresh."""
        dt = self._open()
        if dt is None:
            return dict.fromkeys(partitions)
        dt.update_incremental()
        return {p: _version(dt, self.spec.app_id(p)) for p in partitions}

    # -- commits ----------------------------------------------------------------------------

    def commit(
        self, batch: Decoded, last: Mapping[int, int], expected: Mapping[int, int | None]
    ) -> Committed:
        """Commit one batch: quarantine first, then rows + offsets in one data commit.

        ``last``: partition → the last offset read in this batch (good or bad event);
        ``expected``: partition → the offset this stream believes the table holds. A table
        holding anything else means another writer got there first: :class:`OffsetsMoved`.
        """
        if not last:
            return Committed(None, 0, 0, {})
        self.check_access()
        dt = self._open()
        if dt is None:
            raise DapError(f"the stream's table {self.spec.table} is gone")
        dt.update_incremental()
        for p in last:
            found = _version(dt, self.spec.app_id(p))
            if found != expected.get(p):
                raise OffsetsMoved(
                    f"{self.spec.table} holds partition {p} up to offset {found}, "
                    f"not {expected.get(p)}: another stream wrote to it"
                )
        rows = _with_rules(self.session, self.spec, batch)
        quarantined = self._commit_quarantine(rows.bad)
        props = CommitProperties(
            custom_metadata={"dap.stream": self.spec.name, "dap.run_id": self.run_id},
            app_transactions=[
                Transaction(app_id=self.spec.app_id(p), version=o) for p, o in last.items()
            ],
        )
        try:
            write_deltalake(dt, rows.rows, mode="append", commit_properties=props)
        except SchemaMismatchError as e:
            raise SchemaMismatch(f"cannot stream into {self.spec.table}: {_first_line(e)}") from e
        except DeltaError as e:
            raise DapError(f"cannot commit to {self.spec.table}: {_first_line(e)}") from e
        version = int(dt.version())
        self._register(version, rows.rows)
        return Committed(version, rows.rows.num_rows, quarantined, dict(last))

    def _register(self, version: int, rows: pa.Table) -> None:
        """The new version in the catalog, with statistics of the batch (no rescan)."""
        if rows.num_rows == 0:
            self.ws.catalog.register_committed(self.spec.table, version, 0, [], mode="append")
            return
        probe = Binding(
            schema="__dap_stream",
            name=f"b_{uuid.uuid4().hex[:12]}",
            kind="delta",
            location=f"stream:{self.spec.table}",
            signature=uuid.uuid4().hex,
            arrow=rows,
        )
        # The batch's distinct counts do not add up: the catalog counts the table's own.
        count, columns = profile_table(self.ws.local_engine, probe, "delta", distinct=False)
        # Recounting the table's distinct values costs a pass over all of it: not every
        # second, but every RECOUNT_S (the counts in between are marked as estimates).
        now = time.monotonic()
        recount = self._recounted is None or now - self._recounted >= RECOUNT_S
        self.ws.catalog.register_committed(
            self.spec.table, version, count, columns, mode="append", recount=recount
        )
        if recount:
            self._recounted = now

    def _commit_quarantine(self, bad: pl.DataFrame) -> int:
        if bad.is_empty():
            return 0
        dq = self._open_quarantine()
        partitions = bad["_dap_source"].unique().to_list()
        kept = bad
        if dq is not None:
            dq.update_incremental()
            done = {
                source: _version(dq, self.spec.quarantine_app_id(_partition_of(source)))
                for source in partitions
            }
            seen = pl.col("_dap_line") <= pl.col("_dap_source").replace_strict(
                {s: (-1 if v is None else v) for s, v in done.items()}, return_dtype=pl.Int64
            )
            kept = bad.filter(~seen)  # already quarantined before a crash: not twice
        if kept.is_empty():
            return 0
        frame = kept.with_columns(pl.lit(self.run_id).alias("_dap_run_id"))
        arrow = frame.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA).to_arrow()  # type: ignore[arg-type]
        if dq is None:
            self.ws.catalog.create_table(
                self.quarantine,
                arrow.schema.empty_table(),
                description=f"Events that could not be loaded into {self.name}, with reasons.",
                owner=self.ws.catalog.get(self.spec.table).owner,
                tags=["quarantine"],
            )
            dq = self._open_quarantine()
            assert dq is not None
        last = kept.group_by("_dap_source").agg(pl.col("_dap_line").max())
        props = CommitProperties(
            custom_metadata={"dap.stream": self.spec.name, "dap.run_id": self.run_id},
            app_transactions=[
                Transaction(app_id=self.spec.quarantine_app_id(_partition_of(s)), version=int(o))
                for s, o in last.iter_rows()
            ],
        )
        write_deltalake(dq, arrow, mode="append", commit_properties=props)
        self.ws.catalog.refresh(self.quarantine)
        return int(arrow.num_rows)


def _version(dt: DeltaTable, app: str) -> int | None:
    found = dt.transaction_version(app)
    return None if found is None else int(found)


def _partition_of(source: str) -> int:
    return int(str(source).rsplit("/", 1)[1])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_ROW = "__dap_stream_row"


@dataclass
class _Checked:
    rows: pa.Table
    bad: pl.DataFrame


def _with_rules(session: Session, spec: StreamSpec, batch: Decoded) -> _Checked:
    """Apply the table's row rules of severity ``error`` as a pipeline's validate step does:
    failing rows join the quarantine with their partition, offset and the rules they broke."""
    from ..quality import validate
    from ..quality.store import QualityStore

    rules = [
        r
        for r in QualityStore(session.workspace.meta).rules(spec.table)
        if r.row_level and r.severity == "error"
    ]
    if not rules or batch.rows.num_rows == 0:
        return _Checked(batch.rows, batch.bad)
    frame = pl.from_arrow(batch.rows)
    assert isinstance(frame, pl.DataFrame)
    report = validate(frame.with_row_index(_ROW), rules, session=session, source=spec.table)
    if report.failed.is_empty():
        return _Checked(batch.rows, batch.bad)
    failed = report.failed
    # Which rows failed: their position, read back from the record validate kept of each.
    at = failed["_dap_record"].str.json_path_match(f"$.{_ROW}").cast(pl.Int64)
    if at.null_count():  # cannot place them: refuse rather than guess
        raise DapError(f"cannot match the rows quality rules refused in {spec.table}")
    positions = at.to_list()
    original = frame[positions].select(pl.struct(pl.all()).struct.json_encode()).to_series()
    failed = failed.with_columns(
        _dap_source=pl.Series([source_of(spec.topic, batch.partitions[i]) for i in positions]),
        _dap_line=pl.Series([batch.offsets[i] for i in positions], dtype=pl.Int64),
        _dap_record=original.cast(pl.String),
    )
    rows = report.passed.drop(_ROW).to_arrow().cast(batch.rows.schema)
    bad = pl.concat([batch.bad, failed.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)])  # type: ignore[arg-type]
    return _Checked(rows, bad)
