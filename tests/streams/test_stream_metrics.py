"""A stream's figures of the last minute: throughput, batch time and event-to-queryable latency."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dap_kernel.streams.metrics import SAMPLES_PER_BATCH, Meter


def test_latency_percentiles_are_those_of_the_events() -> None:
    meter = Meter()
    now = time.time() * 1000
    ages = np.arange(1, 10_001, dtype=np.float64)  # events 1 ms … 10 s old at the commit
    meter.batch(10_000, 40.0, [int(now - a) for a in ages])
    meter.batch(5, 60.0, [0] * 5)  # events without a timestamp count, but have no latency

    w = meter.window()

    # 200 evenly spaced samples of 10,000 ages: within a few sample steps of the truth
    step = 10_000 / SAMPLES_PER_BATCH
    assert w.latency_p50_ms == pytest.approx(np.percentile(ages, 50), abs=2 * step + 50)
    assert w.latency_p99_ms == pytest.approx(np.percentile(ages, 99), abs=2 * step + 50)
    assert w.batch_p50_ms == 50.0 and w.batch_p99_ms == pytest.approx(59.8)
    assert w.events_per_s is not None and w.events_per_s > 10_005 / 60


def test_old_batches_leave_the_window() -> None:
    meter = Meter(window_s=0.05)
    assert meter.window().events_per_s is None  # nothing yet
    meter.batch(100, 10.0, [int(time.time() * 1000) - 5] * 100)
    assert meter.window().latency_p50_ms is not None
    time.sleep(0.1)
    assert meter.window() == type(meter.window())(None, None, None, None, None)
