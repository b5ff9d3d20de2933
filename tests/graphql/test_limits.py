"""GraphQL cost limits: bombs are refused while validating, before any upstream call."""

from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from tests.support import FAILED, GatewayFactory, Upstream

INSTANCE = 'deploymentInstance(deploymentId: "{}", instanceId: "{}") {{ status }}'.format(*FAILED)


async def ask(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def introspection_bomb(levels: int) -> str:
    return (
        "{ __schema { types { " + "fields { type { " * levels + "name" + " } }" * levels + " } } }"
    )


async def test_an_introspection_depth_bomb_is_refused(gateway: httpx.AsyncClient) -> None:
    body = await ask(gateway, introspection_bomb(5))
    # graphql-core's own introspection-depth rule may report it as well: same code.
    assert set(codes(body)) == {"DEPTH_LIMIT_EXCEEDED"}
    assert "limit is 12" in body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None


async def test_depth_through_fragments_counts(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    query = """
    query { deployment(deploymentId: "d-EXAMPLE01") { ...A } }
    fragment A on Deployment { instances { edges { node { ...B } } } }
    fragment B on InstanceSummary { lifecycleEvents { diagnostics { errorCode } } }
    """
    async with make_gateway(graphql_max_depth=4) as gateway:
        body = await ask(gateway, query)
    assert codes(body) == ["DEPTH_LIMIT_EXCEEDED"]
    assert upstream.calls() == 0


async def test_the_standard_introspection_query_still_works(gateway: httpx.AsyncClient) -> None:
    body = await ask(gateway, get_introspection_query(descriptions=True))
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_an_alias_bomb_is_refused_without_an_upstream_call(
    upstream: Upstream, gateway: httpx.AsyncClient
) -> None:
    query = "{ " + " ".join(f"a{n}: {INSTANCE}" for n in range(101)) + " }"
    body = await ask(gateway, query)
    assert codes(body) == ["ALIAS_LIMIT_EXCEEDED", "ROOT_FIELD_LIMIT_EXCEEDED"]
    assert "101 aliases" in body["errors"][0]["message"]
    assert upstream.calls() == 0


async def test_aliases_in_a_reused_fragment_count_each_time(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    fragment = "fragment F on Query { " + " ".join(f"x{n}: __typename" for n in range(5)) + " }"
    query = '{ a: deployment(deploymentId: "d") { __typename } ...F ...F } ' + fragment
    async with make_gateway(graphql_max_aliases=5) as gateway:
        body = await ask(gateway, query)
    assert codes(body) == ["ALIAS_LIMIT_EXCEEDED"]


async def test_too_many_tokens_are_refused_while_parsing(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(graphql_max_tokens=50) as gateway:
        body = await ask(gateway, "{ " + "__typename " * 60 + "}")
        fine = await ask(gateway, "{ __typename }")
    assert codes(body) == ["TOKEN_LIMIT_EXCEEDED"]
    assert fine == {"data": {"__typename": "Query"}}


async def test_introspection_can_be_turned_off(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    async with make_gateway(graphql_introspection=False) as gateway:
        schema = await ask(gateway, "{ __schema { queryType { name } } }")
        one_type = await ask(gateway, '{ __type(name: "Query") { name } }')
        typename = await ask(gateway, "{ __typename }")
    assert codes(schema) == codes(one_type) == ["INTROSPECTION_DISABLED"]
    assert typename == {"data": {"__typename": "Query"}}


async def test_no_suggestions_reveal_the_schema_when_introspection_is_off(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    typo = "{ deploymentInstanc }"
    enum = 'query ($s: [InstanceStatus!]) { deployment(deploymentId: "d-1") { instances(status: $s) { totalCount } } }'
    async with make_gateway(graphql_introspection=False) as gateway:
        hidden = [await ask(gateway, typo), await ask(gateway, enum, s=["Failed"])]
    async with make_gateway() as gateway:
        shown = [await ask(gateway, typo), await ask(gateway, enum, s=["Failed"])]
    assert all("Did you mean" in body["errors"][0]["message"] for body in shown)
    assert not any("Did you mean" in body["errors"][0]["message"] for body in hidden)
    assert codes(hidden[0]) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(hidden[1]) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "query",
    [
        # A fragment cycle: graphql-core's own rule reports it; measuring must not loop.
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        # A chain of fragments deeper than Python's stack.
        "{ ...F0 } "
        + " ".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(1200))
        + " fragment F1200 on Query { __typename }",
    ],
)
async def test_pathological_fragments_are_refused_not_crashed(
    upstream: Upstream, make_gateway: GatewayFactory, query: str
) -> None:
    async with make_gateway(graphql_max_tokens=100_000) as gateway:
        response = await gateway.post("/graphql", json={"query": query})
    assert response.status_code < 500
    assert all(code != "INTERNAL_SERVER_ERROR" for code in codes(response.json()))
    assert codes(response.json())
