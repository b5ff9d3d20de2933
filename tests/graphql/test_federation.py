"""The gateway as an Apollo Federation 2 subgraph (GATEWAY_GRAPHQL_FEDERATION): its
``_service`` and ``_entities`` directly, then composed behind @apollo/gateway from npm with
a second subgraph that extends Deployment."""

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_schema

from service.app import create_app
from service.graphql.federation import LINK
from service.settings import Settings
from tests.identity import API_KEY, API_KEYS
from tests.support import (
    WAIT,
    GatewayFactory,
    Served,
    Upstream,
    codes,
    graphql,
    npm_install,
    npm_tool,
    served,
)

PACKAGES = [
    "@apollo/gateway@2.14.4",
    "@apollo/server@5.5.1",
    "@apollo/subgraph@2.15.1",
    "graphql@16.15.0",
    "graphql-tag@2.12.7",
]
SCRIPT = Path(__file__).with_name("federation.mjs")
ENTITIES = """query ($r: [_Any!]!) { _entities(representations: $r) {
  __typename
  ... on Deployment { id deploymentId status }
  ... on InstanceSummary { instanceId instanceStatus: status }
  ... on DeploymentGroup { deploymentGroupName }
} }"""
DEPLOYMENT = {
    "__typename": "Deployment",
    "account": "default",
    "region": "us-east-1",
    "deploymentId": "d-EXAMPLE01",
}


@pytest.fixture
async def subgraph(
    make_gateway: GatewayFactory, upstream: Upstream
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_gateway(graphql_federation=True) as client:
        yield client


async def test_the_subgraph_sdl_keys_every_object_with_an_id(subgraph: httpx.AsyncClient) -> None:
    sdl = (await graphql(subgraph, "{ _service { sdl } }"))["data"]["_service"]["sdl"]
    assert sdl.startswith(LINK)
    keyed = {
        line.split()[1]: line.split("@key", 1)[1]
        for line in sdl.splitlines()
        if line.startswith("type ") and "@key" in line
    }
    assert keyed["Deployment"] == '(fields: "account region deploymentId") @key(fields: "id") {'
    assert set(keyed) == {
        "Application",
        "DeploymentGroup",
        "Deployment",
        "InstanceSummary",
        "InstanceTarget",
        "LambdaTarget",
        "EcsTarget",
        "CloudFormationTarget",
    }
    # The public schema, not the subgraph's own fields.
    assert "_entities" not in sdl
    build_schema(sdl.replace(LINK, ""), assume_valid_sdl=True)


async def test_entities_by_natural_key_and_by_id(
    subgraph: httpx.AsyncClient, upstream: Upstream
) -> None:
    by_key = await graphql(subgraph, ENTITIES, r=[DEPLOYMENT])
    deployment = by_key["data"]["_entities"][0]
    assert deployment["status"] == "FAILED"
    instance = {
        "__typename": "InstanceSummary",
        "account": "default",
        "region": "us-east-1",
        "deploymentId": "d-EXAMPLE01",
        "instanceId": "i-0a1b2c3d4e5f60002",
    }
    by_id = await graphql(
        subgraph, ENTITIES, r=[{"__typename": "Deployment", "id": deployment["id"]}, instance]
    )
    assert by_id["data"]["_entities"] == [
        deployment,
        {
            "__typename": "InstanceSummary",
            "instanceId": "i-0a1b2c3d4e5f60002",
            "instanceStatus": "FAILED",
        },
    ]


@pytest.mark.parametrize(
    ("representation", "code"),
    [
        ("not an object", "BAD_USER_INPUT"),
        ({"deploymentId": "d-EXAMPLE01"}, "BAD_USER_INPUT"),  # no __typename
        ({**DEPLOYMENT, "__typename": "Query"}, "BAD_USER_INPUT"),
        ({**DEPLOYMENT, "region": None}, "BAD_USER_INPUT"),
        ({"__typename": "Deployment", "id": "garbage"}, "BAD_USER_INPUT"),
        (
            {
                "__typename": "Application",
                "id": "WyJEZXBsb3ltZW50IiwiZGVmYXVsdCIsInVzLWVhc3QtMSIsImQtRVhBTVBMRTAxIl0",
            },
            "BAD_USER_INPUT",
        ),
        ({**DEPLOYMENT, "account": "ghost"}, "ACCOUNT_NOT_FOUND"),
        ({**DEPLOYMENT, "deploymentId": "d-GONE"}, "DEPLOYMENT_NOT_FOUND"),
        # A Lambda target asked for as an instance target: not what the router wants.
        (
            {
                **DEPLOYMENT,
                "__typename": "InstanceTarget",
                "deploymentId": "d-EXAMPLE03",
                "targetId": "pricing-fn:live",
            },
            "BAD_USER_INPUT",
        ),
    ],
)
async def test_each_entity_that_cannot_be_read_is_null_with_its_error(
    subgraph: httpx.AsyncClient, representation: Any, code: str
) -> None:
    body = await graphql(subgraph, ENTITIES, r=[representation, DEPLOYMENT])
    assert body["data"]["_entities"][0] is None
    assert body["data"]["_entities"][1]["status"] == "FAILED"
    assert codes(body) == [code]
    assert body["errors"][0]["path"] == ["_entities", 0]


async def test_an_entities_flood_is_refused_before_any_call(
    subgraph: httpx.AsyncClient, upstream: Upstream
) -> None:
    """As many instances as a request body holds, each of its own deployment: a batch
    read each, counted before anything is read."""
    flood = [
        {**DEPLOYMENT, "__typename": "InstanceSummary", "deploymentId": f"d-{n}", "instanceId": "i"}
        for n in range(400)
    ]
    body = await graphql(subgraph, ENTITIES, r=flood)
    assert codes(body) == ["COST_LIMIT_EXCEEDED"]
    assert "may cost 400 CodeDeploy calls" in body["errors"][0]["message"]
    assert upstream.calls() == 0


async def test_grants_hold_for_entities(
    make_gateway: GatewayFactory, upstream: Upstream, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.json"
    other = {"roleArn": "arn:aws:iam::222222222222:role/read", "regions": ["us-east-1"]}
    regions = {"regions": ["us-east-1"]}
    accounts.write_text(
        json.dumps({"default": "default", "accounts": {"default": regions, "other": other}})
    )
    keys = {"billing": {"sha256": API_KEYS["billing"], "accounts": ["other"]}}
    async with make_gateway(
        graphql_federation=True, auth="api-key", api_keys=json.dumps(keys), accounts_file=accounts
    ) as client:
        client.headers["X-API-Key"] = API_KEY
        body = await graphql(client, ENTITIES, r=[DEPLOYMENT])
    assert body["data"] == {"_entities": [None]}
    assert codes(body) == ["FORBIDDEN"]
    assert upstream.calls() == 0


async def test_without_the_setting_there_is_no_subgraph(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, "{ _service { sdl } }")
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = npm_install(tmp_path_factory.mktemp("federation"), *PACKAGES)
    shutil.copy(SCRIPT, where / SCRIPT.name)
    return where / SCRIPT.name


async def supergraph(script: Path, gateway: Served, *queries: str) -> list[dict[str, Any]]:
    operations = script.parent / "queries.json"
    operations.write_text(json.dumps([{"query": query} for query in queries]))
    process = await asyncio.create_subprocess_exec(
        "node", str(script), gateway.url, API_KEY, str(operations), stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(6 * WAIT):
        output, _ = await process.communicate()
    answer = json.loads(output)
    assert "error" not in answer, answer
    results: list[dict[str, Any]] = answer["results"]
    return results


RELEASE = """{ release(version: "1.4.2") { version deployment {
  deploymentId status commit instances(first: 2) { edges { node { instanceId status } } }
} } }"""
COMMIT = '{ deployment(deploymentId: "d-EXAMPLE01") { status commit } }'
FLOOD = """{ releases(count: 300) { deployment {
  status instances(first: 10) { edges { node { status } } }
} } }"""


@npm_tool
async def test_a_supergraph_answers_across_both_subgraphs(
    upstream: Upstream, federation: Path
) -> None:
    settings = Settings(auth="api-key", api_keys=json.dumps(API_KEYS), graphql_federation=True)
    async with served(create_app(settings)) as gateway:
        crossing, joined, flood = await supergraph(federation, gateway, RELEASE, COMMIT, FLOOD)
    # releases -> the gateway (the deployment, its instances) -> releases (its commit)
    assert crossing == {"data": {"release": {"version": "1.4.2", "deployment": {
        "deploymentId": "d-EXAMPLE01",
        "status": "FAILED",
        "commit": "c0ffee-d-EXAMPLE01",
        "instances": {"edges": [
            {"node": {"instanceId": "i-0a1b2c3d4e5f60001", "status": "SUCCEEDED"}},
            {"node": {"instanceId": "i-0a1b2c3d4e5f60002", "status": "FAILED"}},
        ]},
    }}}}  # fmt: skip
    assert joined == {"data": {"deployment": {"status": "FAILED", "commit": "c0ffee-d-EXAMPLE01"}}}
    # 300 deployments' instances, named by the other subgraph: refused as a costly document.
    assert "COST_LIMIT_EXCEEDED" in json.dumps(flood["errors"])
