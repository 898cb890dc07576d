"""The token buckets of dap_kernel.ratelimit, on a clock the test moves."""

from __future__ import annotations

import pytest

from dap_kernel.errors import RateLimited
from dap_kernel.ratelimit import Rate, RateLimiter, caller_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _taken(limiter: RateLimiter, caller: str, n: int, override: float | None = None) -> int:
    """How many of ``n`` requests at once get through."""
    ok = 0
    for _ in range(n):
        try:
            limiter.take(caller, override)
            ok += 1
        except RateLimited:
            pass
    return ok


def test_a_burst_of_a_sixth_then_the_refill_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(per_min=600), clock=clock)
    assert _taken(limiter, "key:a", 150) == 100  # burst: 600 / 6
    with pytest.raises(RateLimited) as refused:
        limiter.take("key:a")
    assert refused.value.http_status == 429 and refused.value.retry_after_s == pytest.approx(0.1)
    assert "600 a minute (bursts of 100)" in refused.value.message
    clock.now += 1.0  # 10 tokens a second
    assert _taken(limiter, "key:a", 20) == 10
    clock.now += 3600  # never more than the burst, however long the caller was away
    assert _taken(limiter, "key:a", 150) == 100


def test_each_caller_has_a_bucket_of_its_own() -> None:
    limiter = RateLimiter(Rate(per_min=60), clock=Clock())
    assert _taken(limiter, "key:a", 20) == 10
    assert _taken(limiter, "key:b", 20) == 10
    assert _taken(limiter, "user:ann", 20) == 10


def test_a_key_of_its_own_rate_and_no_limit() -> None:
    limiter = RateLimiter(Rate(per_min=60), clock=Clock())
    assert _taken(limiter, "key:slow", 5, override=6) == 1
    assert _taken(limiter, "key:free", 1000, override=0) == 1000
    assert _taken(RateLimiter(Rate(per_min=0)), "user:x", 1000) == 1000


def test_forgotten_callers_make_room() -> None:
    limiter = RateLimiter(Rate(per_min=6), max_callers=2, clock=Clock())
    for caller in ("a", "b", "c"):
        assert _taken(limiter, caller, 2) == 1
    assert _taken(limiter, "c", 1) == 0  # still known: its bucket is empty
    assert _taken(limiter, "a", 1) == 1  # forgotten: a full bucket again


def test_caller_key_prefers_the_api_key() -> None:
    assert caller_key("ann", "0123abcd") == "key:0123abcd"
    assert caller_key("ann") == "user:ann"
