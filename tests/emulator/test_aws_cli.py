"""The emulator as the AWS CLI sees it: a client with its own botocore, nobody's here.

The CLI assumes a member account's role from the emulator's STS, then reads that account's
deployments with the minted credentials in each region, as an operator checking a role
by hand would.
"""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import Upstream

pytestmark = pytest.mark.processes

AWS = Path(sys.executable).parent / "aws"
STAGING_ROLE = "arn:aws:iam::222222222222:role/codedeploy-gateway-read"
SANDBOX_ROLE = "arn:aws:iam::333333333333:role/codedeploy-gateway-read"


async def aws(url: str, *args: str, **env: str) -> tuple[int, Any, str]:
    """The CLI's exit code, its JSON answer (None if it printed none) and its stderr."""
    process = await asyncio.create_subprocess_exec(
        AWS,
        *args,
        "--endpoint-url",
        url,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "AWS_PAGER": "", **env},
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, json.loads(out) if out.strip() else None, err.decode()


async def test_the_cli_reads_a_member_account_with_credentials_it_assumed(
    upstream: Upstream,
) -> None:
    code, answer, _ = await aws(
        upstream.url,
        "sts",
        "assume-role",
        "--role-arn",
        STAGING_ROLE,
        "--role-session-name",
        "operator",
        "--region",
        "us-east-1",
    )
    assert code == 0
    credentials = answer["Credentials"]
    role = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    _, europe, _ = await aws(
        upstream.url, "deploy", "list-deployments", "--region", "eu-west-1", **role
    )
    _, home, _ = await aws(upstream.url, "deploy", "list-deployments", "--region", "eu-west-1")
    assert europe["deployments"] == ["d-STAGEEU01"]
    assert "d-STAGEEU01" not in home["deployments"]

    code, instance, _ = await aws(
        upstream.url,
        "deploy",
        "get-deployment-instance",
        "--deployment-id",
        "d-STAGEEU01",
        "--instance-id",
        "i-0c1d2e3f4a5b60001",
        "--region",
        "eu-west-1",
        **role,
    )
    assert code == 0
    assert instance["instanceSummary"]["status"] == "InProgress"
    assert instance["instanceSummary"]["lifecycleEvents"][0]["lifecycleEventName"] == (
        "ApplicationStop"
    )


async def test_the_cli_is_refused_a_role_that_does_not_trust_it(upstream: Upstream) -> None:
    code, answer, error = await aws(
        upstream.url,
        "sts",
        "assume-role",
        "--role-arn",
        SANDBOX_ROLE,
        "--role-session-name",
        "operator",
        "--region",
        "us-east-1",
    )
    assert (code, answer) == (255, None)  # version 1's exit code for a service's refusal
    assert "(AccessDenied) when calling the AssumeRole operation" in error
