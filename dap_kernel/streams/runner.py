"""Running a stream: read a bounded batch, decode it, commit it with its offsets, repeat.

* **Exactly once.** Offsets live in the table (:mod:`.sink`); the consumer seeks from them on
  every assignment (:mod:`.consumer`). A process killed at any point leaves the table at a
  commit boundary and the next run continues right after it.
* **Backpressure.** A batch holds at most ``batch_rows`` events and nothing more is read until
  it is committed: a slow lake slows consumption, memory stays bounded.
* **Graceful stop.** SIGTERM/SIGINT (or :meth:`StreamRunner.stop`) end the batch being read,
  commit it, leave the consumer group (its partitions move at once) and mark the state stopped.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import DapError
from .consumer import StreamConsumer
from .decode import Event, decode
from .metrics import Meter
from .sink import OffsetsMoved, StreamSink
from .spec import StreamSpec
from .state import StreamState, stream_lock, write_state

if TYPE_CHECKING:
    from ..session import Session

log = logging.getLogger(__name__)
LAG_EVERY_S = 5.0  # how often the broker is asked for high watermarks
HEARTBEAT_S = 2.0  # the state file is rewritten at least this often while idle


@dataclass(frozen=True)
class RunSummary:
    batches: int
    rows: int
    quarantined: int
    version: int | None


class StreamRunner:
    """One stream in this process. :meth:`run` blocks until :meth:`stop` (or a signal)."""

    def __init__(
        self,
        session: Session,
        spec: StreamSpec,
        *,
        home: Path | None = None,
        state: StreamState | None = None,
    ) -> None:
        self.session = session
        self.spec = spec
        self.home = home or session.workspace.settings.home
        self.sink = StreamSink(session, spec)
        self._stop = threading.Event()
        self.state = state or StreamState(name=spec.name, spec=spec.to_dict(), pid=os.getpid())
        self.meter = Meter()

    def stop(self) -> None:
        """Finish the batch being read, commit it and return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(
        self,
        *,
        handle_signals: bool = False,
        until: Callable[[RunSummary], bool] | None = None,
    ) -> RunSummary:
        """Consume until stopped (or ``until(summary)`` says so after a batch). Alone: a second
        process running this stream is refused (:func:`~.state.stream_lock`)."""
        with stream_lock(self.home, self.state.name):
            return self._run(handle_signals, until)

    def _run(self, handle_signals: bool, until: Callable[[RunSummary], bool] | None) -> RunSummary:
        if handle_signals:
            self._install_signals()
        what = f"stream {self.spec.topic} from {self.spec.bootstrap} into {self.spec.table}"
        with self.session.audit_change("stream", (self.spec.table,), statement=what):
            self.sink.check_access()
            if not self.sink.exists and self.spec.format == "csv" and self.spec.schema is None:
                raise DapError(
                    f"a CSV stream into the new table {self.spec.table} needs its columns "
                    "(--schema 'id:bigint,name:string,…')"
                )
        if not self.sink.exists and self.spec.schema is not None:
            self.sink.create(self.spec.schema)  # queryable (empty) before the first event
        self.sink.sync_catalog()
        write_state(self.home, self.state)
        consumer = StreamConsumer(self.spec, self.sink.offsets)
        try:
            self.state.status = "running"
            write_state(self.home, self.state)  # status says so before the first commit lands
            self._loop(consumer, until)
            self.state.status = "stopped"
        except BaseException as e:
            self.state.status = "failed"
            error = str(e) if isinstance(e, DapError) else f"{type(e).__name__}: {e}"
            self.state.error = self._scrub(error)
            self.state.retryable = not isinstance(e, DapError | KeyboardInterrupt)
            raise
        finally:
            consumer.close()
            write_state(self.home, self.state)
        return self._summary()

    def _scrub(self, text: str) -> str:
        """The connector's password never reaches the state file, whatever a driver said."""
        for key, value in self.spec.credentials.items():
            if "password" in key and isinstance(value, str) and value:
                text = text.replace(value, "***")
        return text

    def _summary(self) -> RunSummary:
        s = self.state
        return RunSummary(s.batches, s.rows, s.quarantined, s.version)

    def _loop(self, consumer: StreamConsumer, until: Callable[[RunSummary], bool] | None) -> None:
        last_lag = last_write = 0.0
        while True:
            events = consumer.poll_batch(
                self.spec.batch_rows, self.spec.batch_seconds, self._stop.is_set
            )
            if events:
                try:
                    self._commit(consumer, events)
                except OffsetsMoved as e:
                    log.warning(
                        "stream %s: %s; positioning from the table again", self.spec.name, e
                    )
                    consumer.reseek()
            now = time.monotonic()
            if now - last_lag > LAG_EVERY_S:
                self.state.lag = {str(p): n for p, n in consumer.lag().items()}
                last_lag = now
            if events or now - last_write > HEARTBEAT_S:
                self._measure()
                write_state(self.home, self.state)
                last_write = now
            if self._stop.is_set() or (until is not None and until(self._summary())):
                return

    def _commit(self, consumer: StreamConsumer, events: list[Event]) -> None:
        started = time.monotonic()
        schema = self.sink.schema()
        decoded, schema = decode(
            events,
            topic=self.spec.topic,
            format=self.spec.format,
            schema=schema if schema is not None else self.spec.schema,
            columns=(),
            avro_schema=self.spec.avro_schema,
        )
        if not self.sink.exists:
            if not schema.names:
                raise DapError(
                    f"cannot tell the columns of {self.spec.table} from the first events (none "
                    "is a JSON object): give --schema or create the table first"
                )
            self.sink.create(schema)
        last: dict[int, int] = {}
        for e in events:
            if e.offset > last.get(e.partition, -1):
                last[e.partition] = e.offset
        expected = {p: consumer.assigned.get(p) for p in last}
        done = self.sink.commit(decoded, last, expected)
        consumer.commit_hint(done.offsets)
        s = self.state
        s.batches += 1
        s.rows += done.rows
        s.quarantined += done.quarantined
        s.version = done.version
        s.offsets.update({str(p): o for p, o in done.offsets.items()})
        finished = time.monotonic()
        s.last_batch_ms = round((finished - started) * 1000, 1)
        stamps = [e.timestamp_ms for e in events]
        oldest = min((t for t in stamps if t), default=0)
        if oldest:
            s.last_latency_ms = round(max(0.0, time.time() * 1000 - oldest), 1)
        self.meter.batch(len(events), s.last_batch_ms, stamps)

    def _measure(self) -> None:
        """The last minute's figures into the state (an idle stream's decay to none)."""
        w = self.meter.window()
        s = self.state
        s.events_per_s = w.events_per_s
        s.batch_p50_ms, s.batch_p99_ms = w.batch_p50_ms, w.batch_p99_ms
        s.latency_p50_ms, s.latency_p99_ms = w.latency_p50_ms, w.latency_p99_ms

    def _install_signals(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.state.status = "stopping"
            self._stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
