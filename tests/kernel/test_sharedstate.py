"""What the workers of one service share, on SQLite and PostgreSQL: two stores over one
database stand for two worker processes."""

from __future__ import annotations

import pyarrow as pa
import pytest
from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import text

from dap_kernel.errors import QueryCancelled, QueryIdInUse, RateLimited, UnknownQuery
from dap_kernel.meta import MetaStore
from dap_kernel.ratelimit import Rate, RateLimiter
from dap_kernel.results import QueryResult
from dap_kernel.sharedstate.buckets import SharedBuckets
from dap_kernel.sharedstate.queries import SharedQueries, forget_results
from dap_kernel.sharedstate.results import SharedResultCache

KEY = MultiFernet([Fernet(Fernet.generate_key())])


@pytest.fixture
def meta(meta_url: str) -> MetaStore:
    store = MetaStore(meta_url)
    store.migrate()
    return store


def _result(rows: list[str]) -> QueryResult:
    return QueryResult(pa.table({"city": rows}), "e", 1.5, ("main.t",), "SELECT …")


def test_a_query_kept_by_one_worker_is_read_by_its_owner_on_another_only(meta: MetaStore) -> None:
    one, two = SharedQueries(meta, KEY), SharedQueries(meta, KEY)
    state = one.start("q-0000001", "ann", named=False)
    one.keep(state, _result(["Lyon", "Oslo"]), truncated=False)
    seen = two.get("q-0000001", "ann")
    assert seen.status == "finished" and not seen.local
    assert seen.result is not None and seen.result.table.column("city").to_pylist() == [
        "Lyon",
        "Oslo",
    ]
    with pytest.raises(UnknownQuery):
        two.get("q-0000001", "raj")  # raj's namespace: as unknown as an id never used
    # What rests is ciphertext.
    with meta.connection() as con:
        blob = con.execute(text("SELECT result FROM service_queries")).scalar_one()
    assert b"Lyon" not in blob and b"city" not in blob
    # Another key (a different service's, a tampered row) reads nothing.
    stranger = SharedQueries(meta, MultiFernet([Fernet(Fernet.generate_key())]))
    with pytest.raises(UnknownQuery):
        stranger.get("q-0000001", "ann")


def test_a_named_query_is_seen_running_and_its_id_is_taken_on_every_worker(
    meta: MetaStore,
) -> None:
    one, two = SharedQueries(meta, KEY), SharedQueries(meta, KEY)
    state = one.start("long-0001", "ann", named=True)
    assert two.get("long-0001", "ann").status == "running"
    with pytest.raises(QueryIdInUse):
        two.start("long-0001", "ann", named=True)
    other = two.start("long-0001", "raj", named=True)  # raj's own id of the same name
    assert two.request_cancel(two.get("long-0001", "ann"))
    assert one.cancel_requests() == [state.engine_id]
    one.fail(state, QueryCancelled("cancelled"))
    after = two.get("long-0001", "ann")
    assert after.status == "cancelled" and after.error is not None
    assert after.error.code == "query_cancelled"
    assert not two.request_cancel(after)  # no longer running
    two.fail(other, QueryCancelled("cancelled"))


def test_a_result_cached_by_one_worker_is_found_by_another(meta: MetaStore) -> None:
    one, two = SharedResultCache(meta, KEY), SharedResultCache(meta, KEY)
    key = ("duckdb:SELECT 1", "()", ())
    one.put(key, pa.table({"x": [1]}))
    found = two.get(key)
    assert found is not None and found.column("x").to_pylist() == [1]
    assert two.get(("duckdb:SELECT 2", "()", ())) is None
    two.clear()  # an erasure, through any worker
    fresh = SharedResultCache(meta, KEY)
    assert fresh.get(key) is None


def test_one_rate_across_workers(meta: MetaStore) -> None:
    rate = Rate(1, burst=20)  # leases of 2 tokens; a refill a minute
    one = RateLimiter(rate, shared=SharedBuckets(lambda: meta))
    two = RateLimiter(rate, shared=SharedBuckets(lambda: meta))
    passed = 0
    for i in range(40):
        try:
            (one if i % 2 else two).take("user:ann")
            passed += 1
        except RateLimited:
            pass
    assert passed == 20  # the burst, once, whichever worker each request reached
    with pytest.raises(RateLimited):
        one.take("user:ann")
    one.take("user:raj")  # a bucket of its own


def test_the_event_loop_spends_a_lease_but_never_takes_one(meta: MetaStore) -> None:
    """``local_only`` (what the REST loop asks first) spends this worker's leased tokens and
    says False once they are spent, without a transaction; the lease is then taken off the
    loop."""
    store = SharedBuckets(lambda: meta)
    leases: list[str] = []
    real = store.lease

    def counted(bucket: str, per_min: float, burst: float, want: int) -> tuple[int, float]:
        leases.append(bucket)
        return real(bucket, per_min, burst, want)

    store.lease = counted  # type: ignore[method-assign]
    limiter = RateLimiter(Rate(600, burst=30), shared=store)  # leases of 3 tokens
    assert limiter.take("user:ann", local_only=True) is False and leases == []
    assert limiter.take("user:ann") is True and len(leases) == 1
    assert [limiter.take("user:ann", local_only=True) for _ in range(3)] == [True, True, False]
    assert len(leases) == 1


def test_an_erasure_drops_the_results_held_for_paging(meta: MetaStore) -> None:
    one = SharedQueries(meta, KEY)
    state = one.start("q-0000002", "ann", named=False)
    one.keep(state, _result(["Lyon"]), truncated=False)
    assert forget_results(meta) == 1
    with pytest.raises(UnknownQuery, match="no longer held"):
        SharedQueries(meta, KEY).get("q-0000002", "ann")
