"""Governed SQL over REST: run (JSON pages or an Arrow stream), poll, page, cancel, and build
SQL from the lab extension's visual query spec."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import Future
from dataclasses import replace

from dap_kernel.errors import DapError, QueryCancelled
from dap_kernel.querybuild import BuiltQuery, QuerySpec, build_query
from dap_kernel.session import QueryResult
from dap_kernel.sharedstate.queries import wait_all

from ..api import ARROW_STREAM, Call, RawBody, router
from ..models import (
    Cancelled,
    ColumnType,
    ErrorBody,
    PageQuery,
    QueryBatch,
    QueryBatchResult,
    QueryPage,
    QueryRequest,
)
from ..runtime import QueryState
from .catalog import readable_columns
from .rows import arrow_stream, json_rows

QUERY_ERRORS = (400, 403, 404, 408, 409, 429)


@router.post(
    "query",
    body=QueryRequest,
    response=QueryPage,
    pool="query",
    scope="query",
    tag="query",
    errors=QUERY_ERRORS,
    alt_content=(ARROW_STREAM,),
)
def run_query(call: Call, body: QueryRequest) -> QueryPage | RawBody:
    """Run one governed SELECT. JSON pages by default; the whole result as an Arrow IPC stream
    with `Accept: application/vnd.apache.arrow.stream`."""
    # Admitted by the fair query pool before this runs (dap_kernel.admission): 429 at the limit.
    state, result, truncated = _execute(call, body, whole=call.wants_arrow)
    if call.wants_arrow:
        return RawBody(
            arrow_stream(result.table),
            ARROW_STREAM,
            headers={
                "X-DAP-Query-Id": state.query_id,
                "X-DAP-Tables": ",".join(result.tables),
                "X-DAP-Row-Count": str(result.row_count),
                "X-DAP-Truncated": str(truncated).lower(),
                "X-DAP-Cached": str(result.cached).lower(),
                "X-DAP-Elapsed-Ms": f"{result.elapsed_ms:.3f}",
            },
        )
    return _page(call, state, 0, body.page_size)


@router.post(
    "query/batch",
    body=QueryBatch,
    response=QueryBatchResult,
    pool="query",
    scope="query",
    tag="query",
    errors=(400, 429),
)
def run_batch(call: Call, body: QueryBatch) -> QueryBatchResult:
    """Run several governed SELECTs in one round trip (a dashboard or report opening): one
    result per query, in order; a failing query gives its error and does not stop the rest."""
    pages: list[QueryPage] = []
    pending: list[Future[None]] = []  # the queries' rows, committed together before the answer
    # One worker of the fair pool for the whole batch; one policy view for the whole report:
    # its queries agree, and the version is read once.
    with call.workspace.policy.pinned():
        for asked in body.queries:
            # An id for every query, so a failed one is answered like the others (an unnamed
            # query stays unnamed: it is not registered while it runs).
            query_id = asked.query_id or uuid.uuid4().hex
            written = len(pending)
            try:
                state, _, _ = _execute(call, asked, query_id=query_id, pending=pending)
                pages.append(_page(call, state, 0, asked.page_size))
            except DapError as e:
                pages.append(
                    QueryPage.model_construct(
                        query_id=query_id,
                        status="cancelled" if isinstance(e, QueryCancelled) else "failed",
                        error=ErrorBody(error=e.code, message=e.message),
                        # Recorded unless it never started (its id was in use, say).
                        held=len(pending) > written,
                    )
                )
    wait_all(pending)
    return QueryBatchResult(results=pages)


def _execute(
    call: Call,
    body: QueryRequest,
    *,
    query_id: str | None = None,
    whole: bool = False,
    pending: list[Future[None]] | None = None,
) -> tuple[QueryState, QueryResult, bool]:
    """Run one query for its caller: registered (for polling, paging, cancelling), timed
    (never longer than the server's maximum, whatever the caller asked), counted in the
    metrics; returns its state, its result (cut at the row limit) and whether it was cut.

    The result is held for paging when the caller named the query or its first page (or,
    ``whole``, the answer) leaves rows out; an unnamed query answered whole is let go. With
    ``pending``, its registry write is left there to be waited for (a batch)."""
    runtime = call.runtime
    user = call.principal.name
    named = bool(body.query_id)  # a named query may be polled or cancelled while it runs
    query_id = body.query_id or query_id or uuid.uuid4().hex
    limit = min(body.limit or runtime.max_rows, runtime.max_rows)
    started = time.perf_counter()
    outcome = "failed"
    runtime.metrics.running.inc()
    try:
        state = runtime.queries.start(query_id, user, named=named)
        try:
            result = call.session.query(
                body.sql,
                body.params,
                limit=limit + 1,  # one more row tells whether the result was cut
                query_id=state.engine_id,  # unique across users: see QueryState
                cache=body.cache,
                timeout_s=runtime.timeout(body.timeout),
                as_of=body.as_of,
                engine=body.engine,
            )
        except DapError as e:
            runtime.queries.fail(state, e, pending)
            outcome = "cancelled" if isinstance(e, QueryCancelled) else outcome
            raise
        outcome = "cached" if result.cached else "finished"
        if body.cache:
            runtime.metrics.cache.labels("hit" if result.cached else "miss").inc()
        truncated = result.row_count > limit
        if truncated:
            result = _cut(result, limit)
        if state.stored or (not whole and result.table.num_rows > body.page_size):
            runtime.queries.keep(state, result, truncated, pending)
        else:
            runtime.queries.release(state, result, truncated)
    finally:
        runtime.metrics.running.dec()
        runtime.metrics.query_duration.labels(outcome).observe(time.perf_counter() - started)
    return state, result, truncated


def _cut(result: QueryResult, limit: int) -> QueryResult:
    return replace(result, table=result.table.slice(0, limit))


def _page(call: Call, state: QueryState, offset: int, page_size: int) -> QueryPage:
    elapsed = ((state.finished or time.time()) - state.started) * 1000
    if state.status == "running":
        return QueryPage.model_construct(
            query_id=state.query_id,
            status="running",
            # Progress is known where the query runs; another worker says only that it runs.
            progress=call.session.progress(state.engine_id) if state.local else None,
            elapsed_ms=elapsed,
        )
    if state.error is not None or state.result is None:
        error = state.error or DapError("the query produced no result")
        return QueryPage.model_construct(
            query_id=state.query_id,
            status="cancelled" if state.status == "cancelled" else "failed",
            elapsed_ms=elapsed,
            error=ErrorBody(error=error.code, message=error.message),
        )
    result = state.result
    table = result.table
    end = min(offset + page_size, table.num_rows)
    return QueryPage.model_construct(
        query_id=state.query_id,
        status="finished",
        columns=[ColumnType(name=f.name, type=str(f.type)) for f in table.schema],
        rows=json_rows(table, offset, max(end - offset, 0)),
        row_count=table.num_rows,
        offset=offset,
        next_offset=end if end < table.num_rows else None,
        truncated=state.truncated,
        cached=result.cached,
        elapsed_ms=result.elapsed_ms,
        progress=None,
        tables=list(result.tables),
        error=None,
        held=state.held,
    )


def _state(call: Call, query_id: str) -> QueryState:
    """The caller's own query (ids are per user: another user's is simply not found)."""
    return call.runtime.queries.get(query_id, call.principal.name)


@router.get(
    "query/{query_id}",
    query=PageQuery,
    response=QueryPage,
    scope="query",
    tag="query",
    errors=(404,),
)
def get_query(call: Call, query_id: str, query: PageQuery) -> QueryPage:
    """Status of a query, and a page of its rows once it has finished."""
    return _page(call, _state(call, query_id), query.offset, query.page_size)


@router.delete("query/{query_id}", response=Cancelled, scope="query", tag="query", errors=(404,))
def cancel_query(call: Call, query_id: str) -> Cancelled:
    """Stop a running query of yours (through any worker of the service)."""
    state = _state(call, query_id)
    if state.status != "running":
        return Cancelled(query_id=query_id, cancelled=False)
    if state.local:
        call.session.cancel(state.engine_id)  # stops it even before it reaches the engine
        return Cancelled(query_id=query_id, cancelled=True)
    # Running in another worker: it sees the request within moments and cancels it there.
    return Cancelled(query_id=query_id, cancelled=call.runtime.queries.request_cancel(state))


@router.post(
    "query/build", body=QuerySpec, response=BuiltQuery, tag="query", errors=(400, 403, 404)
)
def build(call: Call, body: QuerySpec) -> BuiltQuery:
    """Turn a visual query spec into SQL with bound parameters (used by the query builder)."""

    def columns_of(name: str) -> list[tuple[str, str]]:
        return readable_columns(call, name)

    return build_query(body, columns_of)
