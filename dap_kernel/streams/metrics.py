"""How a stream is doing, over the last minute: throughput, batch time, event-to-queryable time.

*Event-to-queryable* latency of an event is the time from its Kafka timestamp (the producer's
create time, or the broker's log-append time) to the moment the Delta commit holding it
returned: from then on a query of the table sees it. Each batch contributes up to
:data:`SAMPLES_PER_BATCH` evenly spaced events, so the percentiles cost the same at 100 or
100,000 events a second. The figures land in the stream's state file (``dap stream status``,
REST ``streams``) and from there in ``/dap/metrics``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WINDOW_S = 60.0
SAMPLES_PER_BATCH = 200


@dataclass(frozen=True)
class Window:
    """The figures of the last :data:`WINDOW_S` seconds (None until a batch has committed)."""

    events_per_s: float | None
    batch_p50_ms: float | None
    batch_p99_ms: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None


@dataclass(frozen=True)
class _Batch:
    at: float  # monotonic time the commit returned
    events: int
    batch_ms: float
    latencies_ms: np.ndarray


class Meter:
    """Batches of the last minute; :meth:`window` summarises them."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._batches: deque[_Batch] = deque()
        self._started = time.monotonic()

    def batch(self, events: int, batch_ms: float, timestamps_ms: Sequence[int]) -> None:
        """One committed batch of ``events`` that took ``batch_ms`` to decode and commit;
        ``timestamps_ms`` are its events' Kafka timestamps (0: none)."""
        now = time.monotonic()
        committed_ms = time.time() * 1000
        stamps = np.asarray(timestamps_ms, dtype=np.float64)
        stamps = stamps[stamps > 0]
        if len(stamps) > SAMPLES_PER_BATCH:
            stamps = stamps[np.linspace(0, len(stamps) - 1, SAMPLES_PER_BATCH).astype(np.int64)]
        latencies = np.maximum(committed_ms - stamps, 0.0)
        self._batches.append(_Batch(now, events, batch_ms, latencies))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._batches and self._batches[0].at < now - self.window_s:
            self._batches.popleft()

    def window(self) -> Window:
        now = time.monotonic()
        self._trim(now)
        if not self._batches:
            return Window(None, None, None, None, None)
        # Throughput over the window, or since the start when the stream is younger.
        span = min(self.window_s, now - self._started)
        events = sum(b.events for b in self._batches)
        batch_ms = np.array([b.batch_ms for b in self._batches])
        latencies = np.concatenate([b.latencies_ms for b in self._batches])
        p50, p99 = _percentiles(latencies)
        b50, b99 = _percentiles(batch_ms)
        return Window(
            events_per_s=round(events / span, 1) if span > 0 else None,
            batch_p50_ms=b50,
            batch_p99_ms=b99,
            latency_p50_ms=p50,
            latency_p99_ms=p99,
        )


def _percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    if not len(values):
        return None, None
    p50, p99 = np.percentile(values, [50, 99])
    return round(float(p50), 1), round(float(p99), 1)
