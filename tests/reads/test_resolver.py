"""The resolver layer on its own, over the emulator: what reaches CodeDeploy and what not."""

import pytest

from service.errors import InvalidRequest
from service.settings import UpstreamApi
from tests.support import FAILED, Upstream, standalone_resolver


@pytest.mark.parametrize(
    ("api", "platform", "kind"),
    [
        ("instances", "Server", "instance"),
        ("instances", "Lambda", "target"),
        ("instances", "ECS", "target"),
        ("instances", None, "target"),
        ("targets", "Server", "target"),
    ],
)
async def test_a_fleet_is_read_as_its_platform_and_the_api_say(
    upstream: Upstream, api: UpstreamApi, platform: str | None, kind: str
) -> None:
    async with standalone_resolver(api) as reads:
        assert reads.fleet(platform).kind == kind


async def test_the_chosen_fleet_reads_its_ids_then_its_items(upstream: Upstream) -> None:
    async with standalone_resolver() as reads:
        fleet = reads.fleet("Server")
        page = await fleet.ids(FAILED[0])
        items = await fleet.items(FAILED[0], page.value.ids)
    assert FAILED[1] in page.value.ids
    assert len(items) == len(page.value.ids)
    assert upstream.calls("ListDeploymentInstances") == 1
    assert upstream.calls("BatchGetDeploymentInstances") == 1


@pytest.mark.parametrize(
    ("deployment_id", "instance_id", "code"),
    [
        ("", "i-1", "BAD_USER_INPUT"),
        ("d-EXAMPLE01", "", "BAD_USER_INPUT"),
        ("d-EXAMPLE01", "i 1", "BAD_USER_INPUT"),
        ("d-\n", "i-1", "BAD_USER_INPUT"),
    ],
)
async def test_what_codedeploy_would_refuse_costs_no_call(
    upstream: Upstream, deployment_id: str, instance_id: str, code: str
) -> None:
    async with standalone_resolver() as reads:
        with pytest.raises(InvalidRequest) as refused:
            await reads.deployment_instance(deployment_id, instance_id)
    assert refused.value.code == code
    assert upstream.calls() == 0


async def test_a_malformed_id_in_a_batch_fails_that_id_alone(upstream: Upstream) -> None:
    async with standalone_resolver() as reads:
        good, bad = await reads.deployment_instances(FAILED[0], [FAILED[1], "i 1"])
    assert not isinstance(good, Exception)
    assert isinstance(bad, InvalidRequest)
    assert bad.code == "BAD_USER_INPUT"
    assert upstream.calls("BatchGetDeploymentInstances") == 1


async def test_filters_in_any_order_are_one_read(upstream: Upstream) -> None:
    async with standalone_resolver() as reads:
        await reads.instance_ids(FAILED[0], statuses=["Failed", "Succeeded"])
        await reads.instance_ids(FAILED[0], statuses=["Succeeded", "Failed", "Failed"])
    assert upstream.calls("ListDeploymentInstances") == 1


async def test_forget_makes_the_next_read_ask_codedeploy(upstream: Upstream) -> None:
    async with standalone_resolver() as reads:
        await reads.deployment_instance(*FAILED)
        await reads.deployment_instance(*FAILED)
        reads.forget(*FAILED)
        await reads.deployment_instance(*FAILED)
    assert upstream.calls("GetDeploymentInstance") == 2
