"""Stale answers on purpose (RFC 5861's stale-if-error): when CodeDeploy throttles, fails
or times out, a key read before is answered with what it was, labelled, on both faces;
anything else gets the honest error."""

import asyncio
from typing import Any

import pytest

from tests.support import FAILED, WAIT, FakeClock, GatewayFactory, Upstream, graphql, until

INSTANCE = "/v1/deployments/{}/instances/{}".format(*FAILED)
# One attempt: a fault is the read's failure at once, with no retry to wait out.
SETTINGS = {"upstream_max_attempts": 1}
QUERY = """{ deploymentInstance(deploymentId: "d-EXAMPLE01", instanceId: "i-0a1b2c3d4e5f60002") {
  id status } }"""


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("throttle_rate", "THROTTLED"),
        ("error_rate", "UPSTREAM_ERROR"),
        # 2.5 s against a 2 s deadline: a timeout, the fresh read first well within it.
        ("latency_seconds", "UPSTREAM_TIMEOUT"),
    ],
)
async def test_a_key_read_before_is_answered_stale_when_codedeploy_fails(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock, fault: str, reason: str
) -> None:
    async with make_gateway(**SETTINGS, upstream_timeout_seconds=2) as gateway:
        fresh = await gateway.get(INSTANCE)
        clock.advance(60 + 6)  # a final instance lives 60 s: now 6 s past it
        setattr(upstream.emulator.faults, fault, 1.0 if fault.endswith("rate") else 2.5)
        stale = await gateway.get(INSTANCE)
        metrics = (await gateway.get("/metrics")).text
    assert stale.status_code == 200
    assert stale.json() == fresh.json()
    assert stale.headers["x-cache"] == "STALE"
    assert stale.headers["age"] == "66"
    assert stale.headers["x-stale-reason"] == reason
    assert stale.headers["cache-control"] == "max-age=0"  # no cache may keep it longer
    assert f'gateway_stale_answers_total{{cache="instances",reason="{reason}"}} 1.0' in metrics


async def test_an_unread_key_gets_the_honest_error(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    upstream.emulator.faults.throttle_rate = 1.0
    async with make_gateway(**SETTINGS) as gateway:
        response = await gateway.get(INSTANCE)
    assert (response.status_code, response.json()["code"]) == (429, "THROTTLED")


@pytest.mark.parametrize(
    "asked", [{"cache-control": "max-stale=0"}, {"cache-control": "no-cache"}, {}]
)
async def test_a_caller_may_refuse_stale_answers_and_none_is_older_than_the_window(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock, asked: dict[str, str]
) -> None:
    async with make_gateway(**SETTINGS, stale_if_error_seconds=30) as gateway:
        await gateway.get(INSTANCE)
        upstream.emulator.faults.throttle_rate = 1.0
        # Past the window for those who take stale answers; within it for the others.
        clock.advance(60 + (30 if not asked else 10))
        response = await gateway.get(INSTANCE, headers=asked)
    assert (response.status_code, response.json()["code"]) == (429, "THROTTLED")


async def test_a_not_found_is_never_replaced_by_an_older_answer(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS) as gateway:
        assert (await gateway.get(INSTANCE)).status_code == 200
        del upstream.emulator.data.deployments[FAILED[0]]
        clock.advance(60 + 1)
        response = await gateway.get(INSTANCE)
    assert response.json()["code"] == "DEPLOYMENT_NOT_FOUND"


async def test_a_page_and_its_items_are_answered_stale_together(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    page = "/v1/deployments/d-EXAMPLE04/instance-summaries?status=Failed"
    async with make_gateway(**SETTINGS) as gateway:
        fresh = await gateway.get(page)
        clock.advance(7)
        upstream.emulator.faults.throttle_rate = 1.0
        stale = await gateway.get(page)
    assert stale.json() == fresh.json()
    assert (stale.headers["x-cache"], stale.headers["age"]) == ("STALE", "7")


async def test_graphql_answers_stale_data_naming_the_stale_objects(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS) as gateway:
        fresh = await graphql(gateway, QUERY)
        clock.advance(61)
        upstream.emulator.faults.throttle_rate = 1.0
        stale = await graphql(gateway, QUERY)
        again = await graphql(gateway, QUERY)  # never replayed from the response cache
    instance: dict[str, Any] = fresh["data"]["deploymentInstance"]
    assert "extensions" not in fresh
    assert stale["data"] == fresh["data"]
    assert "errors" not in stale
    assert stale["extensions"] == {
        "stale": [{"id": instance["id"], "age": 61, "reason": "THROTTLED"}]
    }
    assert again == stale
    assert upstream.calls("BatchGetDeploymentInstances") == 3


async def test_graphql_says_the_error_to_a_caller_that_takes_no_stale_answer(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS) as gateway:
        await graphql(gateway, QUERY)
        clock.advance(61)
        upstream.emulator.faults.throttle_rate = 1.0
        gateway.headers["cache-control"] = "max-stale=0"
        answer = await graphql(gateway, QUERY)
    assert answer["data"] == {"deploymentInstance": None}
    assert answer["errors"][0]["extensions"]["code"] == "THROTTLED"


async def test_a_hot_key_never_makes_a_caller_wait_for_a_refresh(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS, stale_while_revalidate_seconds=10) as gateway:
        first = await gateway.get(INSTANCE)
        clock.advance(60 + 1)  # expired a second ago: within the window
        hot = await asyncio.gather(*(gateway.get(INSTANCE) for _ in range(20)))
        await until(lambda: upstream.calls("GetDeploymentInstance") == 2)
        async with asyncio.timeout(WAIT):  # until the refreshed answer is stored
            while (await gateway.get(INSTANCE)).headers["x-cache"] != "HIT":  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        metrics = (await gateway.get("/metrics")).text
    assert first.headers["cache-control"] == (
        "max-age=60, stale-while-revalidate=10, stale-if-error=300"
    )
    # Every caller answered at once from the entry; one read behind them all.
    assert {(r.status_code, r.headers["x-cache"], r.headers["x-stale-reason"]) for r in hot} == {
        (200, "STALE", "REVALIDATING")
    }
    assert upstream.calls("GetDeploymentInstance") == 2
    # The only caller that waited for CodeDeploy was the first.
    assert 'gateway_cache_events_total{cache="instances",event="miss"} 1' in metrics
    assert 'gateway_stale_answers_total{cache="instances",reason="REVALIDATING"}' in metrics


async def test_past_the_revalidation_window_a_caller_waits_for_the_read(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS, stale_while_revalidate_seconds=10) as gateway:
        await gateway.get(INSTANCE)
        clock.advance(60 + 10)
        late = await gateway.get(INSTANCE)
    assert late.headers["x-cache"] == "MISS"
    assert upstream.calls("GetDeploymentInstance") == 2


async def test_a_batch_answers_its_stale_ids_at_once_and_reads_them_again_together(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    query = """{ deploymentInstances(deploymentId: "d-EXAMPLE04",
      instanceIds: ["i-0f1e2d3c4b5a00001", "i-0f1e2d3c4b5a00002"]) { id status } }"""
    async with make_gateway(**SETTINGS, stale_while_revalidate_seconds=10) as gateway:
        fresh = await graphql(gateway, query)
        clock.advance(61)
        stale = await graphql(gateway, query)
        await until(lambda: upstream.calls("BatchGetDeploymentInstances") == 2)
    assert stale["data"] == fresh["data"]
    assert [entry["reason"] for entry in stale["extensions"]["stale"]] == ["REVALIDATING"] * 2


OTHER = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60001"
THIRD = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60003"


async def test_past_the_budget_a_key_read_before_is_answered_stale_at_once(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS, upstream_rate_per_second=1) as gateway:
        await gateway.get(INSTANCE)  # the second's one call
        clock.advance(61)  # the bucket full again (two), the instance a second past its lifetime
        await gateway.get(OTHER)  # they take both
        await gateway.get(THIRD)
        stale = await gateway.get(INSTANCE)
        metrics = (await gateway.get("/metrics")).text
    assert (stale.status_code, stale.headers["x-cache"]) == (200, "STALE")
    assert stale.headers["x-stale-reason"] == "THROTTLED"
    assert upstream.calls() == 3  # the gateway did not ask: its own budget said no
    assert 'outcome="budget"' in metrics


async def test_past_the_budget_a_read_with_no_stale_answer_waits_for_a_token(
    upstream: Upstream, make_gateway: GatewayFactory, clock: FakeClock
) -> None:
    async with make_gateway(**SETTINGS, upstream_rate_per_second=1) as gateway:
        await gateway.get(INSTANCE)
        await gateway.get(THIRD)  # the bucket's two calls spent
        waiting = asyncio.create_task(gateway.get(OTHER))
        counted = 'gateway_upstream_budget_waits_total{priority="caller"} 1.0'
        async with asyncio.timeout(WAIT):  # until the read is waiting for the budget
            while counted not in (await gateway.get("/metrics")).text:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert upstream.calls() == 2
        clock.advance(1)  # the next second's token
        answered = await waiting
    assert (answered.status_code, answered.headers["x-cache"]) == (200, "MISS")
    assert upstream.calls() == 3
