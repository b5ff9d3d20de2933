"""The fleet routes: deployments, instance lists and batch reads, and targets."""

import httpx
import pytest

from service.emulator.data import InjectedError
from tests.support import FAILED, Upstream

BASE = "/v1/deployments"
FLEET = "d-EXAMPLE04"
FLEET_IDS = [f"i-0f1e2d3c4b5a{n:05d}" for n in range(64)]


async def test_deployment_is_typed_and_passes_the_rest_through(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"{BASE}/d-EXAMPLE01")
    info = response.json()["deploymentInfo"]
    assert response.headers["x-cache"] == "MISS"
    assert (info["deploymentId"], info["status"], info["computePlatform"]) == (
        "d-EXAMPLE01",
        "Failed",
        "Server",
    )
    assert info["deploymentOverview"] == {
        "Pending": 1, "InProgress": 1, "Succeeded": 1, "Failed": 1, "Skipped": 1, "Ready": 0,
    }  # fmt: skip
    assert info["createTime"] == "2026-11-24T09:59:55Z"
    assert info["errorInformation"]["code"] == "SCRIPT_FAILED"
    assert info["revision"]["s3Location"]["key"] == "orders-api/2.14.0.zip"
    assert info["description"] == "orders-api 2.14.0"


async def test_deployment_answers_are_cached(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    await gateway.get(f"{BASE}/d-EXAMPLE01")
    second = await gateway.get(f"{BASE}/d-EXAMPLE01")
    assert (second.headers["x-cache"], second.headers["cache-control"]) == (
        "HIT",
        "max-age=60, stale-if-error=300",
    )
    assert upstream.calls("GetDeployment") == 1


async def test_unknown_deployment_is_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"{BASE}/d-NOTHERE00")
    assert (response.status_code, response.json()["code"]) == (
        404,
        "DEPLOYMENT_NOT_FOUND",
    )


async def test_list_filters_by_status_and_type(gateway: httpx.AsyncClient) -> None:
    failing = await gateway.get(f"{BASE}/{FLEET}/instances?status=Failed&status=InProgress")
    green = await gateway.get(f"{BASE}/d-EXAMPLE02/instances?instanceType=Green")
    assert failing.json() == {"instancesList": FLEET_IDS[40:44]}
    assert green.json() == {"instancesList": ["i-0c1d2e3f4a5b60001", "i-0c1d2e3f4a5b60002"]}


async def test_list_pages_with_next_token(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.emulator.page_size = 25
    seen: list[str] = []
    url = f"{BASE}/{FLEET}/instances"
    while True:
        page = (await gateway.get(url)).json()
        seen += page["instancesList"]
        if "nextToken" not in page:
            break
        url = f"{BASE}/{FLEET}/instances?nextToken={page['nextToken']}"
    assert seen == FLEET_IDS
    assert upstream.calls("ListDeploymentInstances") == 3


async def test_list_pages_are_cached(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    await gateway.get(f"{BASE}/{FLEET}/instances?status=Failed")
    again = await gateway.get(f"{BASE}/{FLEET}/instances?status=Failed")
    other = await gateway.get(f"{BASE}/{FLEET}/instances?status=Pending")
    assert (again.headers["x-cache"], again.headers["cache-control"]) == (
        "HIT",
        "max-age=5, stale-if-error=300",
    )
    assert other.headers["x-cache"] == "MISS"
    assert upstream.calls("ListDeploymentInstances") == 2


async def test_instance_summaries_batch_read_the_page(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await gateway.get(f"{BASE}/{FLEET}/instance-summaries?pageSize=64")
    summaries = response.json()["instancesSummary"]
    assert [summary["instanceId"] for summary in summaries] == FLEET_IDS
    assert upstream.calls("BatchGetDeploymentInstances") == 3
    # The batch filled the per-instance entries single reads use.
    single = await gateway.get(f"{BASE}/{FLEET}/instances/{FLEET_IDS[7]}")
    assert single.headers["x-cache"] == "HIT"
    assert upstream.calls("GetDeploymentInstance") == 0


@pytest.mark.parametrize(
    ("listed", "summaries"),
    [
        (
            f"{BASE}/{FLEET}/instances?status=Failed",
            f"{BASE}/{FLEET}/instance-summaries?status=Failed",
        ),
        (f"{BASE}/d-EXAMPLE05/targets", f"{BASE}/d-EXAMPLE05/target-summaries"),
        (
            "/v1/applications/orders-api/deployment-groups?pageSize=1",
            "/v1/applications/orders-api/deployment-group-summaries?pageSize=1",
        ),
        (
            "/v1/deployments?applicationName=orders-api&deploymentGroupName=orders-api-prod",
            "/v1/deployment-summaries?applicationName=orders-api&deploymentGroupName=orders-api-prod",
        ),
        (
            f"/v1/accounts/default/regions/us-east-1/deployments/{FLEET}/targets",
            f"/v1/accounts/default/regions/us-east-1/deployments/{FLEET}/target-summaries",
        ),
    ],
)
async def test_each_summaries_operation_answers_what_include_summary_did(
    gateway: httpx.AsyncClient, listed: str, summaries: str
) -> None:
    """The deprecated ``include=summary`` and the operation that replaces it, one shape."""
    old = await gateway.get(f"{listed}{'&' if '?' in listed else '?'}include=summary")
    new = await gateway.get(summaries)
    assert (old.status_code, new.status_code) == (200, 200)
    assert new.json() == old.json()
    assert len(next(iter(new.json().values()))) >= 1


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("status=Sleeping", 400, "BAD_USER_INPUT"),
        ("instanceType=Purple", 400, "BAD_USER_INPUT"),
        ("nextToken=forged", 400, "INVALID_CURSOR"),
        ("include=everything", 400, "BAD_USER_INPUT"),
    ],
)
async def test_bad_list_parameters_are_400(
    gateway: httpx.AsyncClient, query: str, status: int, code: str
) -> None:
    response = await gateway.get(f"{BASE}/{FLEET}/instances?{query}")
    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_listing_a_lambda_deployment_is_422(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"{BASE}/d-EXAMPLE03/instances")
    assert (response.status_code, response.json()["code"]) == (
        422,
        "UNSUPPORTED_COMPUTE_PLATFORM",
    )


async def test_batch_get_chunks_into_calls_of_25(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await gateway.post(
        f"{BASE}/{FLEET}/instances:batchGet", json={"instanceIds": FLEET_IDS[:60]}
    )
    body = response.json()
    assert response.status_code == 200
    assert [summary["instanceId"] for summary in body["instancesSummary"]] == FLEET_IDS[:60]
    assert "errorMessage" not in body
    assert body["errors"] == []
    assert upstream.calls("BatchGetDeploymentInstances") == 3


async def test_batch_get_answers_cached_instances_without_a_call(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    for instance_id in FLEET_IDS[:25]:
        await gateway.get(f"{BASE}/{FLEET}/instances/{instance_id}")
    await gateway.post(f"{BASE}/{FLEET}/instances:batchGet", json={"instanceIds": FLEET_IDS[:30]})
    assert upstream.calls("BatchGetDeploymentInstances") == 1


async def test_batch_get_answers_one_structured_error_per_missing_id(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.post(
        f"{BASE}/d-EXAMPLE01/instances:batchGet",
        json={"instanceIds": ["i-gone1", FAILED[1], "i-gone2"]},
    )
    body = response.json()
    assert [summary["instanceId"] for summary in body["instancesSummary"]] == [FAILED[1]]
    assert [(e["id"], e["code"], e["status"]) for e in body["errors"]] == [
        ("i-gone1", "INSTANCE_NOT_FOUND", 404),
        ("i-gone2", "INSTANCE_NOT_FOUND", 404),
    ]
    assert all("i-gone" in error["detail"] for error in body["errors"])
    # Deprecated, still sent: the same failures in prose.
    assert "i-gone1" in body["errorMessage"]


@pytest.mark.parametrize("ids", [[], [f"i-{n}" for n in range(101)]])
async def test_batch_get_takes_1_to_100_ids(gateway: httpx.AsyncClient, ids: list[str]) -> None:
    response = await gateway.post(f"{BASE}/{FLEET}/instances:batchGet", json={"instanceIds": ids})
    assert (response.status_code, response.json()["code"]) == (400, "BAD_USER_INPUT")
    assert response.headers["content-type"] == "application/problem+json"


async def test_batch_get_fails_whole_for_deployment_errors(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        f"{BASE}/d-NOTHERE00/instances:batchGet", json={"instanceIds": ["i-1", "i-2"]}
    )
    assert (response.status_code, response.json()["code"]) == (
        404,
        "DEPLOYMENT_NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("deployment_id", "target_id", "kind", "body"),
    [
        ("d-EXAMPLE03", "pricing-fn:live", "LambdaTarget", "lambdaTarget"),
        ("d-EXAMPLE05", "storefront-cluster:storefront", "ECSTarget", "ecsTarget"),
        ("d-EXAMPLE06", "ledger-ecs-service", "CloudFormationTarget", "cloudFormationTarget"),
        ("d-EXAMPLE01", FAILED[1], "InstanceTarget", "instanceTarget"),
    ],
)
async def test_targets_of_every_compute_platform(
    gateway: httpx.AsyncClient,
    upstream: Upstream,
    deployment_id: str,
    target_id: str,
    kind: str,
    body: str,
) -> None:
    response = await gateway.get(f"{BASE}/{deployment_id}/targets/{target_id}")
    target = response.json()["deploymentTarget"]
    assert response.status_code == 200
    assert target["deploymentTargetType"] == kind
    assert target[body]["targetId"] == target_id
    assert target[body]["lastUpdatedAt"].endswith("Z")


async def test_ecs_task_sets_keep_awss_field_names(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"{BASE}/d-EXAMPLE05/targets/storefront-cluster:storefront")
    blue, green = response.json()["deploymentTarget"]["ecsTarget"]["taskSetsInfo"]
    assert blue["identifer"] == "ecs-svc/1111111111111111111"
    assert (blue["trafficWeight"], green["trafficWeight"]) == (70.0, 30.0)
    assert green["targetGroup"] == {"name": "storefront-green"}


async def test_unknown_target_is_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"{BASE}/d-EXAMPLE03/targets/other-fn:live")
    assert (response.status_code, response.json()["code"]) == (
        404,
        "TARGET_NOT_FOUND",
    )


async def test_targets_of_a_deployment_not_started_are_409(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.deployments["d-EXAMPLE03"].status = "Queued"
    response = await gateway.get(f"{BASE}/d-EXAMPLE03/targets/pricing-fn:live")
    assert (response.status_code, response.json()["code"]) == (
        409,
        "DEPLOYMENT_NOT_STARTED",
    )


async def test_injected_deployment_errors_reach_every_route(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.emulator.data.errors[FLEET] = InjectedError(type="AccessDeniedException")
    for response in (
        await gateway.get(f"{BASE}/{FLEET}"),
        await gateway.get(f"{BASE}/{FLEET}/instances"),
        await gateway.post(f"{BASE}/{FLEET}/instances:batchGet", json={"instanceIds": ["i-1"]}),
        await gateway.get(f"{BASE}/{FLEET}/targets/i-1"),
    ):
        assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_ACCESS_DENIED")
