"""Prometheus metrics: one registry per app, so every test app counts on its own."""

import re
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CacheEvent = Literal["hit", "miss", "join", "eviction"]

# From a cache hit (~0.1 ms) to a throttled call backing off until the deadline (5 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# Operation names come from clients; past this many distinct ones they count as "other".
MAX_OPERATION_NAMES = 100
OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http_requests = Counter(
            "gateway_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "gateway_http_request_duration_seconds",
            "Time to answer, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_calls = Counter(
            "gateway_upstream_calls",
            "CodeDeploy calls, by operation and outcome (ok, throttled, timeout, or the "
            "error code).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "gateway_upstream_call_duration_seconds",
            "CodeDeploy call time, retries and backoff included.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries",
            "Attempts past the first, by operation.",
            ["operation"],
            registry=registry,
        )
        self.cache_events = Counter(
            "gateway_cache_events",
            "Cache lookups (hit, miss), single-flight joins and evictions, by cache.",
            ["cache", "event"],
            registry=registry,
        )
        self.cache_entries = Gauge(
            "gateway_cache_entries", "Entries held, by cache.", ["cache"], registry=registry
        )
        self.graphql_operations = Counter(
            "gateway_graphql_operations",
            "GraphQL operations, by operation name.",
            ["operation_name"],
            registry=registry,
        )
        self._operation_names: set[str] = set()

    def cache_event(self, cache: str, event: CacheEvent) -> None:
        self.cache_events.labels(cache, event).inc()

    def graphql_operation(self, name: str | None) -> None:
        label = name if name and OPERATION_NAME.fullmatch(name) else "anonymous"
        if label not in self._operation_names:
            if len(self._operation_names) >= MAX_OPERATION_NAMES:
                label = "other"
            else:
                self._operation_names.add(label)
        self.graphql_operations.labels(label).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
