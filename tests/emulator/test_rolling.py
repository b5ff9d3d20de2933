"""The demo's moving deployment, and changing the emulator's data from outside."""

import asyncio
from typing import Any

import boto3
import httpx

from service.emulator import load_data
from service.emulator.rolling import Rolling
from tests.support import Upstream

ROLLING = Rolling(
    application_name="orders-api",
    deployment_group_name="staging",
    instances=["i-1", "i-2"],
    step_seconds=1,
    rest_seconds=10,
    fail_every=2,
)  # a run of 2 x 7 s, then 10 s at rest: 24 s a cycle; every second run fails


ORIGIN = 1_800_000_000.0


def at(elapsed: float, cycle: int = 0) -> dict[str, Any]:
    return ROLLING.at("d-1", ORIGIN, ORIGIN + elapsed, cycle)


def statuses(deployment: dict[str, Any]) -> tuple[str, list[str]]:
    return deployment["status"], [i["status"] for i in deployment["instances"]]


def test_a_run_goes_one_instance_at_a_time_then_succeeds() -> None:
    assert statuses(at(0.5)) == ("InProgress", ["InProgress", "Pending"])
    assert statuses(at(8)) == ("InProgress", ["Succeeded", "InProgress"])
    done = at(14)
    assert statuses(done) == ("Succeeded", ["Succeeded", "Succeeded"])
    assert done["completeTime"] == done["startTime"] + 14
    assert done["deploymentOverview"]["Succeeded"] == 2


def test_every_second_run_fails_at_application_start() -> None:
    failed = at(24 + 13, cycle=1)  # the second run, past its last ApplicationStart
    assert statuses(failed) == ("Failed", ["Succeeded", "Failed"])
    events = {e["lifecycleEventName"]: e for e in failed["instances"][1]["lifecycleEvents"]}
    assert events["ApplicationStart"]["status"] == "Failed"
    assert events["ApplicationStart"]["diagnostics"]["errorCode"] == "ScriptFailed"
    assert events["ValidateService"]["status"] == "Skipped"
    assert failed["errorInformation"]["code"] == "SCRIPT_FAILED"


def test_each_run_is_a_new_deployment_and_a_finished_one_stays_finished() -> None:
    assert ROLLING.runs("d-EXAMPLE07", ORIGIN, ORIGIN + 23) == ["d-EXAMPLE07"]
    assert ROLLING.runs("d-EXAMPLE07", ORIGIN, ORIGIN + 48.5) == [
        "d-EXAMPLE07",
        "d-EXAR00001",
        "d-EXAR00002",
    ]
    again = ROLLING.find("d-EXAMPLE07", "d-EXAR00002", ORIGIN, ORIGIN + 48.5)
    assert again is not None
    assert statuses(again) == ("InProgress", ["InProgress", "Pending"])
    assert again["createTime"] == ORIGIN + 48
    first = ROLLING.find("d-EXAMPLE07", "d-EXAMPLE07", ORIGIN, ORIGIN + 1000)
    assert first is not None
    assert statuses(first) == ("Succeeded", ["Succeeded", "Succeeded"])
    assert ROLLING.find("d-EXAMPLE07", "d-EXAR00009", ORIGIN, ORIGIN + 48.5) is None


def test_the_demo_data_has_a_live_deployment() -> None:
    assert "d-EXAMPLE07" in load_data().rolling


def get_deployment(url: str, deployment_id: str) -> dict[str, Any]:
    client = boto3.client("codedeploy", endpoint_url=url, region_name="us-east-1")
    info: dict[str, Any] = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    return info


async def test_boto3_sees_it_move_with_the_emulators_clock(upstream: Upstream) -> None:
    started = upstream.emulator.started
    upstream.emulator.clock = lambda: started + 57
    info = await asyncio.to_thread(get_deployment, upstream.url, "d-EXAMPLE07")
    assert info["status"] == "Succeeded"


async def test_a_deployment_can_be_replaced_over_http(upstream: Upstream) -> None:
    async with httpx.AsyncClient(base_url=upstream.url) as client:
        replaced = await client.put(
            "/_emulator/deployments/d-EXAMPLE07",
            json={"status": "Stopped", "applicationName": "orders-api"},
        )
        refused = await client.put("/_emulator/deployments/d-EXAMPLE07", content=b"[")
    info = await asyncio.to_thread(get_deployment, upstream.url, "d-EXAMPLE07")
    assert replaced.status_code == 204
    assert refused.status_code == 400
    assert info["status"] == "Stopped"


def list_group(url: str) -> list[str]:
    client = boto3.client("codedeploy", endpoint_url=url, region_name="us-east-1")
    ids: list[str] = client.list_deployments(
        applicationName="orders-api", deploymentGroupName="orders-api-staging"
    )["deployments"]
    return ids


async def test_boto3_lists_each_run_in_its_group(upstream: Upstream) -> None:
    started = upstream.emulator.started
    upstream.emulator.clock = lambda: started + 100  # the second run, under way
    ids = await asyncio.to_thread(list_group, upstream.url)
    assert ids[:2] == ["d-EXAR00001", "d-EXAMPLE07"]  # newest first
    second = await asyncio.to_thread(get_deployment, upstream.url, "d-EXAR00001")
    first = await asyncio.to_thread(get_deployment, upstream.url, "d-EXAMPLE07")
    assert second["status"] == "InProgress"
    assert first["status"] == "Succeeded"
