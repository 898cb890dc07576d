"""Producing events and reading tables back, shared by the stream tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from dap_kernel.session import Workspace
from dap_kernel.streams import RunSummary, StreamRunner, StreamSpec


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | str | dict[str, Any]],
    *,
    partitions: int = 3,
) -> int:
    """Send every value (dicts as JSON), spread over partitions by position; returns the count."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    n = 0
    for value in values:
        if isinstance(value, dict):
            value = json.dumps(value)
        data = value.encode() if isinstance(value, str) else value
        while True:
            try:
                producer.produce(topic, data, partition=n % partitions)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(30)
    assert left == 0, f"{left} events were not delivered"
    return n


def table_frame(ws: Workspace, table: str) -> pl.DataFrame:
    schema, name = table.split(".")
    frame = pl.from_arrow(ws.lake.read(schema, name))
    assert isinstance(frame, pl.DataFrame)
    return frame


def run_until(
    ws: Workspace,
    spec: StreamSpec,
    done: Callable[[RunSummary], bool],
    *,
    timeout_s: float = 60,
) -> RunSummary:
    """Run the stream in this process until ``done`` says so (or fail after ``timeout_s``)."""
    runner = StreamRunner(ws.session(channel="cli"), spec)
    timer = threading.Timer(timeout_s, runner.stop)
    timer.start()
    try:
        summary = runner.run(until=done)
    finally:
        timer.cancel()
    assert done(summary), f"the stream stopped before it was done: {summary}"
    return summary


def rows_at_least(n: int) -> Callable[[RunSummary], bool]:
    return lambda s: s.rows + s.quarantined >= n


def run_in_thread(runner: StreamRunner) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``runner.run()`` in a thread; what it raised lands in the list (assert it empty)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run()
        except BaseException as e:  # reported by the test through the list
            errors.append(e)

    # A daemon: a runner a failed test left behind never holds up the end of the test run.
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors
