"""Prometheus metrics: one registry per app, so every test app counts on its own."""

import re
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CacheEvent = Literal["hit", "miss", "join", "eviction"]

# From a cache hit (~0.1 ms) to a throttled call backing off until the deadline (5 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# Operation names and token subjects come from clients; past this many distinct values
# a label counts as "other", so no caller can grow the registry without bound.
MAX_LABEL_VALUES = 100
OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class BoundedLabel:
    """The first ``MAX_LABEL_VALUES`` distinct values as given, then ``other``."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value not in self._seen:
            if len(self._seen) >= MAX_LABEL_VALUES:
                return "other"
            self._seen.add(value)
        return value


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
        self.caller_requests = Counter(
            "gateway_caller_requests",
            "Requests past the credentials check, by caller (key:<name>, jwt:<subject>, "
            "or anonymous) and status.",
            ["caller", "status"],
            registry=registry,
        )
        self.refusals = Counter(
            "gateway_refusals",
            "Requests refused before routing (credentials, rate limit), by code.",
            ["code"],
            registry=registry,
        )
        self._operation_name = BoundedLabel()
        self._caller = BoundedLabel()

    def cache_event(self, cache: str, event: CacheEvent) -> None:
        self.cache_events.labels(cache, event).inc()

    def graphql_operation(self, name: str | None) -> None:
        label = name if name and OPERATION_NAME.fullmatch(name) else "anonymous"
        self.graphql_operations.labels(self._operation_name(label)).inc()

    def caller_request(self, caller: str | None, status: int) -> None:
        label = self._caller(caller) if caller else "anonymous"
        self.caller_requests.labels(label, str(status)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
