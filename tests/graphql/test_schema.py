"""The GraphQL face: same data as REST, GraphQL-style enums, one shared cache."""

from pathlib import Path

import httpx
from strawberry.printer import print_schema

from service.graphql.schema import schema
from tests.support import FAILED, FUTURE_INSTANCE, INSTANCE_QUERY, Upstream, graphql

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text().rstrip("\n") == print_schema(schema).rstrip("\n"), (
        "schema.graphql is stale: run `make schema`"
    )


async def test_instance_fields_in_graphql_style(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, INSTANCE_QUERY, d=FAILED[0], i=FAILED[1])
    instance = body["data"]["deploymentInstance"]
    assert "errors" not in body
    assert instance["deploymentId"] == "d-EXAMPLE01"
    assert instance["instanceId"] == "i-0a1b2c3d4e5f60002"
    assert (instance["status"], instance["instanceType"]) == ("FAILED", None)
    assert instance["lastUpdatedAt"].endswith("Z")
    failed = instance["lifecycleEvents"][5]
    assert failed["lifecycleEventName"] == "ApplicationStart"
    assert failed["status"] == "FAILED"
    assert failed["diagnostics"]["errorCode"] == "SCRIPT_FAILED"
    assert "DATABASE_URL is not set" in failed["diagnostics"]["logTail"]
    assert instance["lifecycleEvents"][6] == {
        "lifecycleEventName": "ValidateService",
        "status": "SKIPPED",
        "startTime": None,
        "endTime": instance["lifecycleEvents"][6]["endTime"],
        "diagnostics": None,
    }


async def test_blue_green_instances_carry_their_type(gateway: httpx.AsyncClient) -> None:
    query = """{
      blue: deploymentInstance(deploymentId: "d-EXAMPLE02", instanceId: "i-0b1c2d3e4f5a60001") {
        status instanceType }
      green: deploymentInstance(deploymentId: "d-EXAMPLE02", instanceId: "i-0c1d2e3f4a5b60002") {
        status instanceType }
    }"""
    data = (await graphql(gateway, query))["data"]
    assert data == {
        "blue": {"status": "READY", "instanceType": "BLUE"},
        "green": {"status": "IN_PROGRESS", "instanceType": "GREEN"},
    }


async def test_values_aws_adds_later_are_unrecognized_and_kept_as_sent(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].instances.append(FUTURE_INSTANCE)
    query = """query ($d: ID!, $i: ID!) { deploymentInstance(deploymentId: $d, instanceId: $i) {
      status upstreamStatus instanceType upstreamInstanceType
      lifecycleEvents { status upstreamStatus diagnostics { errorCode upstreamErrorCode } } } }"""
    body = await graphql(gateway, query, d="d-EXAMPLE01", i="i-future")
    assert "errors" not in body
    assert body["data"]["deploymentInstance"] == {
        "status": "UNRECOGNIZED",
        "upstreamStatus": "Paused",
        "instanceType": "UNRECOGNIZED",
        "upstreamInstanceType": "Purple",
        "lifecycleEvents": [
            {
                "status": "UNRECOGNIZED",
                "upstreamStatus": "Waiting",
                "diagnostics": {"errorCode": "UNRECOGNIZED", "upstreamErrorCode": "ScriptExploded"},
            }
        ],
    }


async def test_awss_own_unknown_is_not_the_sentinel(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].instances.append(
        {**FUTURE_INSTANCE, "status": "Unknown", "lifecycleEvents": []}
    )
    body = await graphql(gateway, INSTANCE_QUERY, d="d-EXAMPLE01", i="i-future")
    assert body["data"]["deploymentInstance"]["status"] == "UNKNOWN"


async def test_one_failing_field_leaves_the_others(gateway: httpx.AsyncClient) -> None:
    query = """{
      ok: deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-0a1b2c3d4e5f60001") {
        status }
      missing: deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-gone") { status }
    }"""
    body = await graphql(gateway, query)
    assert body["data"] == {"ok": {"status": "SUCCEEDED"}, "missing": None}
    [error] = body["errors"]
    assert error["path"] == ["missing"]
    assert error["extensions"]["code"] == "INSTANCE_NOT_FOUND"


async def test_rest_and_graphql_share_one_cache_entry(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    await gateway.get("/v1/deployments/{}/instances/{}".format(*FAILED))
    body = await graphql(gateway, INSTANCE_QUERY, d=FAILED[0], i=FAILED[1])
    assert body["data"]["deploymentInstance"]["status"] == "FAILED"
    assert upstream.calls() == 1


async def test_invalid_documents_carry_a_code(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, "{ deploymentInstance(deploymentId: 1) { nope } }")
    assert body["errors"]
    for error in body["errors"]:
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED", "status": 400}


async def test_datetime_says_its_format_to_generators(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, '{ __type(name: "DateTime") { specifiedByURL } }')
    assert body["data"]["__type"]["specifiedByURL"] == "https://www.rfc-editor.org/rfc/rfc3339"
