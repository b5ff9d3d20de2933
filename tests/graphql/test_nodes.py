"""Object identification: every cacheable object has an id, and ``node``/``nodes`` read
any of them again, batched, costed and refused as any field is."""

import json
import logging
from base64 import urlsafe_b64encode
from typing import Any

import httpx
import pytest

from service.graphql.ids import Kind, NodeKey
from tests.support import GatewayFactory, Upstream, codes, estimate, graphql

# One object of each kind, as the lists reach it (the default account, alias "default").
EVERY_KIND = """{
  application(applicationName: "orders-api") {
    id applicationName account region
    deploymentGroups(first: 1) { edges { node { id applicationName deploymentGroupName } } }
  }
  deployment(deploymentId: "d-EXAMPLE01") {
    id deploymentId account region
    instances(first: 1) { edges { node { id deploymentId instanceId account region } } }
    targets(first: 1) { edges { node { ... on InstanceTarget { id targetId account } } } }
  }
  lambda: deployment(deploymentId: "d-EXAMPLE03") {
    targets(first: 1) { edges { node { ... on LambdaTarget { id targetId account } } } }
  }
  ecs: deployment(deploymentId: "d-EXAMPLE05") {
    targets(first: 1) { edges { node { ... on EcsTarget { id targetId account } } } }
  }
}"""
READ_AGAIN = """query ($ids: [ID!]!) { nodes(ids: $ids) {
  __typename id
  ... on Application { applicationName account region }
  ... on DeploymentGroup { applicationName deploymentGroupName }
  ... on Deployment { deploymentId account region }
  ... on InstanceSummary { deploymentId instanceId account region }
  ... on Target { targetId account }
} }"""


def objects(data: Any) -> list[dict[str, Any]]:
    """Every object with an id in an answer, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if "id" in data:
            found.append({key: value for key, value in data.items() if not isinstance(value, dict)})
        for value in data.values():
            found += objects(value)
    elif isinstance(data, list):
        for item in data:
            found += objects(item)
    return found


def made(*named: str) -> str:
    return (
        urlsafe_b64encode(json.dumps(list(named), separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


async def test_every_kind_of_object_is_read_again_by_its_id(gateway: httpx.AsyncClient) -> None:
    listed = await graphql(gateway, EVERY_KIND)
    assert "errors" not in listed, listed
    originals = objects(listed["data"])
    assert len(originals) == 7
    again = await graphql(gateway, READ_AGAIN, ids=[each["id"] for each in originals])
    assert "errors" not in again, again
    for original, read in zip(originals, again["data"]["nodes"], strict=True):
        assert read == {**read, **original}
    assert [read["__typename"] for read in again["data"]["nodes"]] == [
        "Application",
        "DeploymentGroup",
        "Deployment",
        "InstanceSummary",
        "InstanceTarget",
        "LambdaTarget",
        "EcsTarget",
    ]


async def test_an_id_is_the_same_in_every_process(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    query = '{ deployment(deploymentId: "d-EXAMPLE01") { id } }'
    async with make_gateway() as one, make_gateway(cursor_secret="another replica's") as two:
        ids = {(await graphql(client, query))["data"]["deployment"]["id"] for client in (one, two)}
    # Pinned: clients keep ids in persisted caches, across the gateway's releases.
    assert ids == {"WyJEZXBsb3ltZW50IiwiZGVmYXVsdCIsInVzLWVhc3QtMSIsImQtRVhBTVBMRTAxIl0"}
    assert NodeKey.parse(ids.pop()).kind is Kind.DEPLOYMENT


async def test_an_instance_has_one_id_however_it_was_reached(gateway: httpx.AsyncClient) -> None:
    query = """{
      deployment(deploymentId: "d-EXAMPLE01") { instance(instanceId: "i-0a1b2c3d4e5f60002") { id } }
      deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-0a1b2c3d4e5f60002") { id }
      deploymentInstances(deploymentId: "d-EXAMPLE01", instanceIds: ["i-0a1b2c3d4e5f60002"]) { id }
    }"""
    data = (await graphql(gateway, query))["data"]
    ids = {
        data["deployment"]["instance"]["id"],
        data["deploymentInstance"]["id"],
        data["deploymentInstances"][0]["id"],
    }
    assert ids == {made("Instance", "default", "us-east-1", "d-EXAMPLE01", "i-0a1b2c3d4e5f60002")}


async def test_a_hundred_instances_by_id_are_a_few_batch_reads(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    ids = [
        made("Instance", "default", "us-east-1", "d-EXAMPLE04", f"i-0f1e2d3c4b5a{n:05d}")
        for n in range(64)
    ]
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on InstanceSummary { status } } }"
    body = await graphql(gateway, query, ids=ids)
    assert "errors" not in body
    assert len(body["data"]["nodes"]) == 64
    assert upstream.calls() == upstream.calls("BatchGetDeploymentInstances") == 3  # 25 a call
    assert upstream.calls() <= estimate(query, ids=ids)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("not base64!", "not base64"),
        ("x" * 3000, "too long to decode"),
        (made("Deployment"), "too few parts"),
        (urlsafe_b64encode(b"{}").decode(), "JSON, not a list"),
        (urlsafe_b64encode(b"\xff\xfe").decode(), "not UTF-8"),
        (made("Deployment", "default", "us-east-1", "d-1", "extra"), "too many parts"),
        (made("Account", "default", "us-east-1", "x"), "not a kind"),
        (made("Deployment", "default", "us-east-1", ""), "an empty part"),
        (urlsafe_b64encode(b'["Deployment","default","us-east-1",[1]]').decode(), "not a string"),
        (urlsafe_b64encode(b'[["Deployment"],"default","us-east-1","d"]').decode(), "a list kind"),
        (urlsafe_b64encode(b"[" * 1500).decode(), "nested past the JSON parser's depth"),
        (
            made("Deployment", "default", "us-east-1", "bad id!"),
            "a deployment id CodeDeploy refuses",
        ),
        (made("Deployment", "default", "us-east-1", "d-\ud800"), "a lone surrogate"),
        (made("Application", "default", "us-east-1", "x" * 101), "a name too long"),
        (made("Target", "default", "us-east-1", "d-EXAMPLE01", "a b"), "a target id with a space"),
    ],
)
async def test_an_id_this_gateway_never_made_is_bad_user_input_without_a_call(
    gateway: httpx.AsyncClient, upstream: Upstream, given: str, why: str
) -> None:
    query = "query ($id: ID!) { node(id: $id) { id } ok: node(id: $ok) { id } }".replace(
        "query ($id: ID!)", "query ($id: ID!, $ok: ID!)"
    )
    ok = made("Deployment", "default", "us-east-1", "d-EXAMPLE01")
    body = await graphql(gateway, query, id=given, ok=ok)
    assert body["data"] == {"node": None, "ok": {"id": ok}}, why
    assert codes(body) == ["BAD_USER_INPUT"], why
    assert body["errors"][0]["path"] == ["node"]
    assert upstream.calls() == 1  # the good one's


async def test_nodes_answers_each_id_alone(gateway: httpx.AsyncClient) -> None:
    ids = [
        made("Deployment", "default", "us-east-1", "d-EXAMPLE01"),
        "garbage",
        made("Deployment", "default", "us-east-1", "d-GONE"),
        made("Deployment", "ghost", "us-east-1", "d-EXAMPLE01"),
        made("Deployment", "default", "eu-north-1", "d-EXAMPLE01"),
    ]
    body = await graphql(gateway, "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=ids)
    assert body["data"]["nodes"] == [{"id": ids[0]}, None, None, None, None]
    assert {tuple(error["path"]): error["extensions"]["code"] for error in body["errors"]} == {
        ("nodes", 1): "BAD_USER_INPUT",
        ("nodes", 2): "DEPLOYMENT_NOT_FOUND",
        ("nodes", 3): "ACCOUNT_NOT_FOUND",
        ("nodes", 4): "REGION_NOT_FOUND",
    }


async def test_more_than_a_hundred_ids_are_refused(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    ids = [made("Deployment", "default", "us-east-1", f"d-{n}") for n in range(101)]
    body = await graphql(gateway, "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=ids)
    assert body["data"] == {"nodes": None}
    assert codes(body) == ["BAD_USER_INPUT"]
    assert upstream.calls() == 0


async def test_what_each_node_selects_is_counted(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    ids = [made("Deployment", "default", "us-east-1", f"d-{n:09d}") for n in range(20)]
    query = """query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Deployment {
      instances(first: 100) { edges { node { status } } } } } }"""
    # The deployments in one batch read, then each one's list page and its four batches.
    assert estimate(query, ids=ids) == 1 + 20 * (1 + 4)
    body = await graphql(gateway, query, ids=ids)
    assert codes(body) == ["COST_LIMIT_EXCEEDED"]
    assert upstream.calls() == 0


async def test_ids_a_caller_chose_cost_a_call_each_where_a_batch_may_fail_whole(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    """BatchGetApplications and BatchGetDeploymentTargets fail whole for one unknown name,
    and the gateway then reads each alone: the estimate counts that, and holds."""
    applications = [made("Application", "default", "us-east-1", f"app-{n}") for n in range(40)]
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    assert estimate(query, ids=applications) == 1 + 40
    body = await graphql(gateway, query, ids=applications)
    assert set(codes(body)) == {"APPLICATION_NOT_FOUND"}
    assert upstream.calls() <= estimate(query, ids=applications)
    targets = [made("Target", "default", "us-east-1", "d-EXAMPLE01", f"i-{n}") for n in range(100)]
    body = await graphql(gateway, query, ids=targets)
    assert codes(body) == ["COST_LIMIT_EXCEEDED"]
    assert "may cost 104 CodeDeploy calls" in body["errors"][0]["message"]


async def test_one_object_named_many_times_is_counted_once(gateway: httpx.AsyncClient) -> None:
    ids = [made("Deployment", "default", "us-east-1", "d-EXAMPLE04")] * 100
    query = """query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Deployment {
      instances(first: 10) { edges { node { status } } } } } }"""
    # One batch read of the deployment, its list page, one batch read of ten instances.
    assert estimate(query, ids=ids) == 1 + 1 + 1
    body = await graphql(gateway, query, ids=ids)
    assert "errors" not in body
    assert len(body["data"]["nodes"]) == 100


async def test_a_hundred_bad_ids_write_a_few_log_lines(
    gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "service.graphql.engine")
    body = await graphql(
        gateway, "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=["x"] * 100
    )
    assert len(body["errors"]) == 100
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 11
    assert lines[-1] == "graphql errors: 90 more not logged"
