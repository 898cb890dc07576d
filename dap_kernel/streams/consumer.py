"""The Kafka side of a stream: a consumer-group member that reads from where the *table* says.

Broker offsets are not trusted for correctness: on every assignment each partition is
positioned at the table's offset + 1 (:meth:`StreamSink.offsets`), or at ``--start``
(earliest by default) for a partition the table has never seen. Offsets are committed to the
broker only after the Delta commit, as a hint for lag tools; auto-commit is off.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import DapError
from .decode import Event
from .spec import StreamSpec

log = logging.getLogger(__name__)

TableOffsets = Callable[[list[int]], dict[int, "int | None"]]


POLL_S = 0.05  # the longest one consume call waits
CLOSE_WAIT_S = 10.0  # the longest a stop waits for the broker to hear the consumer leave


class StreamConsumer:
    """A confluent-kafka consumer subscribed to one topic, positioned from the table.

    ``table_offsets`` tells where the table is. Batches are committed between polls, so when
    partitions are revoked (inside a poll) the only uncommitted events are those of the batch
    being read: :meth:`poll_batch` drops them and every assigned partition is positioned from
    the table again (the eager assignment protocol reassigns all of them, which is why DAP
    fixes it).
    """

    def __init__(self, spec: StreamSpec, table_offsets: TableOffsets) -> None:
        from confluent_kafka import Consumer

        self.spec = spec
        self._table_offsets = table_offsets
        self.assigned: dict[int, int | None] = {}  # partition → offset the table holds
        self.generation = 0  # bumps on every assignment change: buffers of old ones are void
        try:
            self._consumer = Consumer(spec.consumer_config(), logger=log)
        except Exception as e:  # KafkaException: a bad setting
            raise DapError(f"cannot create a Kafka consumer: {e}") from e
        self._consumer.subscribe(
            [spec.topic], on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lost
        )

    # -- rebalance callbacks (run inside poll) ----------------------------------------------

    def _assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

        numbers = [tp.partition for tp in partitions]
        held = self._table_offsets(numbers)
        start = OFFSET_BEGINNING if self.spec.start == "earliest" else OFFSET_END
        for tp in partitions:
            offset = held.get(tp.partition)
            tp.offset = start if offset is None else offset + 1
        self.assigned.update(held)
        self.generation += 1
        consumer.assign(partitions)
        log.info("stream %s assigned %s at %s", self.spec.name, numbers, held)

    def _revoke(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            self.assigned.pop(tp.partition, None)
        self.generation += 1
        consumer.unassign()

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        """Lost, not revoked (the session expired): another member may own them already, so
        nothing buffered for them may be committed."""
        for tp in partitions:
            self.assigned.pop(tp.partition, None)
        self.generation += 1
        consumer.unassign()

    # -- reading ----------------------------------------------------------------------------

    def poll_batch(
        self, max_rows: int, max_seconds: float, stop: Callable[[], bool]
    ) -> list[Event]:
        """Events until ``max_rows`` or ``max_seconds`` after the first, or a stop request.

        A bounded batch is the backpressure: nothing more is read until it is committed.
        """
        events: list[Event] = []
        deadline: float | None = None
        generation = self.generation
        while len(events) < max_rows and not stop():
            wait = 0.2 if deadline is None else max(0.0, deadline - time.monotonic())
            if deadline is not None and wait == 0:
                break
            # librdkafka's consume waits for all it was asked or for the timeout. Before the
            # batch's first event, ask for one (it returns as soon as there is one); then for
            # many, in short waits, so the batch closes on time (not up to 0.2 s late).
            if deadline is None:
                messages = self._consumer.consume(1, wait)
            else:
                messages = self._consumer.consume(
                    min(max_rows - len(events), 10_000), min(wait, POLL_S)
                )
            if self.generation != generation:
                # The assignment changed inside consume: what was read belongs to old partitions
                # (committed or void by now); start the batch again from the new positions.
                events, deadline, generation = [], None, self.generation
            for m in messages:
                error = m.error()
                if error is not None:
                    if error.fatal():
                        raise DapError(f"Kafka consumer failed: {error.str()}")
                    log.warning("stream %s: %s", self.spec.name, error.str())
                    continue
                partition, offset = m.partition(), m.offset()
                if partition is None or offset is None or partition not in self.assigned:
                    continue
                ts = m.timestamp()[1]
                events.append(Event(partition, offset, m.value(), ts if ts > 0 else 0))
            if events and deadline is None:
                deadline = time.monotonic() + max_seconds
        return events

    def commit_hint(self, offsets: dict[int, int]) -> None:
        """Tell the broker how far the table is (offset + 1), for lag tools; best effort."""
        from confluent_kafka import KafkaException, TopicPartition

        if not offsets:
            return
        for p, o in offsets.items():
            if p in self.assigned:
                self.assigned[p] = o
        tps = [TopicPartition(self.spec.topic, p, o + 1) for p, o in offsets.items()]
        try:
            self._consumer.commit(offsets=tps, asynchronous=True)
        except KafkaException as e:
            log.info("stream %s: broker offset commit skipped: %s", self.spec.name, e)

    def lag(self) -> dict[int, int]:
        """Per assigned partition: the broker's high watermark − (the table's offset + 1)."""
        from confluent_kafka import KafkaException, TopicPartition

        lags: dict[int, int] = {}
        for p, held in list(self.assigned.items()):
            try:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.spec.topic, p), timeout=1, cached=False
                )
            except KafkaException:
                continue
            lags[p] = max(0, int(high) - (-1 if held is None else held) - 1)
        return lags

    def reseek(self) -> None:
        """Position every assigned partition from the table again (after :class:`OffsetsMoved`)."""
        partitions = self._consumer.assignment()
        if partitions:
            self._assign(self._consumer, partitions)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Leave the consumer group, waiting at most ``wait_s`` seconds: librdkafka's close
        waits for a broker that went away until the group session times out (~45 s, seen here;
        longer with requests queued), which would hold up the stop of the stream and the exit
        of its process. The table already holds every committed batch, so nothing is lost by
        not waiting: the broker drops the member when its session expires."""

        def leave() -> None:
            with contextlib.suppress(RuntimeError):  # already closed
                self._consumer.close()

        closer = threading.Thread(target=leave, name="dap-stream-close", daemon=True)
        closer.start()
        closer.join(wait_s)
        if closer.is_alive():
            log.warning(
                "stream %s: the broker did not answer the consumer's leaving within %g s; "
                "it drops the member when its session expires",
                self.spec.name,
                wait_s,
            )
