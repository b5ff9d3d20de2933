"""GraphQL fleet reads: deployment fields, connections, DataLoader batching and its cost."""

from typing import Any

import httpx
import pytest

from tests.support import FAILED, Upstream, graphql

FLEET = "d-EXAMPLE04"
FLEET_IDS = [f"i-0f1e2d3c4b5a{n:05d}" for n in range(64)]

PAGE = """
query ($d: ID!, $first: Int, $after: String, $status: [InstanceStatus!], $type: [InstanceType!]) {
  deployment(deploymentId: $d) {
    instances(first: $first, after: $after, status: $status, instanceType: $type) {
      edges { cursor node { instanceId status } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def page(client: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    body = await graphql(client, PAGE, **variables)
    assert "errors" not in body, body["errors"]
    connection: dict[str, Any] = body["data"]["deployment"]["instances"]
    return connection


async def test_deployment_fields(gateway: httpx.AsyncClient) -> None:
    query = """{ deployment(deploymentId: "d-EXAMPLE01") {
        deploymentId applicationName deploymentGroupName deploymentConfigName status
        computePlatform createTime startTime completeTime
        deploymentStyle { deploymentType deploymentOption }
        deploymentOverview { pending inProgress succeeded failed skipped ready }
        errorInformation { code }
    } }"""
    deployment = (await graphql(gateway, query))["data"]["deployment"]
    assert deployment["status"] == "FAILED"
    assert deployment["applicationName"] == "orders-api"
    assert deployment["createTime"] == "2026-11-24T09:59:55Z"
    assert deployment["deploymentStyle"]["deploymentType"] == "IN_PLACE"
    assert deployment["deploymentOverview"]["failed"] == 1
    assert deployment["errorInformation"] == {"code": "SCRIPT_FAILED"}


async def test_a_deployment_status_aws_adds_later_is_unrecognized_with_its_spelling(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE01"].status = "Paused"
    query = '{ deployment(deploymentId: "d-EXAMPLE01") { status upstreamStatus } }'
    assert (await graphql(gateway, query))["data"]["deployment"] == {
        "status": "UNRECOGNIZED",
        "upstreamStatus": "Paused",
    }


async def test_filters_take_codedeploys_values_only(gateway: httpx.AsyncClient) -> None:
    for query in [
        '{ deployment(deploymentId: "d-EXAMPLE01") { instances(status: [UNRECOGNIZED]) '
        "{ totalCount } } }",
        '{ deploymentGroup(applicationName: "orders-api", deploymentGroupName: "orders-api-prod")'
        " { deployments(status: [UNKNOWN]) { edges { cursor } } } }",
    ]:
        [error] = (await graphql(gateway, query))["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_page_of_50_costs_4_calls_cold_and_0_warm(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    connection = await page(gateway, d=FLEET, first=50)
    assert [edge["node"]["instanceId"] for edge in connection["edges"]] == FLEET_IDS[:50]
    # GetDeployment (the deployment exists), one list page, two batches of 25.
    assert upstream.calls() == 4
    assert upstream.calls("ListDeploymentInstances") == 1
    await page(gateway, d=FLEET, first=50)
    assert upstream.calls() == 4


async def test_paging_crosses_upstream_pages_without_gaps(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.page_size = 7
    seen: list[str] = []
    after = None
    while True:
        connection = await page(gateway, d=FLEET, first=10, after=after)
        seen += [edge["node"]["instanceId"] for edge in connection["edges"]]
        info = connection["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == FLEET_IDS


async def test_filters_and_total_count(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.emulator.page_size = 7
    query = """{ deployment(deploymentId: "d-EXAMPLE04") {
        all: instances(first: 1) { totalCount }
        failing: instances(status: [FAILED, IN_PROGRESS]) { totalCount edges { node { status } } }
    } }"""
    deployment = (await graphql(gateway, query))["data"]["deployment"]
    assert deployment["all"]["totalCount"] == 64
    assert deployment["failing"]["totalCount"] == 4
    assert [edge["node"]["status"] for edge in deployment["failing"]["edges"]] == [
        "FAILED",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "IN_PROGRESS",
    ]


async def test_instance_type_filter(gateway: httpx.AsyncClient) -> None:
    connection = await page(gateway, d="d-EXAMPLE02", type="BLUE")
    assert [edge["node"]["instanceId"] for edge in connection["edges"]] == [
        "i-0b1c2d3e4f5a60001",
        "i-0b1c2d3e4f5a60002",
    ]
    both = await page(gateway, d="d-EXAMPLE02", type=["BLUE", "GREEN"])
    assert len(both["edges"]) > len(connection["edges"])
    # A literal single value still coerces to the list, as before the filter took several.
    literal = """{ deployment(deploymentId: "d-EXAMPLE02") {
      instances(instanceType: BLUE) { edges { node { instanceId } } } } }"""
    edges = (await graphql(gateway, literal))["data"]["deployment"]["instances"]["edges"]
    assert [edge["node"]["instanceId"] for edge in edges] == [
        edge["node"]["instanceId"] for edge in connection["edges"]
    ]


async def test_60_aliased_instances_cost_3_batch_calls(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    fields = " ".join(
        f'a{n}: deploymentInstance(deploymentId: "{FLEET}", instanceId: "{instance_id}") {{ status }}'
        for n, instance_id in enumerate(FLEET_IDS[:60])
    )
    body = await graphql(gateway, f"{{ {fields} }}")
    assert len(body["data"]) == 60
    assert upstream.calls() == 3
    assert upstream.calls("BatchGetDeploymentInstances") == 3


async def test_every_instance_read_of_an_operation_shares_the_loader(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    query = f"""{{
      one: deploymentInstance(deploymentId: "{FLEET}", instanceId: "{FLEET_IDS[0]}") {{ status }}
      deployment(deploymentId: "{FLEET}") {{
        instance(instanceId: "{FLEET_IDS[1]}") {{ status }}
        instances(first: 5) {{ edges {{ node {{ status }} }} }}
      }}
      many: deploymentInstances(deploymentId: "{FLEET}", instanceIds: ["{FLEET_IDS[2]}"]) {{
        status }}
    }}"""
    body = await graphql(gateway, query)
    assert "errors" not in body
    # The two root reads go in one batch; the deployment's instance, read once the
    # deployment is found, in a second; the page's nodes, known only after the list
    # call, in a third.
    assert upstream.calls("BatchGetDeploymentInstances") == 3
    assert upstream.calls("GetDeploymentInstance") == 0


async def test_cached_instances_are_not_asked_again(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    for instance_id in FLEET_IDS[:25]:
        await gateway.get(f"/v1/deployments/{FLEET}/instances/{instance_id}")
    await page(gateway, d=FLEET, first=50)
    assert upstream.calls("BatchGetDeploymentInstances") == 1


async def test_deployment_instances_has_a_null_and_an_error_per_missing_id(
    gateway: httpx.AsyncClient,
) -> None:
    query = """{ deploymentInstances(deploymentId: "d-EXAMPLE01",
        instanceIds: ["i-0a1b2c3d4e5f60001", "i-gone", "i-0a1b2c3d4e5f60002"]) { status } }"""
    body = await graphql(gateway, query)
    assert body["data"]["deploymentInstances"] == [
        {"status": "SUCCEEDED"},
        None,
        {"status": "FAILED"},
    ]
    [error] = body["errors"]
    assert error["path"] == ["deploymentInstances", 1]
    assert error["extensions"]["code"] == "INSTANCE_NOT_FOUND"


async def test_deployment_instances_caps_the_ids(gateway: httpx.AsyncClient) -> None:
    ids = ", ".join(f'"i-{n}"' for n in range(101))
    body = await graphql(
        gateway,
        f'{{ deploymentInstances(deploymentId: "{FAILED[0]}", instanceIds: [{ids}]) {{ status }} }}',
    )
    assert body["errors"][0]["extensions"]["status"] == 400


TARGETS = """
query ($d: ID!) { deployment(deploymentId: $d) { targets { edges { node {
  __typename
  ... on InstanceTarget { targetId status instanceLabel lifecycleEvents { status } }
  ... on LambdaTarget { targetId status lambdaFunctionInfo { functionAlias targetVersion targetVersionWeight } }
  ... on EcsTarget { targetId status taskSetsInfo { identifier trafficWeight targetGroupName taskSetLabel } }
  ... on CloudFormationTarget { targetId status resourceType targetVersionWeight }
} } } } }
"""


@pytest.mark.parametrize(
    ("deployment_id", "typename", "expected"),
    [
        (
            "d-EXAMPLE03",
            "LambdaTarget",
            {"lambdaFunctionInfo": {"functionAlias": "live", "targetVersion": "42", "targetVersionWeight": 1.0}},
        ),
        (
            "d-EXAMPLE05",
            "EcsTarget",
            {
                "taskSetsInfo": [
                    {"identifier": "ecs-svc/1111111111111111111", "trafficWeight": 70.0, "targetGroupName": "storefront-blue", "taskSetLabel": "BLUE"},
                    {"identifier": "ecs-svc/2222222222222222222", "trafficWeight": 30.0, "targetGroupName": "storefront-green", "taskSetLabel": "GREEN"},
                ]
            },
        ),
        ("d-EXAMPLE06", "CloudFormationTarget", {"resourceType": "AWS::ECS::Service", "targetVersionWeight": 1.0}),
    ],
)  # fmt: skip
async def test_targets_of_other_compute_platforms(
    gateway: httpx.AsyncClient, deployment_id: str, typename: str, expected: dict[str, Any]
) -> None:
    body = await graphql(gateway, TARGETS, d=deployment_id)
    [edge] = body["data"]["deployment"]["targets"]["edges"]
    assert edge["node"]["__typename"] == typename
    assert expected.items() <= edge["node"].items()


async def test_targets_of_an_ec2_deployment_are_instance_targets(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    body = await graphql(gateway, TARGETS, d="d-EXAMPLE02")
    nodes = [edge["node"] for edge in body["data"]["deployment"]["targets"]["edges"]]
    assert {node["__typename"] for node in nodes} == {"InstanceTarget"}
    assert [node["instanceLabel"] for node in nodes] == ["BLUE", "BLUE", "GREEN", "GREEN"]
    assert upstream.calls("BatchGetDeploymentTargets") == 1


@pytest.mark.parametrize(
    ("arguments", "code"),
    [('after: "not-a-cursor"', "INVALID_CURSOR"), ("first: 101", "BAD_USER_INPUT")],
)
async def test_bad_paging_arguments_are_400(
    gateway: httpx.AsyncClient, arguments: str, code: str
) -> None:
    query = (
        f'{{ deployment(deploymentId: "{FLEET}") {{ instances({arguments}) {{ totalCount }} }} }}'
    )
    body = await graphql(gateway, query)
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == (code, 400)


async def test_a_failed_connection_keeps_the_deployments_other_fields(
    gateway: httpx.AsyncClient,
) -> None:
    query = '{ deployment(deploymentId: "d-EXAMPLE03") { status computePlatform instances { totalCount } } }'
    body = await graphql(gateway, query)
    assert body["data"]["deployment"] == {
        "status": "SUCCEEDED",
        "computePlatform": "Lambda",
        "instances": None,
    }
    [error] = body["errors"]
    assert error["path"] == ["deployment", "instances"]
    assert error["extensions"]["code"] == "UNSUPPORTED_COMPUTE_PLATFORM"


@pytest.mark.parametrize("selection", ["deploymentId", "status", "instances { totalCount }"])
async def test_an_unknown_deployment_is_null_whatever_is_selected(
    gateway: httpx.AsyncClient, selection: str
) -> None:
    body = await graphql(
        gateway, f'{{ deployment(deploymentId: "d-NOTTHERE1") {{ {selection} }} }}'
    )
    assert body["data"] == {"deployment": None}
    [error] = body["errors"]
    assert error["path"] == ["deployment"]
    assert error["extensions"]["code"] == "DEPLOYMENT_NOT_FOUND"


async def test_targets_have_a_total_count(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.emulator.page_size = 3
    body = await graphql(
        gateway, '{ deployment(deploymentId: "d-EXAMPLE02") { targets(first: 1) { totalCount } } }'
    )
    assert body["data"]["deployment"]["targets"]["totalCount"] == 4


async def test_timestamps_read_the_same_on_both_faces(gateway: httpx.AsyncClient) -> None:
    rest = (await gateway.get("/v1/deployments/{}/instances/{}".format(*FAILED))).json()
    body = await graphql(
        gateway,
        "query ($d: ID!, $i: ID!) { deploymentInstance(deploymentId: $d, instanceId: $i) { lastUpdatedAt lifecycleEvents { startTime } } }",
        d=FAILED[0],
        i=FAILED[1],
    )
    summary = body["data"]["deploymentInstance"]
    assert summary["lastUpdatedAt"] == rest["instanceSummary"]["lastUpdatedAt"]
    assert summary["lastUpdatedAt"].endswith("Z")
    assert [event["startTime"] for event in summary["lifecycleEvents"]] == [
        event.get("startTime") for event in rest["instanceSummary"]["lifecycleEvents"]
    ]
