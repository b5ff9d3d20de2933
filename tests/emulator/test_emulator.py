"""The emulator speaks CodeDeploy's protocol: boto3 and raw HTTP see what AWS would send."""

import asyncio
import json
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from service.emulator import DataError, load_data
from service.models import InstanceStatus
from tests.support import FAILED, Upstream

TARGET = "CodeDeploy_20141006.GetDeploymentInstance"


def boto3_get(url: str, deployment_id: str, instance_id: str) -> dict[str, Any]:
    client = boto3.client("codedeploy", endpoint_url=url, region_name="us-east-1")
    reply: dict[str, Any] = client.get_deployment_instance(
        deploymentId=deployment_id, instanceId=instance_id
    )
    return reply


async def test_boto3_reads_an_instance(upstream: Upstream) -> None:
    reply = await asyncio.to_thread(boto3_get, upstream.url, *FAILED)
    summary = reply["instanceSummary"]
    assert summary["status"] == "Failed"
    assert summary["lifecycleEvents"][5]["diagnostics"]["errorCode"] == "ScriptFailed"
    assert reply["ResponseMetadata"]["RequestId"]


async def test_boto3_sees_codedeploy_error_codes(upstream: Upstream) -> None:
    with pytest.raises(ClientError) as error:
        await asyncio.to_thread(boto3_get, upstream.url, "d-EXAMPLE01", "i-nothere")
    assert error.value.response["Error"]["Code"] == "InstanceDoesNotExistException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def post(upstream: Upstream, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(upstream.url + "/", content=body, headers=headers)


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({"X-Amz-Target": TARGET}, b"{}", "MissingAuthenticationTokenException"),
        ({"Authorization": "x", "X-Amz-Target": "Other.Op"}, b"{}", "UnknownOperationException"),
        ({"Authorization": "x", "X-Amz-Target": TARGET}, b"{nope", "SerializationException"),
        ({"Authorization": "x", "X-Amz-Target": TARGET}, b"[]", "SerializationException"),
    ],
)
async def test_malformed_requests_get_aws_style_errors(
    upstream: Upstream, headers: dict[str, str], body: bytes, error: str
) -> None:
    response = await post(upstream, body, headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.json()["__type"] == error


def test_demo_data_covers_what_the_readme_promises() -> None:
    data = load_data()
    instances = [i for d in data.deployments.values() for i in d.instances]
    assert {i["status"] for i in instances} == {status.value for status in InstanceStatus}
    assert {i.get("instanceType") for i in instances} >= {"Blue", "Green"}
    assert any(d.compute_platform == "Lambda" for d in data.deployments.values())
    failed = [
        event["diagnostics"]
        for i in instances
        for event in i["lifecycleEvents"]
        if event.get("diagnostics", {}).get("errorCode") == "ScriptFailed"
    ]
    assert failed
    assert failed[0]["logTail"]


def test_iso_timestamps_become_epoch_seconds(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(
        json.dumps(
            {
                "deployments": {
                    "d-EXAMPLE09": {
                        "instances": [
                            {
                                "instanceId": "i-1",
                                "lastUpdatedAt": "2026-01-01T00:00:00Z",
                                "lifecycleEvents": [{"startTime": "2026-01-01T00:00:01"}],
                            }
                        ]
                    }
                }
            }
        )
    )
    [summary] = load_data(path).deployments["d-EXAMPLE09"].instances
    assert summary["lastUpdatedAt"] == 1767225600.0
    assert summary["lifecycleEvents"][0]["startTime"] == 1767225601.0


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"deployments": []}',
        '{"deployments": {}, "surprise": 1}',
        '{"deployments": {"d-EXAMPLE09": {"instances": [{"lastUpdatedAt": "yesterday"}]}}}',
    ],
)
def test_bad_data_files_are_rejected_with_their_path(tmp_path: Path, content: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(content)
    with pytest.raises(DataError, match=str(path)):
        load_data(path)


def boto3_client(url: str) -> Any:
    return boto3.client("codedeploy", endpoint_url=url, region_name="us-east-1")


async def test_boto3_paginates_the_fleet(upstream: Upstream) -> None:
    upstream.emulator.page_size = 10

    def all_ids() -> list[str]:
        pages = boto3_client(upstream.url).get_paginator("list_deployment_instances")
        return [
            i for page in pages.paginate(deploymentId="d-EXAMPLE04") for i in page["instancesList"]
        ]

    ids = await asyncio.to_thread(all_ids)
    assert len(ids) == 64
    assert upstream.calls("ListDeploymentInstances") == 7


async def test_boto3_lists_targets_with_filters(upstream: Upstream) -> None:
    def green() -> dict[str, Any]:
        reply: dict[str, Any] = boto3_client(upstream.url).list_deployment_targets(
            deploymentId="d-EXAMPLE02", targetFilters={"ServerInstanceLabel": ["Green"]}
        )
        return reply

    assert (await asyncio.to_thread(green))["targetIds"] == [
        "i-0c1d2e3f4a5b60001",
        "i-0c1d2e3f4a5b60002",
    ]


@pytest.mark.parametrize(
    ("operation", "params", "code"),
    [
        (
            "batch_get_deployment_instances",
            {"deploymentId": "d-EXAMPLE04", "instanceIds": [f"i-{n}" for n in range(26)]},
            "BatchLimitExceededException",
        ),
        (
            "batch_get_deployment_targets",
            {"deploymentId": "d-EXAMPLE01", "targetIds": ["i-0a1b2c3d4e5f60001", "i-gone"]},
            "DeploymentTargetDoesNotExistException",
        ),
        ("get_deployment", {"deploymentId": "d-NOTHERE00"}, "DeploymentDoesNotExistException"),
        (
            "list_deployment_instances",
            {"deploymentId": "d-EXAMPLE05"},
            "InvalidComputePlatformException",
        ),
    ],
)
async def test_boto3_sees_the_errors_codedeploy_sends(
    upstream: Upstream, operation: str, params: dict[str, Any], code: str
) -> None:
    def call() -> None:
        getattr(boto3_client(upstream.url), operation)(**params)

    with pytest.raises(ClientError) as error:
        await asyncio.to_thread(call)
    assert error.value.response["Error"]["Code"] == code


async def test_get_deployment_counts_the_overview(upstream: Upstream) -> None:
    def fleet() -> dict[str, Any]:
        reply: dict[str, Any] = boto3_client(upstream.url).get_deployment(
            deploymentId="d-EXAMPLE04"
        )
        return reply

    info = (await asyncio.to_thread(fleet))["deploymentInfo"]
    assert info["deploymentOverview"] == {
        "Pending": 20, "InProgress": 3, "Succeeded": 40, "Failed": 1, "Skipped": 0, "Ready": 0,
    }  # fmt: skip
    assert info["applicationName"] == "catalog-api"


def test_demo_fleet_is_big_enough_to_page() -> None:
    assert len(load_data().deployments["d-EXAMPLE04"].instances) >= 60


async def test_call_counts_are_published(upstream: Upstream) -> None:
    await asyncio.to_thread(boto3_get, upstream.url, *FAILED)
    async with httpx.AsyncClient() as client:
        counts = (await client.get(f"{upstream.url}/_emulator/calls")).json()
    assert counts == {"GetDeploymentInstance": 1}
