"""The result cache shared by the service's workers: this process's LRU in front of encrypted
rows in the metadata database.

Keyed exactly as :class:`dap_kernel.results.ResultCache` is (the governed statement with the
caller's filters and masks in it, the parameters, a version token per table): the row's key is
the SHA-256 of that key, so a caller reaches an entry only by asking the governed question
that made it. The rows are ciphertext under the service's secret key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Hashable
from typing import cast

import pyarrow as pa
from cryptography.fernet import MultiFernet
from sqlalchemy import Table, delete, insert, select, update

from ..meta import MetaStore
from ..results import ResultCache
from .codec import seal, unseal
from .rows import ServiceResultRow

RESULTS = cast(Table, ServiceResultRow.__table__)


def key_hash(key: Hashable) -> str:
    """The same on every worker: a cache key is a tuple of strings, numbers and tuples."""
    return hashlib.sha256(repr(key).encode()).hexdigest()


class SharedResultCache(ResultCache):
    """:class:`ResultCache` whose misses look in the shared rows, and whose puts write them."""

    def __init__(
        self,
        meta: MetaStore,
        cipher: MultiFernet,
        max_bytes: int = 256 * 2**20,
        ttl_s: float = 600.0,
    ) -> None:
        super().__init__(max_bytes=max_bytes, ttl_s=ttl_s)
        self.meta = meta
        self.cipher = cipher
        self._pruned = 0.0

    def get(self, key: Hashable) -> pa.Table | None:
        table = super().get(key)
        if table is not None:
            return table
        now = time.time()
        with self.meta.connection() as con:
            row = con.execute(
                select(RESULTS.c.result).where(
                    RESULTS.c.key_hash == key_hash(key), RESULTS.c.expires_at > now
                )
            ).one_or_none()
        if row is None:
            return None
        table = unseal(self.cipher, row.result)
        if table is not None:
            super().put(key, table)
        return table

    def put(self, key: Hashable, table: pa.Table) -> None:
        nbytes = int(table.nbytes)
        if self.max_bytes <= 0 or nbytes > self.max_bytes // 4:
            return  # as the process cache: one huge result is not worth keeping
        super().put(key, table)
        now = time.time()
        values = {
            "result": seal(self.cipher, table),
            "nbytes": nbytes,
            "expires_at": now + self.ttl_s,
        }
        digest = key_hash(key)
        with self.meta.connection() as con:
            done = con.execute(
                update(RESULTS).where(RESULTS.c.key_hash == digest).values(**values)
            ).rowcount
            if not done:
                con.execute(insert(RESULTS).values(key_hash=digest, **values))
            if now - self._pruned > 5.0:
                self._pruned = now
                con.execute(delete(RESULTS).where(RESULTS.c.expires_at <= now))

    def clear(self) -> None:
        """Forget every result, in every worker's shared store (an erasure)."""
        super().clear()
        with self.meta.connection() as con:
            con.execute(delete(RESULTS))
