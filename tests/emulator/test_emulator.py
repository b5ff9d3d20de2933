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
from tests.conftest import FAILED, Upstream

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
