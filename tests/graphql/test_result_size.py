"""What one document makes the gateway build: the response's values estimated before it
runs (refused past ``GATEWAY_GRAPHQL_MAX_RESULT_NODES``), its bytes capped, and the
event loop given back while a large response is built."""

import asyncio
import gc
from typing import Any

import pytest
from graphql import (
    GraphQLObjectType,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
    parse,
)
from graphql.execution.values import VariableValues, get_variable_values

from service.graphql import pacing
from service.graphql.cost import LIST_SIZES, SIZED_BY, result_nodes
from service.graphql.schema import schema
from service.models import InstanceSummary
from tests.support import GatewayFactory, Upstream

SCHEMA = schema._schema
SIZES = {"accounts": 3, "regions": 2}
DETAILS = (
    "instanceId status lifecycleEvents { lifecycleEventName status "
    "diagnostics { errorCode scriptName message logTail } }"
)
PAGE = (
    'deployment(deploymentId: "d-EXAMPLE04") { deploymentId status '
    f"instances(first: 100) {{ edges {{ node {{ {DETAILS} }} }} }} }}"
)
# The document that held the loop for seconds: 29 aliases of a page of 100 instances.
ALIASED = "{ " + " ".join(f"a{n}: {PAGE}" for n in range(29)) + " }"


def estimate(query: str, **variables: Any) -> int:
    node = parse(query)
    operation = get_operation_ast(node)
    assert operation is not None
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
    assert isinstance(coerced, VariableValues)
    return result_nodes(SCHEMA, node, operation, coerced, SIZES)


def values(answer: Any) -> int:
    """Values in a response's data, counted as the estimate counts them."""
    if isinstance(answer, dict):
        return sum(1 + values(value) for value in answer.values())
    if isinstance(answer, list):
        return sum(values(item) + (not isinstance(item, dict | list)) for item in answer)
    return 0


def test_every_list_field_has_a_size_the_estimate_knows() -> None:
    """A new list field with no size would be counted as unknown: added here first."""
    known = {*LIST_SIZES, *SIZES, *SIZED_BY, "edges"}
    lists = {
        name
        for kind in SCHEMA.type_map.values()
        if isinstance(kind, GraphQLObjectType) and not kind.name.startswith("__")
        for name, field in kind.fields.items()
        if is_list_type(get_nullable_type(field.type))
    }
    assert lists <= known, lists - known


def test_a_page_of_instances_with_their_events_fits_the_default() -> None:
    assert 10_000 < estimate("{ " + PAGE + " }") < 20_000


def test_aliases_multiply_the_estimate() -> None:
    assert estimate(ALIASED) == 29 * estimate("{ " + PAGE + " }")


def test_first_and_ids_set_the_list_sizes() -> None:
    two = estimate("query($n: Int!) { " + PAGE.replace("100", "$n") + " }", n=2)
    assert two == estimate("{ " + PAGE.replace("100", "2") + " }")
    ids = '["i-1", "i-2", "i-3"]'
    batch = f'{{ deploymentInstances(deploymentId: "d-1", instanceIds: {ids}) {{ status }} }}'
    assert estimate(batch) == 3 * 2


async def test_the_estimate_never_undercounts(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    query = "{ " + PAGE + " }"
    async with make_gateway() as client:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in body
    assert values(body["data"]) <= estimate(query)


async def test_a_response_past_the_limit_is_refused_naming_the_figure(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway() as client:
        response = await client.post("/graphql", json={"query": ALIASED})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert f"{estimate(ALIASED)} values; the limit is 20000" in body["errors"][0]["message"]
    assert upstream.calls() == 0


async def test_a_response_over_the_byte_cap_is_refused(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(graphql_max_response_bytes=2048) as client:
        response = await client.post("/graphql", json={"query": "{ " + PAGE + " }"})
        small = await client.post("/graphql", json={"query": "{ __typename }"})
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "RESPONSE_TOO_LARGE"
    assert "the limit is 2048" in body["errors"][0]["message"]
    assert small.json() == {"data": {"__typename": "Query"}}


async def test_building_a_large_response_gives_the_loop_back(
    upstream: Upstream, make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every slice used up at once: another task runs between the pieces of one response."""
    monkeypatch.setattr(pacing, "SLICE_SECONDS", 0.0)
    turns = 0
    stop = asyncio.Event()

    async def other() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    async with make_gateway() as client:
        await client.post("/graphql", json={"query": "{ " + PAGE + " }"})  # cached now
        ticker = asyncio.create_task(other())
        await asyncio.sleep(0)
        before = turns
        response = await client.post("/graphql", json={"query": "{ b: " + PAGE + " }"})
        during = turns - before
        stop.set()
        await ticker
    assert "errors" not in response.json()
    # The page's 100 instances, at least one turn each (the HTTP exchange takes a few).
    assert during > 100


async def test_a_response_leaves_nothing_for_the_collector(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    """The operation's DataLoaders are emptied: the models a response was built from go
    when it does, not at the collector's next full pass (a pause for every request)."""
    async with make_gateway() as client:
        gc.collect()
        gc.disable()
        try:
            response = await client.post("/graphql", json={"query": "{ " + PAGE + " }"})
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = [item for item in gc.garbage if isinstance(item, InstanceSummary)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert "errors" not in response.json()
    assert left == []


def test_a_connection_without_first_holds_nothing() -> None:
    assert estimate("{ applications(first: 0) { edges { node { applicationName } } } }") == 1


def test_an_account_list_counts_the_configured_accounts() -> None:
    assert estimate("{ accounts { alias regions } }") == 3 * (1 + 1 + 2)


def test_an_interface_fragment_counts_as_its_implementations_do() -> None:
    selection = (
        "targetId status lifecycleEvents { lifecycleEventName status "
        "diagnostics { errorCode scriptName message logTail } }"
    )
    template = (
        '{ deployment(deploymentId: "d-EXAMPLE05") { targets(first: 100) { edges { node { '
        "__typename ... on %s { " + selection + " } } } } } }"
    )
    assert estimate(template % "Target") >= estimate(template % "InstanceTarget") > 10_000
