"""Prometheus metrics for ``/dap/metrics``, in a registry of their own.

A private registry keeps DAP's series apart from Jupyter Server's own ``/metrics`` and lets two
servers in one test process count separately.

Under ``dap serve --workers N`` a scrape reaches whichever worker the kernel hands the
connection to, so each answer must be the service's, not one worker's (else every counter
jumps between the workers' values and ``rate()`` reads resets). The supervisor gives the
workers one ``PROMETHEUS_MULTIPROC_DIR``: prometheus_client keeps each process's values in a
file there, and a scrape sums every worker's (:func:`render`), the dead ones' counts too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# Where every worker of one service keeps its values (prometheus_client's own variable).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, streams_home: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.streams = StreamCollector(streams_home) if streams_home is not None else None
        if self.streams is not None:
            self.registry.register(self.streams)
        self.requests = Counter(
            "dap_http_requests",
            "REST requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dap_http_request_duration_seconds",
            "Time from request to response, by route.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.query_duration = Histogram(
            "dap_query_duration_seconds",
            "Governed query time (rewrite + engine, or cache lookup), by outcome.",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "dap_result_cache_lookups",
            "Result-cache lookups of REST queries, by result (hit or miss).",
            ["result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "dap_errors",
            "Error responses, by error code.",
            ["code"],
            registry=self.registry,
        )
        self.running = Gauge(
            "dap_queries_running",
            "Queries running now.",
            registry=self.registry,
            multiprocess_mode="livesum",  # the running workers' sum
        )

    def render(self) -> bytes:
        """This process's series, or with workers every worker's, summed."""
        folder = os.environ.get(MULTIPROCESS_DIR)
        if not folder:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        files = MultiProcessCollector(None, path=folder)  # type: ignore[no-untyped-call]
        registry.register(_DapSeries(files))
        if self.streams is not None:
            registry.register(self.streams)
        return generate_latest(registry)


class _DapSeries(Collector):
    """DAP's series of the workers' files (Jupyter Server's own are in them too)."""

    def __init__(self, inner: MultiProcessCollector) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        for metric in self.inner.collect():  # type: ignore[no-untyped-call]
            if metric.name.startswith("dap_"):
                yield metric


# A stream's state file field → (metric, help). Read at each scrape: streams run in processes
# of their own (``dap stream start``), and their state files are what they report.
_STREAM_GAUGES = {
    "total_lag": ("dap_stream_lag_events", "Events on the topic not yet in the table."),
    "rows": ("dap_stream_rows", "Rows this run of the stream appended."),
    "quarantined": ("dap_stream_quarantined_events", "Events this run sent to the quarantine."),
    "events_per_s": ("dap_stream_events_per_second", "Events consumed per second, last minute."),
    "batch_p99_ms": ("dap_stream_batch_p99_milliseconds", "99th percentile batch commit time."),
    "latency_p50_ms": (
        "dap_stream_event_to_queryable_p50_milliseconds",
        "Median time from an event's Kafka timestamp to its commit, last minute.",
    ),
    "latency_p99_ms": (
        "dap_stream_event_to_queryable_p99_milliseconds",
        "99th percentile time from an event's Kafka timestamp to its commit, last minute.",
    ),
}


class StreamCollector(Collector):
    """The streams of one DAP home, as gauges labelled by stream (its table)."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from dap_kernel.streams.state import read_states  # pyarrow, deltalake: on first scrape

        states = read_states(self.home)
        up = GaugeMetricFamily(
            "dap_stream_up",
            "1 while the stream runs, 0 when stopped, failed or dead.",
            None,
            ["stream"],
        )
        for state in states:
            up.add_metric([state.name], 1.0 if state.status == "running" else 0.0)
        yield up
        for field, (name, doc) in _STREAM_GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=["stream"])
            for state in states:
                value = state.to_dict().get(field)
                if value is not None:
                    family.add_metric([state.name], float(value))
            yield family
