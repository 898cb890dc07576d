"""Streams: Kafka topics into governed lake tables, exactly once.

``dap stream start --bootstrap HOST:PORT --topic T --table NAME`` consumes a topic with a
consumer group and appends micro-batches (closed on size or after 1 s) to a Delta table. Each
commit holds the rows and, as Delta application transactions, the offsets that produced them
(the way kafka-delta-ingest does it), so a crash anywhere loses and duplicates nothing.

The modules, each building on those before it:

* :mod:`.spec`: what a stream is, its Kafka settings, the application ids of its offsets;
* :mod:`.decode`: JSON/CSV events → Arrow rows of the table's schema, bad ones → quarantine;
* :mod:`.sink`: one Delta commit per batch with its offsets, governed and quality-checked;
* :mod:`.consumer`: the consumer-group member that seeks to what the table says;
* :mod:`.state`: the state file ``dap stream status`` reads, and stopping a stream;
* :mod:`.metrics`: the last minute's throughput and latency percentiles;
* :mod:`.runner`: the loop, backpressure and graceful stop;
* :mod:`.request`: what a caller asks for, and where a stream's credentials may come from;
* :mod:`.supervisor`, :mod:`.child`: streams run as watched child processes (the service's);
* :mod:`.access`: who may start, see and stop a stream — what every door calls;
* :mod:`.api`: ``dap.streams.start|status|get|stop`` on the caller's client.

``dap_kernel.remote_streams`` offers :mod:`.access`'s methods over REST.
"""

from __future__ import annotations

from .access import GovernedStreams, StreamClient
from .api import get, start, status, status_frame, stop
from .decode import Decoded, Event, decode
from .request import StreamRequest
from .runner import RunSummary, StreamRunner
from .sink import OffsetsMoved, StreamSink
from .spec import StreamSpec, app_id, parse_schema
from .state import StreamState, read_state, read_states, stop_stream
from .supervisor import Supervisor

__all__ = [
    "Decoded",
    "Event",
    "GovernedStreams",
    "OffsetsMoved",
    "RunSummary",
    "StreamClient",
    "StreamRequest",
    "StreamRunner",
    "StreamSink",
    "StreamSpec",
    "StreamState",
    "Supervisor",
    "app_id",
    "decode",
    "get",
    "parse_schema",
    "read_state",
    "read_states",
    "start",
    "status",
    "status_frame",
    "stop",
    "stop_stream",
]
