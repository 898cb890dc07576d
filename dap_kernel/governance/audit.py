"""The append-only, hash-chained audit log of every governed decision.

Each record's hash covers its own content and the previous record's hash, so deleting or editing
a row breaks the chain and :func:`verify` finds where. Appends take the write lock of the single
``audit_head`` row first, which serialises writers across processes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from ..meta import AuditRecord, MetaStore
from ..meta.models import AuditHead


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
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    def __init__(self, meta: MetaStore, *, statement_max_chars: int = 20_000) -> None:
        self.meta = meta
        self.statement_max_chars = statement_max_chars

    def record(self, event: AuditEvent) -> int:
        """Append one event; returns its sequence number."""
        if len(event.statement) > self.statement_max_chars:
            event = _truncated(event, self.statement_max_chars)
        ts = datetime.now(UTC)
        with self.meta.session() as s:
            s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
            head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
            digest = _digest(head.hash, head.seq, ts, event)
            s.add(
                AuditRecord(
                    seq=head.seq,
                    ts=ts,
                    principal=event.principal,
                    action=event.action,
                    statement=event.statement,
                    tables=list(event.tables),
                    decision=event.decision,
                    reason=event.reason,
                    row_count=event.row_count,
                    elapsed_ms=event.elapsed_ms,
                    prev_hash=head.hash,
                    hash=digest,
                )
            )
            head.hash = digest
            return head.seq

    def tail(self, limit: int = 20, principal: str | None = None) -> list[AuditRecord]:
        with self.meta.session() as s:
            query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
            if principal:
                query = query.where(AuditRecord.principal == principal)
            return list(s.execute(query).scalars())

    def verify(self) -> int | None:
        """Sequence number of the first record that breaks the chain, or None if intact."""
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
                )
                ts = rec.ts if rec.ts.tzinfo else rec.ts.replace(tzinfo=UTC)
                if rec.prev_hash != prev or _digest(prev, rec.seq, ts, event) != rec.hash:
                    return rec.seq
                prev = rec.hash
        return None


def _truncated(event: AuditEvent, limit: int) -> AuditEvent:
    return AuditEvent(
        principal=event.principal,
        action=event.action,
        decision=event.decision,
        statement=event.statement[:limit] + f"… [{len(event.statement) - limit} chars cut]",
        tables=event.tables,
        reason=event.reason,
        row_count=event.row_count,
        elapsed_ms=event.elapsed_ms,
    )
