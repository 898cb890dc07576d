"""Rate buckets shared by the service's workers (the rule is :mod:`dap_kernel.ratelimit`'s).

A worker takes tokens from a caller's bucket in the metadata database a few at a time (a
lease) and spends them locally; one transaction per lease, not per request. What a worker
holds unspent is at most one lease, so the workers together let through no more than the
rate; a caller may be refused by one worker while another holds part of a lease (erring on
the side of refusing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..meta import MetaStore
from .rows import ServiceRateBucketRow

BUCKETS = cast(Table, ServiceRateBucketRow.__table__)


class SharedBuckets:
    """Buckets in the metadata database that ``meta()`` opens (on first use: the service opens
    its workspace on its first request)."""

    def __init__(self, meta: Callable[[], MetaStore]) -> None:
        self.meta = meta

    def lease(self, bucket: str, per_min: float, burst: float, want: int) -> tuple[int, float]:
        """Take up to ``want`` whole tokens from ``bucket``: (tokens taken, seconds until the
        next one when none could be)."""
        try:
            return self._lease(bucket, per_min, burst, want)
        except IntegrityError:  # another worker made the bucket meanwhile (PostgreSQL)
            return self._lease(bucket, per_min, burst, want)

    def _lease(self, bucket: str, per_min: float, burst: float, want: int) -> tuple[int, float]:
        now = time.time()
        # connection() is one transaction; on SQLite it begins IMMEDIATE (the write lock), and
        # the UPDATE below takes the row lock on PostgreSQL before anything is read.
        with self.meta().connection() as con:
            con.execute(_LOCK, {"b": bucket})
            row = con.execute(_READ, {"b": bucket}).one_or_none()
            if row is None:
                tokens = burst
            else:
                elapsed = max(0.0, now - float(row.updated_at))
                tokens = min(burst, float(row.tokens) + elapsed * per_min / 60.0)
            taken = min(want, int(tokens))
            tokens -= taken
            values = {"b": bucket, "tokens": tokens, "at": now}
            con.execute(_CREATE if row is None else _SPEND, values)
        wait = 0.0 if taken else (1.0 - tokens) * 60.0 / per_min
        return taken, wait


# Built once: a lease is taken every tenth request of a caller, and building the statements
# cost more than running them.
_LOCK = (
    update(BUCKETS)
    .where(BUCKETS.c.bucket == bindparam("b"))
    .values(updated_at=BUCKETS.c.updated_at)
)
_READ = select(BUCKETS.c.tokens, BUCKETS.c.updated_at).where(BUCKETS.c.bucket == bindparam("b"))
_CREATE = insert(BUCKETS).values(
    bucket=bindparam("b"), tokens=bindparam("tokens"), updated_at=bindparam("at")
)
_SPEND = (
    update(BUCKETS)
    .where(BUCKETS.c.bucket == bindparam("b"))
    .values(tokens=bindparam("tokens"), updated_at=bindparam("at"))
)
