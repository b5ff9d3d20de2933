"""Prometheus metrics: one registry per app, so every test app counts on its own."""

import collections
import re
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

CacheEvent = Literal["hit", "miss", "join", "eviction", "shared_hit", "shared_join"]

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
        # The counts every request makes, kept by the event loop in plain dictionaries.
        self.hot = HotCounts()
        registry.register(self.hot)
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
        self.sts_calls = Counter(
            "gateway_sts_assume_role",
            "STS AssumeRole calls for an account's credentials, by account alias, region and "
            "outcome (ok, or the error code).",
            ["account", "region", "outcome"],
            registry=registry,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries",
            "Attempts past the first, by operation.",
            ["operation"],
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
        self.refusals = Counter(
            "gateway_refusals",
            "Requests refused before routing (credentials, rate limit), by code.",
            ["code"],
            registry=registry,
        )
        self.watched_deployments = Gauge(
            "gateway_watched_deployments",
            "Deployments a watcher reads for live updates (lingering ones included).",
            registry=registry,
        )
        self.subscriptions = Gauge(
            "gateway_subscriptions",
            "Open event streams and GraphQL subscriptions.",
            registry=registry,
        )
        self.live_events = Counter(
            "gateway_live_events",
            "Changes the watchers found, by kind (deployment, instance, target): each is "
            "diffed once and sent to every viewer.",
            ["kind"],
            registry=registry,
        )
        self.watch_reads = Counter(
            "gateway_watch_reads",
            "Watcher reads of a deployment, by outcome (ok, or the error code).",
            ["outcome"],
            registry=registry,
        )
        self.subscribers_dropped = Counter(
            "gateway_subscribers_dropped",
            "Viewers cut off because they did not read what was sent to them.",
            registry=registry,
        )
        self.queue_notifications = Counter(
            "gateway_queue_notifications",
            "EventBridge notifications read from GATEWAY_EVENTS_QUEUE_URL, by outcome "
            "(watched, unwatched, ignored).",
            ["outcome"],
            registry=registry,
        )
        self.store_up = Gauge(
            "gateway_store_up",
            "1 while the shared store (GATEWAY_REDIS_URL) answers; 0 while this replica "
            "works alone, and always without a store.",
            registry=registry,
        )
        self.store_foreign_values = Counter(
            "gateway_store_foreign_values",
            "Values in the shared store the gateway did not write (another writer's, a key "
            "of another type or with no expiry), dropped and read again from CodeDeploy.",
            registry=registry,
        )
        self.budget_waits = Counter(
            "gateway_upstream_budget_waits",
            "CodeDeploy calls that waited for GATEWAY_UPSTREAM_RATE_PER_SECOND's budget, by "
            "priority (caller, background).",
            ["priority"],
            registry=registry,
        )
        self.stale_answers = Counter(
            "gateway_stale_answers",
            "Answers past their lifetime given because CodeDeploy's read failed, by cache and "
            "by the failure's code (THROTTLED, UPSTREAM_TIMEOUT, ...).",
            ["cache", "reason"],
            registry=registry,
        )
        self.store_failures = Counter(
            "gateway_store_failures",
            "Times the shared store failed or timed out and this replica went on alone.",
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "gateway_webhook_deliveries",
            "Webhook delivery tries by webhook and outcome: delivered, retry (a failed try, "
            "tried again later), dead (the last try failed: a dead letter), gone (410: the "
            "webhook disabled).",
            ["webhook", "outcome"],
            registry=registry,
        )
        self.webhook_events = Counter(
            "gateway_webhook_events",
            "Changes for a webhook: queued, or skipped (queued before — seen again after a "
            "restart or by another replica — or the webhook disabled).",
            ["webhook", "outcome"],
            registry=registry,
        )
        self._operation_name = BoundedLabel()
        self._request_name = BoundedLabel()
        self._caller = BoundedLabel()

    def webhook_delivered(self, webhook: str, outcome: str) -> None:
        self.webhook_deliveries.labels(webhook, outcome).inc()

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.hot.request(route, method, status, seconds)

    def cache_event(self, cache: str, event: CacheEvent) -> None:
        self.hot.cache_events[cache, event] += 1

    def graphql_operation(self, name: str | None) -> None:
        label = name if name and OPERATION_NAME.fullmatch(name) else "anonymous"
        self.graphql_operations.labels(self._operation_name(label)).inc()

    def graphql_request(
        self, name: str | None, kind: str, outcome: str, seconds: float | None, *, trusted: bool
    ) -> None:
        """One GraphQL request: ``trusted`` when its document is on the trusted list, whose
        names are bounded by the list itself."""
        label = name if name and OPERATION_NAME.fullmatch(name) else "anonymous"
        if not trusted:
            label = self._request_name(label)
        hot = self.hot
        hot.graphql[label, kind, outcome] += 1
        if seconds is not None:
            _observe(hot.graphql_durations, (label, kind), seconds)

    def caller_request(self, caller: str | None, status: int) -> None:
        self.hot.callers[self._caller(caller) if caller else "anonymous", status] += 1

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The metrics and their media type: OpenMetrics when ``accept`` asks for it (it
        carries the latency histograms' exemplars, each a trace id), else Prometheus'
        text format."""
        if accept and "application/openmetrics-text" in accept:
            body: bytes = openmetrics.generate_latest(self.registry)  # type: ignore[no-untyped-call]
            return body, openmetrics.CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class HotCounts(Collector):
    """What every request counts — its route, method and status, its duration, its
    caller, its cache lookups — as plain integers, exposed as metric families when
    scraped (no ``_created`` series). A prometheus_client child takes a lock and several
    calls per increment, a tenth of a cache hit (``make bench``). Only the event loop
    counts here, and the scrape runs on it too, so nothing needs a lock."""

    def __init__(self) -> None:
        self.requests: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.durations: dict[tuple[str, str], list[float]] = {}
        self.callers: collections.Counter[tuple[str, int]] = collections.Counter()
        self.cache_events: collections.Counter[tuple[str, str]] = collections.Counter()
        self.graphql: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.graphql_durations: dict[tuple[str, str], list[float]] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[route, method, status] += 1
        _observe(self.durations, (route, method), seconds)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "gateway_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in self.requests.items():
            requests.add_metric([route, method, str(status)], count)
        yield requests
        yield _histogram(
            "gateway_http_request_duration_seconds",
            "Time to answer, by route template and method.",
            ["route", "method"],
            self.durations,
        )
        graphql = CounterMetricFamily(
            "gateway_graphql_requests",
            "GraphQL requests by operation name and type (query, subscription; unknown for a "
            "document refused before its operation was found) and outcome (ok, error: an "
            "answer with errors, refused: no answer but errors). A trusted document's name is "
            "kept as it is; others as sent while fewer than 100 names are seen, then other.",
            labels=["operation_name", "operation_type", "outcome"],
        )
        for labels, count in self.graphql.items():
            graphql.add_metric(list(labels), count)
        yield graphql
        yield _histogram(
            "gateway_graphql_request_duration_seconds",
            "GraphQL requests answered over HTTP, by operation name and type (as above).",
            ["operation_name", "operation_type"],
            self.graphql_durations,
        )
        callers = CounterMetricFamily(
            "gateway_caller_requests",
            "Requests past the credentials check, by caller (key:<name>, jwt:<subject>, "
            "or anonymous) and status.",
            labels=["caller", "status"],
        )
        for (caller, status), count in self.callers.items():
            callers.add_metric([caller, str(status)], count)
        yield callers
        events = CounterMetricFamily(
            "gateway_cache_events",
            "Cache lookups (hit, miss), single-flight joins and evictions, by cache; shared_hit "
            "and shared_join: answered by the shared store, or by another replica's call.",
            labels=["cache", "event"],
        )
        for (cache, event), count in self.cache_events.items():
            events.add_metric([cache, event], count)
        yield events


def _observe(durations: dict[Any, list[float]], key: Any, seconds: float) -> None:
    counts = durations.get(key)
    if counts is None:
        # One count per bucket, then +Inf, then the sum of the observations.
        counts = durations[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
    counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
    counts[-1] += seconds


def _histogram(
    name: str, documentation: str, labels: list[str], durations: dict[Any, list[float]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=labels)
    bounds = [str(float(bound)) for bound in LATENCY_BUCKETS] + ["+Inf"]
    for key, counts in durations.items():
        cumulative = list(accumulate(counts[:-1]))
        family.add_metric(list(key), list(zip(bounds, cumulative, strict=True)), counts[-1])
    return family
