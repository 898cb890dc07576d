"""Rate limits: how many requests one caller may send, whatever door they come through.

A token bucket per caller: the bucket holds at most ``burst`` tokens (a sixth of the minute's
rate by default, so a dashboard opening with a dozen requests at once goes through), refills at
``per_min / 60`` tokens a second, and each request takes one. An empty bucket refuses with
:class:`~dap_kernel.errors.RateLimited`, which says when the next token is due (the REST
``Retry-After``).

The caller is the API key when one was used (each key its own bucket, so a runaway report's key
does not starve its owner's notebook), else the user. A key may carry its own rate
(``api_keys.rate_limit_per_min``, set by an administrator); ``0`` means no limit.

The buckets live in the process, or, for the workers of one service, in a shared store
(:class:`BucketStore`, :mod:`dap_kernel.sharedstate.buckets`): a worker then leases a tenth of a
caller's burst at a time from the shared bucket and spends it locally, so the workers together
let through no more than the rate, and the shared store is written once per lease.

Why not a library: the usual ones (pyrate-limiter, limits) count requests in sliding or fixed
windows; a bucket with a burst is the rule wanted here, and it is a few lines.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import RateLimited

BURST_DIVISOR = 6  # burst = the minute's rate / 6: ten seconds' worth at once
LEASE_DIVISOR = 10  # a worker takes a tenth of the burst from a shared bucket at once
LEASE_TTL_S = 5.0  # tokens leased and not spent within this are given up


class BucketStore(Protocol):
    """Token buckets several processes share."""

    def lease(self, bucket: str, per_min: float, burst: float, want: int) -> tuple[int, float]:
        """Take up to ``want`` whole tokens: (taken, seconds until the next when none)."""
        ...


@dataclass
class _Lease:
    tokens: int
    taken: float


@dataclass(frozen=True)
class Rate:
    """``per_min`` requests a minute, at most ``burst`` at once (0 = no limit)."""

    per_min: float
    burst: float = 0.0

    def __post_init__(self) -> None:
        if self.burst <= 0 and self.per_min > 0:
            object.__setattr__(self, "burst", max(1.0, self.per_min / BURST_DIVISOR))

    @property
    def unlimited(self) -> bool:
        return self.per_min <= 0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by caller key, thread-safe; the least recently used are forgotten beyond
    ``max_callers`` (a forgotten caller starts again with a full bucket, which only errs on the
    side of letting a request through once)."""

    def __init__(
        self,
        default: Rate,
        *,
        max_callers: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        shared: BucketStore | None = None,
    ) -> None:
        self.default = default
        self.max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, float, float], _Bucket] = OrderedDict()
        self._shared = shared
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def rate_for(self, override_per_min: float | None) -> Rate:
        """The caller's rate: a key's own, else the service's default."""
        if override_per_min is None:
            return self.default
        return Rate(float(override_per_min))

    def take(
        self, caller: str, override_per_min: float | None = None, *, local_only: bool = False
    ) -> bool:
        """Spend one token of ``caller``'s bucket, or raise :class:`RateLimited`.

        With ``local_only``, a token that would need the shared store (this worker's lease is
        spent) is not taken and False is returned: the event loop asks so first, and leaves
        the store's transaction to a thread (a write lock held by another worker must not stop
        every request of this one)."""
        rate = self.rate_for(override_per_min)
        if rate.unlimited:
            return True
        if self._shared is not None:
            return self._take_shared(self._shared, caller, rate, local_only)
        # A changed rate (a key's limit edited) starts a bucket of its own.
        key = (caller, rate.per_min, rate.burst)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=rate.burst, updated=now)
                while len(self._buckets) > self.max_callers:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                refill = (now - bucket.updated) * rate.per_min / 60.0
                bucket.tokens = min(rate.burst, bucket.tokens + refill)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            wait = (1.0 - bucket.tokens) * 60.0 / rate.per_min
        raise _limited(rate, wait)

    def _take_shared(self, shared: BucketStore, caller: str, rate: Rate, local_only: bool) -> bool:
        """Spend a token of this process's lease, leasing more from the shared bucket first
        when it is spent (or older than LEASE_TTL_S) — unless ``local_only``."""
        key = f"{caller}|{rate.per_min:g}|{rate.burst:g}"
        now = self._clock()
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held.tokens >= 1 and now - held.taken < LEASE_TTL_S:
                held.tokens -= 1
                return True
        if local_only:
            return False
        want = max(1, int(rate.burst // LEASE_DIVISOR))
        taken, wait = shared.lease(key, rate.per_min, rate.burst, want)
        if not taken:
            raise _limited(rate, wait)
        with self._lock:
            if len(self._leases) >= self.max_callers:
                self._leases.clear()  # forgetting leases only refuses sooner
            self._leases[key] = _Lease(taken - 1, now)
        return True


def _limited(rate: Rate, wait: float) -> RateLimited:
    return RateLimited(
        f"too many requests: the limit is {_count(rate.per_min)} a minute "
        f"(bursts of {_count(rate.burst)}); try again in {math.ceil(wait)} s",
        retry_after_s=wait,
    )


def caller_key(principal_name: str, api_key_id: str = "") -> str:
    """Whose bucket a request spends: its API key's, else its user's."""
    return f"key:{api_key_id}" if api_key_id else f"user:{principal_name}"


def _count(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"
