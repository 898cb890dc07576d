"""Kafka streams into lake tables (REST ``streams``), run and watched by the service.

Every rule lives in :class:`dap_kernel.streams.access.GovernedStreams`, the object the
in-process client hands out: who may start a stream into which table, through which connector
or brokers, who sees and stops which stream. These handlers only parse, call and format.

Starting a stream needs the ``admin`` API-key scope, as a schedule does: a stream is standing
authority (it writes as its starter for as long as it runs), so a key that may only query
cannot make itself one. A request carries no credential: a cluster's password lives in a Kafka
connector (``kafka://USER:PASSWORD@HOST:PORT``) and reaches only the stream's own process.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dap_kernel.streams.access import GovernedStreams
from dap_kernel.streams.request import StreamRequest
from dap_kernel.streams.spec import DEFAULT_BATCH_ROWS, DEFAULT_BATCH_SECONDS
from dap_kernel.streams.state import StreamState
from dap_kernel.streams.supervisor import shared

from ..api import Call, router
from ..models import Request

TAG = "streams"


class StreamStart(Request):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    topic: str = Field(min_length=1, max_length=249)
    table: str = Field(min_length=1, max_length=200, description="TABLE or SCHEMA.TABLE.")
    connector: str = Field(default="", max_length=63, description="A Kafka connector.")
    bootstrap: str = Field(
        default="", max_length=2000, description="HOST:PORT[,…]: administrators only."
    )
    format: str = Field(default="json", description="json, csv or avro.")
    columns: str = Field(
        default="",
        alias="schema",
        max_length=20_000,
        description="Columns of a new table: 'id:bigint,page:string,at:timestamp'.",
    )
    group: str = Field(default="", max_length=255)
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, ge=1, le=10_000_000)
    batch_seconds: float = Field(default=DEFAULT_BATCH_SECONDS, gt=0, le=3600)
    start: str = Field(default="earliest", description="earliest or latest.")
    kafka: dict[str, str] = Field(
        default_factory=dict, description="Consumer tuning (fetch.*, queued.*); no credentials."
    )
    avro_schema: str = Field(
        default="", max_length=100_000, description="The writer's schema (.avsc) for avro."
    )


class StreamOut(BaseModel):
    """A stream's state as :meth:`dap_kernel.streams.state.StreamState.to_dict` gives it."""

    model_config = ConfigDict(extra="allow")

    name: str
    status: str = Field(description="starting, running, stopping, stopped, failed or dead.")
    owner: str
    supervised: bool
    pid: int
    rows: int
    quarantined: int
    version: int | None
    total_lag: int | None
    events_per_s: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    error: str
    request: dict[str, Any]
    spec: dict[str, Any]


class StreamList(BaseModel):
    streams: list[StreamOut]


def _streams(call: Call) -> GovernedStreams:
    return GovernedStreams(call.session, shared(call.workspace.settings))


def _out(state: StreamState) -> StreamOut:
    return StreamOut.model_validate(state.to_dict())


@router.get("streams", response=StreamList, tag=TAG)
def list_streams(call: Call) -> StreamList:
    """The streams of tables the caller may read (or that the caller started)."""
    return StreamList(streams=[_out(s) for s in _streams(call).status()])


@router.get("streams/{name}", response=StreamOut, tag=TAG, errors=(404,))
def get_stream(call: Call, name: str) -> StreamOut:
    """One stream: state, rows, offsets, lag, throughput and latency of the last minute."""
    return _out(_streams(call).status(name)[0])


@router.post(
    "streams",
    body=StreamStart,
    response=StreamOut,
    status=201,
    scope="admin",
    pool="query",
    tag=TAG,
    errors=(400, 403, 404, 409),
)
def start_stream(call: Call, body: StreamStart) -> StreamOut:
    """Start a stream as the caller, run and restarted by the service until stopped."""
    fields = body.model_dump(by_alias=True)
    request = StreamRequest.from_dict(fields)
    return _out(_streams(call).start(request))


@router.post(
    "streams/{name}/stop",
    response=StreamOut,
    scope="query",
    pool="query",
    tag=TAG,
    errors=(403, 404),
)
def stop_stream(call: Call, name: str) -> StreamOut:
    """Stop a stream: it commits the batch it holds, then exits."""
    return _out(_streams(call).stop(name))
