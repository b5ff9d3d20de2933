"""/metrics: live figures by route template, upstream operation, cache and GraphQL name."""

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.graphql.documents import sha256
from service.metrics import LATENCY_BUCKETS, MAX_LABEL_VALUES
from tests.support import FAILED, INSTANCE_QUERY, GatewayFactory, Upstream, graphql

URL = "/v1/deployments/{}/instances/{}".format(*FAILED)
ROUTE = "/v1/deployments/{deploymentId}/instances/{instanceId}"


async def samples(
    gateway: httpx.AsyncClient,
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await gateway.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template(gateway: httpx.AsyncClient) -> None:
    await gateway.get(URL)
    await gateway.get(URL)
    await gateway.get("/v1/deployments/d-EXAMPLE01/instances/i-gone")
    await gateway.get("/nowhere")
    found = await samples(gateway)
    assert value(found, "gateway_http_requests_total", route=ROUTE, method="GET", status="200") == 2
    assert value(found, "gateway_http_requests_total", route=ROUTE, method="GET", status="404") == 1
    assert (
        value(found, "gateway_http_requests_total", route="unmatched", method="GET", status="404")
        == 1
    )
    assert not any("i-0a1b2c3d4e5f60002" in str(key) for key in found)
    assert (
        value(found, "gateway_http_request_duration_seconds_count", route=ROUTE, method="GET") == 3
    )
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in found.items()
        if name == "gateway_http_request_duration_seconds_bucket" and dict(labels)["route"] == ROUTE
    )
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == 3
    assert len(buckets) == len(LATENCY_BUCKETS) + 1
    assert value(found, "gateway_http_request_duration_seconds_sum", route=ROUTE, method="GET") > 0


async def test_upstream_calls_are_counted_by_outcome(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(upstream_max_attempts=2) as gateway:
        await gateway.get(URL)
        await gateway.get("/v1/deployments/d-EXAMPLE01/instances/i-gone")
        upstream.emulator.faults.throttle_rate = 1.0
        await gateway.get(URL, headers={"Cache-Control": "no-cache"})
        found = await samples(gateway)
    calls = "gateway_upstream_calls_total"
    assert value(found, calls, operation="GetDeploymentInstance", outcome="ok") == 1
    assert (
        value(
            found, calls, operation="GetDeploymentInstance", outcome="InstanceDoesNotExistException"
        )
        == 1
    )
    assert value(found, calls, operation="GetDeploymentInstance", outcome="throttled") == 1
    assert value(found, "gateway_upstream_retries_total", operation="GetDeploymentInstance") == 1
    assert (
        value(
            found, "gateway_upstream_call_duration_seconds_count", operation="GetDeploymentInstance"
        )
        == 3
    )


async def test_cache_events_and_size(upstream: Upstream, make_gateway: GatewayFactory) -> None:
    async with make_gateway(cache_max_entries=1) as gateway:
        await gateway.get(URL)
        await gateway.get(URL)
        await gateway.get("/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60001")
        found = await samples(gateway)
    events = "gateway_cache_events_total"
    assert value(found, events, cache="instances", event="miss") == 2
    assert value(found, events, cache="instances", event="hit") == 1
    assert value(found, events, cache="instances", event="eviction") == 1
    assert value(found, "gateway_cache_entries", cache="instances") == 1


async def test_graphql_operations_are_counted_by_name(gateway: httpx.AsyncClient) -> None:
    await graphql(
        gateway,
        'query StatusPage { deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-1") { status } }',
    )
    await graphql(gateway, INSTANCE_QUERY, d=FAILED[0], i=FAILED[1])
    found = await samples(gateway)
    operations = "gateway_graphql_operations_total"
    assert value(found, operations, operation_name="StatusPage") == 1
    assert value(found, operations, operation_name="anonymous") == 1


PAGE = 'query Page { deployment(deploymentId: "d-EXAMPLE01") { status } }'
MISSING = 'query Missing { deployment(deploymentId: "d-NOTTHERE1") { status } }'


async def test_graphql_requests_are_counted_by_operation_with_their_outcome_and_duration(
    gateway: httpx.AsyncClient,
) -> None:
    await graphql(gateway, PAGE)
    await graphql(gateway, PAGE)  # replayed
    await graphql(gateway, MISSING)  # answered, with an error
    await gateway.post("/graphql", json={"query": "query Broken {", "operationName": "Broken"})
    found = await samples(gateway)
    requests = "gateway_graphql_requests_total"
    query = {"operation_type": "query"}
    assert value(found, requests, operation_name="Page", outcome="ok", **query) == 2
    assert value(found, requests, operation_name="Missing", outcome="error", **query) == 1
    # Refused before its operation was found: the name sent, the type unknown.
    refused = {"operation_name": "Broken", "operation_type": "unknown", "outcome": "refused"}
    assert value(found, requests, **refused) == 1
    seconds = "gateway_graphql_request_duration_seconds_count"
    assert value(found, seconds, operation_name="Page", **query) == 2


async def test_graphql_operation_names_are_bounded_unless_trusted(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    trusted = tmp_path / "persisted-documents.json"
    trusted.write_text(json.dumps({sha256(PAGE): PAGE}))
    async with make_gateway(graphql_trusted_documents=trusted) as gateway:
        for n in range(MAX_LABEL_VALUES + 20):  # untrusted, refused, named by the sender
            query = f"query Q{n} {{ __typename }}"
            await gateway.post("/graphql", json={"query": query, "operationName": f"Q{n}"})
        await gateway.post("/graphql", json={"query": PAGE})
        found = await samples(gateway)
    requests = "gateway_graphql_requests_total"
    names = {dict(labels)["operation_name"] for name, labels in found if name == requests}
    assert len(names) == MAX_LABEL_VALUES + 2  # the first 100, other, and the trusted Page
    assert {"other", "Page"} <= names


async def test_graphql_documents_are_kept_once_they_run_and_refusals_at_once(
    gateway: httpx.AsyncClient,
) -> None:
    costly = (
        "{ "
        + " ".join(f'a{n}: deployment(deploymentId: "d-{n:09d}") {{ status }}' for n in range(60))
        + " }"
    )
    body = (await gateway.post("/graphql", json={"query": costly})).json()
    assert body["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    entries = "gateway_cache_entries"
    assert value(await samples(gateway), entries, cache="documents") == 0
    await gateway.post("/graphql", json={"query": "{ nope }"})
    assert value(await samples(gateway), entries, cache="documents") == 1
    await graphql(gateway, "{ __typename }")
    assert value(await samples(gateway), entries, cache="documents") == 2
