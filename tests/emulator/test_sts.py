"""The emulator's STS: AssumeRole over the query protocol, and credentials that read their
role's account in the region they sign for, as boto3 sees them."""

import asyncio
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import Upstream

STAGING_ROLE = "arn:aws:iam::222222222222:role/codedeploy-gateway-read"
SANDBOX_ROLE = "arn:aws:iam::333333333333:role/codedeploy-gateway-read"


def assume(url: str, role: str, **extra: Any) -> dict[str, Any]:
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url)
    credentials: dict[str, Any] = sts.assume_role(
        RoleArn=role, RoleSessionName="codedeploy-gateway", **extra
    )["Credentials"]
    return credentials


def deployments(url: str, region: str, credentials: dict[str, Any] | None = None) -> list[str]:
    keys = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    client = boto3.client("codedeploy", region_name=region, endpoint_url=url, **keys)
    listed: list[str] = client.list_deployments()["deployments"]
    return listed


async def test_assumed_credentials_read_their_account_in_each_region(upstream: Upstream) -> None:
    credentials = await asyncio.to_thread(assume, upstream.url, STAGING_ROLE)
    assert credentials["AccessKeyId"].startswith("ASIA")
    europe = await asyncio.to_thread(deployments, upstream.url, "eu-west-1", credentials)
    us = await asyncio.to_thread(deployments, upstream.url, "us-east-1", credentials)
    elsewhere = await asyncio.to_thread(deployments, upstream.url, "ap-south-1", credentials)
    home = await asyncio.to_thread(deployments, upstream.url, "eu-west-1")
    assert (europe, us, elsewhere) == (["d-STAGEEU01"], ["d-STAGING01"], [])
    assert "d-EXAMPLE01" in home  # any other credentials: the home account, any region
    assert upstream.emulator.calls["AssumeRole"] == 1


async def test_a_refused_role_answers_as_sts_does(upstream: Upstream) -> None:
    with pytest.raises(ClientError) as refused:
        await asyncio.to_thread(assume, upstream.url, SANDBOX_ROLE)
    with pytest.raises(ClientError) as unknown:
        await asyncio.to_thread(assume, upstream.url, "arn:aws:iam::444444444444:role/none")
    for error in (refused, unknown):
        assert error.value.response["Error"]["Code"] == "AccessDenied"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # STS's own text names the role: what the gateway must never pass on.
    assert "444444444444" in str(unknown.value)


async def test_expired_credentials_are_refused(upstream: Upstream) -> None:
    credentials = await asyncio.to_thread(assume, upstream.url, STAGING_ROLE, DurationSeconds=900)
    upstream.emulator.sts.clock = lambda: 1e12  # long after
    with pytest.raises(ClientError) as expired:
        await asyncio.to_thread(deployments, upstream.url, "us-east-1", credentials)
    assert expired.value.response["Error"]["Code"] == "ExpiredTokenException"


async def test_a_session_longer_than_the_role_allows_is_refused(upstream: Upstream) -> None:
    with pytest.raises(ClientError) as refused:
        await asyncio.to_thread(assume, upstream.url, STAGING_ROLE, DurationSeconds=3601)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    upstream.emulator.data.roles[STAGING_ROLE].max_session_seconds = 43200
    assert await asyncio.to_thread(assume, upstream.url, STAGING_ROLE, DurationSeconds=43200)
