"""The append-only, hash-chained audit log of every governed decision.

Each record's hash covers its own content and the previous record's hash, so deleting or editing
a row breaks the chain and :func:`verify` finds where. Appends take the write lock of the single
``audit_head`` row first, which serialises writers across processes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update

from ..errors import DapError, QueryRefused
from ..meta import AuditRecord, MetaStore
from ..meta.models import AuditHead
from .identity import Principal
from .policy import Policy


@dataclass(frozen=True)
class AuditEvent:
    principal: str
    action: str
    decision: str  # allowed | refused | failed
    statement: str = ""
    tables: Sequence[str] = ()
    reason: str = ""
    row_count: int | None = None
    elapsed_ms: float | None = None
    channel: str = ""
    rewritten_sha256: str = ""


@dataclass
class Change:
    """A change of data under way: what it touches and how many rows, filled in as known.

    The statement says what was asked in words a reader of the log understands (``ingest
    sales.csv into main.sales (append)``); it never carries a password or a row's values.
    """

    action: str
    tables: list[str] = field(default_factory=list)
    statement: str = ""
    rows: int | None = None

    def touch(self, *tables: str) -> None:
        """Name more tables the change wrote (a quarantine, an archive), once each."""
        for table in tables:
            if table and table not in self.tables:
                self.tables.append(table)


@contextmanager
def audited(log: AuditLog, principal: str, channel: str, change: Change) -> Iterator[Change]:
    """Record ``change`` once it is over: allowed, refused (no grant) or failed (any error).

    The record is written whichever way the block ends, so a refused or half-done change is
    in the chain like a finished one; the exception goes on to the caller unchanged.
    """
    started = time.perf_counter()

    def record(decision: str, reason: str = "") -> None:
        log.record(
            AuditEvent(
                principal=principal,
                action=change.action,
                decision=decision,
                statement=change.statement,
                tables=tuple(change.tables),
                reason=reason,
                row_count=change.rows,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                channel=channel,
            )
        )

    try:
        yield change
    except QueryRefused as e:
        record("refused", f"{e.code}: {e.message}")
        raise
    except DapError as e:
        record("failed", f"{e.code}: {e.message}")
        raise
    except BaseException as e:  # a bug or an interrupt: the attempt is still on record
        record("failed", type(e).__name__)
        raise
    record("allowed")


BATCH_WINDOW_S = 0.02  # how long the writer gathers records into one transaction

# The writer's statements, built once: building them per batch was a third of its CPU.
_HEAD = cast(Table, AuditHead.__table__)
_LOCK_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
_INSERT_RECORDS = insert(cast(Table, AuditRecord.__table__))
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def _digest(prev_hash: str, seq: int, ts: datetime, event: AuditEvent) -> str:
    body = json.dumps(
        {
            "prev": prev_hash,
            "seq": seq,
            "ts": ts.astimezone(UTC).isoformat(timespec="microseconds"),
            "principal": event.principal,
            "action": event.action,
            "decision": event.decision,
            "statement": event.statement,
            "tables": list(event.tables),
            "reason": event.reason,
            "row_count": event.row_count,
            "channel": event.channel,
            "rewritten": event.rewritten_sha256,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    """Appends run on a background writer so a query does not wait for the metadata database.

    Records are queued with their timestamp and written in order, batched into one transaction
    when several are waiting. :meth:`flush` (called by :meth:`tail`, :meth:`verify`,
    :meth:`close` and at interpreter exit) waits until everything queued is stored.
    """

    def __init__(self, meta: MetaStore, *, statement_max_chars: int = 20_000) -> None:
        self.meta = meta
        self.statement_max_chars = statement_max_chars
        self._queue: queue.Queue[tuple[datetime, AuditEvent] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="dap-audit", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def record(self, event: AuditEvent) -> None:
        """Queue one event for the chain."""
        if len(event.statement) > self.statement_max_chars:
            event = _truncated(event, self.statement_max_chars)
        self._queue.put((datetime.now(UTC), event))

    def flush(self) -> None:
        """Wait until every queued event is written; re-raise a write failure."""
        self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(30)
        atexit.unregister(self.close)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            # Gather what arrives within a few milliseconds: one transaction per batch costs far
            # less than one per record when a busy server audits hundreds of queries a second.
            deadline = time.monotonic() + BATCH_WINDOW_S
            while len(batch) < 500 and item is not None:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                batch.append(item)
            events = [b for b in batch if b is not None]
            try:
                if events:
                    self._append(events)
            except BaseException as e:  # kept for flush(); the writer keeps going
                self._error = e
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(b is None for b in batch):
                return

    def _append(self, events: list[tuple[datetime, AuditEvent]]) -> None:
        with self.meta.engine.begin() as con:
            # Writing the head row first takes the write lock (SQLite) / row lock (PostgreSQL),
            # so appenders in other processes queue up behind us and the chain stays linear.
            con.execute(_LOCK_HEAD)
            seq, prev = con.execute(_READ_HEAD).one()
            rows = []
            for ts, event in events:
                seq += 1
                digest = _digest(prev, seq, ts, event)
                rows.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "principal": event.principal,
                        "action": event.action,
                        "statement": event.statement,
                        "tables": list(event.tables),
                        "decision": event.decision,
                        "reason": event.reason,
                        "row_count": event.row_count,
                        "elapsed_ms": event.elapsed_ms,
                        "channel": event.channel,
                        "rewritten_sha256": event.rewritten_sha256,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            con.execute(_INSERT_RECORDS, rows)
            con.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})

    def tail(
        self, limit: int = 20, principal: str | None = None, action: str | None = None
    ) -> list[AuditRecord]:
        self.flush()
        with self.meta.session() as s:
            query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
            if principal:
                query = query.where(AuditRecord.principal == principal)
            if action:
                query = query.where(AuditRecord.action == action)
            return list(s.execute(query).scalars())

    def verify(self) -> int | None:
        """Sequence number of the first record that breaks the chain, or None if intact."""
        self.flush()
        prev = "0" * 64
        with self.meta.session() as s:
            for rec in s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars():
                event = AuditEvent(
                    principal=rec.principal,
                    action=rec.action,
                    decision=rec.decision,
                    statement=rec.statement,
                    tables=rec.tables,
                    reason=rec.reason,
                    row_count=rec.row_count,
                    channel=rec.channel,
                    rewritten_sha256=rec.rewritten_sha256,
                )
                ts = rec.ts if rec.ts.tzinfo else rec.ts.replace(tzinfo=UTC)
                if rec.prev_hash != prev or _digest(prev, rec.seq, ts, event) != rec.hash:
                    return rec.seq
                prev = rec.hash
        return None


def _truncated(event: AuditEvent, limit: int) -> AuditEvent:
    cut = len(event.statement) - limit
    return replace(event, statement=event.statement[:limit] + f"… [{cut} chars cut]")


@dataclass(frozen=True)
class AuditView:
    """What one caller may read of the audit log: records, and the chain check if asked."""

    records: list[AuditRecord]
    chain_ok: bool | None  # None: not verified


def read_audit(
    log: AuditLog,
    policy: Policy,
    principal: Principal,
    *,
    user: str | None = None,
    limit: int = 20,
    verify: bool = False,
    action: str | None = None,
) -> AuditView:
    """The newest audit records ``principal`` may read — the one rule every door asks.

    Anyone reads their own records: they are that caller's own statements and decisions (a
    query history), and they name nobody else's data. Records of others, all records, and the
    chain check (which reads every record) need MANAGE_GRANTS. ``user`` narrows a manager's
    view to one principal; for anyone else it may only name themselves. ``action`` keeps one
    kind of record (``query``, ``login``, ``server-start``, …).
    """
    me = principal.name
    manager = _audit_manager(policy, principal, others=verify or user not in (None, me))
    records = log.tail(limit, principal=user if manager else me, action=action)
    return AuditView(records, (log.verify() is None) if verify else None)


def verify_audit(log: AuditLog, policy: Policy, principal: Principal) -> int | None:
    """The chain check of :meth:`AuditLog.verify`, for those who may read every record."""
    _audit_manager(policy, principal, others=True)
    return log.verify()


def _audit_manager(policy: Policy, principal: Principal, *, others: bool) -> bool:
    """Whether ``principal`` holds MANAGE_GRANTS; refused when it does not and ``others``."""
    manager = policy.check(principal, "MANAGE_GRANTS", "*").allowed
    if others and not manager:
        raise QueryRefused(
            f"{principal.name} may not administer DAP: MANAGE_GRANTS is needed to read others' "
            "audit records or verify the chain (your own records need nothing)"
        )
    return manager
