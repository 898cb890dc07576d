"""Prometheus metrics for ``/dap/metrics``, in a registry of their own.

A private registry keeps DAP's series apart from Jupyter Server's own ``/metrics`` and lets two
servers in one test process count separately.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        self.running = Gauge("dap_queries_running", "Queries running now.", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
