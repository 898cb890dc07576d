"""``dap.streams``: start, watch and stop Kafka streams from Python, on the caller's client.

In a notebook on the embedded default the streams run as child processes this kernel watches
(they keep running when it exits: ``dap stream stop`` or :func:`stop` ends them); with
``DAP_SERVICE_URL`` the service runs and watches them. Either way the same rules apply
(:mod:`.access`), because both clients hand the call to the same core.

>>> dap.streams.start("clicks", topic="clicks", connector="events")  # doctest: +SKIP
>>> dap.streams.status()                                             # doctest: +SKIP
>>> dap.streams.stop("clicks")                                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from ..caller import default_client
from .request import StreamRequest
from .spec import DEFAULT_BATCH_ROWS, DEFAULT_BATCH_SECONDS
from .state import StreamState

if TYPE_CHECKING:
    import polars as pl

    from .access import StreamClient


class HasStreams(Protocol):
    """A client (local or remote) as far as streams go."""

    @property
    def streams(self) -> StreamClient: ...


def _streams(session: HasStreams | None) -> StreamClient:
    found: HasStreams = session if session is not None else default_client()
    return found.streams


def start(
    table: str,
    *,
    topic: str,
    connector: str = "",
    bootstrap: str = "",
    format: str = "json",
    schema: str = "",
    group: str = "",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    start: str = "earliest",
    kafka: Mapping[str, str] | None = None,
    avro_schema: str = "",
    session: HasStreams | None = None,
) -> StreamState:
    """Stream ``topic`` into ``table`` until stopped; the state once it runs. Name the cluster
    with a Kafka ``connector`` (its credentials stay in the secret store) or, as an
    administrator, with ``bootstrap``; ``schema`` (``"id:bigint,page:string"``) gives a new
    table its columns; ``format="avro"`` reads records with ``avro_schema`` (the .avsc JSON)."""
    request = StreamRequest(
        topic=topic,
        table=table,
        connector=connector,
        bootstrap=bootstrap,
        format=format,
        schema=schema,
        group=group,
        batch_rows=batch_rows,
        batch_seconds=batch_seconds,
        start=start,
        kafka=dict(kafka or {}),
        avro_schema=avro_schema,
    )
    return _streams(session).start(request)


def get(name: str, *, session: HasStreams | None = None) -> StreamState:
    """One stream's state: rows, offsets, lag, throughput and latency of the last minute."""
    return _streams(session).status(name)[0]


def status(session: HasStreams | None = None) -> pl.DataFrame:
    """Every stream the caller may see, one row each."""
    return status_frame(_streams(session).status())


def stop(name: str, *, session: HasStreams | None = None) -> StreamState:
    """Stop a stream: it commits the batch it holds, then exits."""
    return _streams(session).stop(name)


def status_frame(states: list[StreamState]) -> pl.DataFrame:
    """The states as a table (what ``%dap stream status`` and ``dap stream status`` show)."""
    import polars as pl

    return pl.DataFrame(
        [
            {
                "stream": s.name,
                "status": s.status,
                "owner": s.owner,
                "rows": s.rows,
                "quarantined": s.quarantined,
                "lag": s.total_lag,
                "events_per_s": s.events_per_s,
                "p50_ms": s.latency_p50_ms,
                "p99_ms": s.latency_p99_ms,
                "restarts": s.restarts,
                "updated": s.updated_at,
                "error": s.error,
            }
            for s in states
        ],
        schema={
            "stream": pl.String,
            "status": pl.String,
            "owner": pl.String,
            "rows": pl.Int64,
            "quarantined": pl.Int64,
            "lag": pl.Int64,
            "events_per_s": pl.Float64,
            "p50_ms": pl.Float64,
            "p99_ms": pl.Float64,
            "restarts": pl.Int64,
            "updated": pl.String,
            "error": pl.String,
        },
    )
