"""GATEWAY_UPSTREAM_API: the deprecated instance calls and the target calls give EC2 and
on-premises deployments byte-for-byte the same answers."""

import json
from typing import Any

import pytest

from service.emulator import load_data
from tests.support import GatewayFactory, Upstream

EC2_INSTANCES = [
    (deployment_id, summary["instanceId"])
    for deployment_id, deployment in load_data().deployments.items()
    if deployment.compute_platform == "Server"
    for summary in deployment.instances
]

GRAPHQL = """{
  deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-0a1b2c3d4e5f60002") {
    instanceId status lastUpdatedAt instanceType
    lifecycleEvents { lifecycleEventName status startTime endTime
      diagnostics { errorCode scriptName message logTail } } }
  deploymentInstances(deploymentId: "d-EXAMPLE02",
    instanceIds: ["i-0b1c2d3e4f5a60001", "i-0c1d2e3f4a5b60002"]) { instanceId status instanceType }
  deployment(deploymentId: "d-EXAMPLE04") {
    failing: instances(status: [FAILED, IN_PROGRESS], first: 3) {
      totalCount edges { cursor node { instanceId status } } pageInfo { hasNextPage endCursor } }
    all: instances(first: 50) { edges { node { instanceId status lastUpdatedAt } } }
  }
  green: deployment(deploymentId: "d-EXAMPLE02") {
    instances(instanceType: GREEN) { edges { node { instanceId instanceType } } } }
}"""

Request = tuple[str, str, dict[str, Any] | None]
REQUESTS: list[Request] = [
    *(("GET", f"/v1/deployments/{d}/instances/{i}", None) for d, i in EC2_INSTANCES),
    ("GET", "/v1/deployments/d-EXAMPLE04/instances", None),
    ("GET", "/v1/deployments/d-EXAMPLE04/instances?status=Failed&status=Pending", None),
    ("GET", "/v1/deployments/d-EXAMPLE02/instances?instanceType=Blue&include=summary", None),
    ("GET", "/v1/deployments/d-EXAMPLE04/instances?include=summary", None),
    (
        "POST",
        "/v1/deployments/d-EXAMPLE01/instances:batchGet",
        {"instanceIds": ["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60003"]},
    ),
    ("POST", "/graphql", {"query": GRAPHQL}),
]


async def answers(make_gateway: GatewayFactory, api: str) -> list[tuple[int, bytes]]:
    async with make_gateway(upstream_api=api) as gateway:
        return [
            (
                (response := await gateway.request(method, url, json=body)).status_code,
                response.content,
            )
            for method, url, body in REQUESTS
        ]


async def test_both_apis_answer_byte_for_byte_alike(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.page_size = 20
    instances = await answers(make_gateway, "instances")
    calls_by_instances_api = dict(upstream.emulator.calls)
    targets = await answers(make_gateway, "targets")
    assert {status for status, _ in instances} == {200}
    assert "errors" not in json.loads(instances[-1][1])
    assert instances == targets
    # The two runs really took different roads.
    assert calls_by_instances_api.keys() <= {
        "GetDeployment",
        "GetDeploymentInstance",
        "BatchGetDeploymentInstances",
        "ListDeploymentInstances",
    }
    assert upstream.calls("GetDeploymentTarget") == len(EC2_INSTANCES)
    assert upstream.calls("ListDeploymentTargets") > 0


@pytest.mark.parametrize("api", ["instances", "targets"])
@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/v1/deployments/d-EXAMPLE01/instances/i-nothere", 404, "INSTANCE_NOT_FOUND"),
        ("/v1/deployments/d-NOTHERE00/instances/i-1", 404, "DEPLOYMENT_NOT_FOUND"),
        ("/v1/deployments/bad/instances/i-1", 400, "BAD_USER_INPUT"),
        ("/v1/deployments/d-EXAMPLE01/instances?status=Sleeping", 400, "BAD_USER_INPUT"),
    ],
)  # fmt: skip
async def test_both_apis_answer_errors_with_the_instance_codes(
    upstream: Upstream, make_gateway: GatewayFactory, api: str, url: str, status: int, code: str
) -> None:
    async with make_gateway(upstream_api=api) as gateway:
        response = await gateway.get(url)
    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_targets_api_answers_409_before_a_deployment_starts(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].status = "Created"
    async with make_gateway(upstream_api="targets") as gateway:
        response = await gateway.get("/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60001")
    assert (response.status_code, response.json()["code"]) == (
        409,
        "DEPLOYMENT_NOT_STARTED",
    )


async def test_targets_api_finds_missing_ids_in_a_failed_batch(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    ids = ["i-0a1b2c3d4e5f60001", "i-gone", "i-0a1b2c3d4e5f60002"]
    async with make_gateway(upstream_api="targets") as gateway:
        response = await gateway.post(
            "/v1/deployments/d-EXAMPLE01/instances:batchGet", json={"instanceIds": ids}
        )
    body = response.json()
    assert [summary["instanceId"] for summary in body["instancesSummary"]] == [ids[0], ids[2]]
    assert [(e["id"], e["code"]) for e in body["errors"]] == [("i-gone", "INSTANCE_NOT_FOUND")]
    # One batch that failed whole, then a batch of one per id to tell which is missing.
    assert upstream.calls("BatchGetDeploymentTargets") == 1 + len(ids)


ARN_INSTANCE = {
    "instanceId": "arn:aws:ec2:us-east-1:111122223333:instance/i-0a1b2c3d4e5f6arn1",
    "status": "Succeeded",
    "lifecycleEvents": [],
}
CONTRACT: list[Request] = [
    ("GET", "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f6arn1", None),
    ("GET", "/v1/deployments/d-EXAMPLE01/instances/i-nothere", None),
    ("GET", "/v1/deployments/d-EXAMPLE03/instances/i-1", None),  # Lambda
    ("GET", "/v1/deployments/d-EXAMPLE05/instances/i-1", None),  # ECS
    ("GET", "/v1/deployments/d-EXAMPLE03/instances", None),
    ("POST", "/v1/deployments/d-EXAMPLE03/instances:batchGet", {"instanceIds": ["i-1"]}),
    (
        "POST",
        "/v1/deployments/d-EXAMPLE01/instances:batchGet",
        {"instanceIds": ["i-0a1b2c3d4e5f60001", "i-gone", "i-0a1b2c3d4e5f6arn1"]},
    ),
    ("GET", "/v1/deployments/d-EXAMPLE01/instances?pageSize=100", None),
    ("GET", "/v1/deployments/d-EXAMPLE01/targets?pageSize=100&include=summary", None),
    ("GET", "/v1/deployments/d-EXAMPLE03/targets?include=summary", None),
    (
        "POST",
        "/v1/deployments/d-EXAMPLE05/targets:batchGet",
        {"targetIds": ["storefront-cluster:storefront", "nope:nope"]},
    ),
    ("GET", "/v1/deployments/d-EXAMPLE01/targets?status=Sleeping", None),
    (
        "POST",
        "/graphql",
        {
            "query": '{ lambda: deploymentInstance(deploymentId: "d-EXAMPLE03", instanceId: "i-1")'
            ' { status } arn: deploymentInstance(deploymentId: "d-EXAMPLE01", '
            'instanceId: "i-0a1b2c3d4e5f6arn1") { instanceId status } }'
        },
    ),
]


def _contract(body: bytes) -> Any:
    """An answer without what the contract leaves free: CodeDeploy's own code and words,
    and its request ids."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            free = {"upstreamCode", "requestId", "detail", "message", "errorMessage", "locations"}
            return {key: strip(item) for key, item in value.items() if key not in free}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(json.loads(body))


async def test_both_apis_pass_one_contract(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].instances.append(ARN_INSTANCE)
    found: dict[str, list[tuple[int, Any]]] = {}
    for api in ("instances", "targets"):
        async with make_gateway(upstream_api=api) as gateway:
            found[api] = [
                ((response := await gateway.request(method, url, json=body)).status_code,
                 _contract(response.content))
                for method, url, body in CONTRACT
            ]  # fmt: skip
    for asked, one, other in zip(CONTRACT, found["instances"], found["targets"], strict=True):
        assert one == other, asked
    statuses = [status for status, _ in found["targets"]]
    assert statuses == [200, 404, 422, 422, 422, 422, 200, 200, 200, 200, 200, 400, 200]
    arn = found["targets"][0][1]["instanceSummary"]
    assert arn["instanceId"] == "i-0a1b2c3d4e5f6arn1"
    errors = found["targets"][6][1]["errors"]
    assert errors == [{"id": "i-gone", "code": "INSTANCE_NOT_FOUND", "status": 404}]
    assert [e["id"] for e in found["targets"][10][1]["errors"]] == ["nope:nope"]
