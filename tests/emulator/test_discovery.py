"""The emulator's discovery calls, as boto3 sees them: applications, groups, deployment
lists newest first with CodeDeploy's filters, paging and errors."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import Upstream


def call(url: str, operation: str, **params: Any) -> dict[str, Any]:
    client = boto3.client("codedeploy", endpoint_url=url, region_name="us-east-1")
    reply: dict[str, Any] = getattr(client, operation)(**params)
    return reply


async def test_applications_and_their_groups(upstream: Upstream) -> None:
    names = await asyncio.to_thread(call, upstream.url, "list_applications")
    groups = await asyncio.to_thread(
        call, upstream.url, "list_deployment_groups", applicationName="orders-api"
    )
    info = await asyncio.to_thread(
        call, upstream.url, "batch_get_applications", applicationNames=["pricing-fn"]
    )
    assert "orders-api" in names["applications"]
    assert groups["deploymentGroups"] == ["orders-api-prod", "orders-api-staging"]
    assert info["applicationsInfo"][0]["computePlatform"] == "Lambda"


async def test_a_group_knows_its_last_deployments(upstream: Upstream) -> None:
    group = (
        await asyncio.to_thread(
            call, upstream.url, "get_deployment_group",
            applicationName="orders-api", deploymentGroupName="orders-api-prod",
        )
    )["deploymentGroupInfo"]  # fmt: skip
    assert group["lastAttemptedDeployment"]["deploymentId"] == "d-EXAMPLE01"
    assert group["lastAttemptedDeployment"]["status"] == "Failed"
    assert group["lastSuccessfulDeployment"]["deploymentId"] == "d-HIST00005"


async def test_deployments_list_newest_first_with_filters(upstream: Upstream) -> None:
    group = {"applicationName": "orders-api", "deploymentGroupName": "orders-api-prod"}
    every = await asyncio.to_thread(call, upstream.url, "list_deployments", **group)
    failed = await asyncio.to_thread(
        call, upstream.url, "list_deployments", includeOnlyStatuses=["Failed"], **group
    )
    window = {
        "start": datetime(2026, 11, 19, tzinfo=UTC),
        "end": datetime(2026, 11, 22, tzinfo=UTC),
    }
    windowed = await asyncio.to_thread(
        call, upstream.url, "list_deployments", createTimeRange=window, **group
    )
    assert every["deployments"][:3] == ["d-EXAMPLE01", "d-HIST00005", "d-HIST00004"]
    assert failed["deployments"] == ["d-EXAMPLE01", "d-HIST00003"]
    assert windowed["deployments"] == ["d-HIST00005", "d-HIST00004", "d-HIST00003"]


async def test_deployments_page(upstream: Upstream) -> None:
    upstream.emulator.page_size = 2
    first = await asyncio.to_thread(call, upstream.url, "list_deployments")
    second = await asyncio.to_thread(
        call, upstream.url, "list_deployments", nextToken=first["nextToken"]
    )
    assert len(first["deployments"]) == 2
    assert not set(first["deployments"]) & set(second["deployments"])


async def test_a_batch_read_leaves_out_unknown_ids(upstream: Upstream) -> None:
    reply = await asyncio.to_thread(
        call, upstream.url, "batch_get_deployments", deploymentIds=["d-HIST00001", "d-NOPE00000"]
    )
    assert [info["deploymentId"] for info in reply["deploymentsInfo"]] == ["d-HIST00001"]


@pytest.mark.parametrize(
    ("operation", "params", "code"),
    [
        ("get_application", {"applicationName": "nope"}, "ApplicationDoesNotExistException"),
        ("list_deployment_groups", {"applicationName": "nope"}, "ApplicationDoesNotExistException"),
        (
            "get_deployment_group",
            {"applicationName": "orders-api", "deploymentGroupName": "nope"},
            "DeploymentGroupDoesNotExistException",
        ),
        (
            "list_deployments",
            {"applicationName": "orders-api"},
            "DeploymentGroupNameRequiredException",
        ),
        (
            "list_deployments",
            {"includeOnlyStatuses": ["Sleeping"]},
            "InvalidDeploymentStatusException",
        ),
        ("batch_get_deployments", {"deploymentIds": ["d-1"] * 26}, "BatchLimitExceededException"),
    ],
)
async def test_errors_are_codedeploys(
    upstream: Upstream, operation: str, params: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as error:
        await asyncio.to_thread(call, upstream.url, operation, **params)
    assert error.value.response["Error"]["Code"] == code
