"""`GET /v1/deployments/{id}?wait=`: a blocking read for CI, riding the deployment's
watcher — a deployment that moves in the emulator, read again when a test says."""

import asyncio

import pytest

from tests.support import FINISHED, LIVE, WAIT, Live, LiveFactory

URL = f"/v1/deployments/{LIVE}"


async def waiting(live: Live, count: int) -> None:
    """Until ``count`` waits are viewers of the watcher, which has made its first read (a
    wait of 0 made it first): a sync point, not a timing. The watchers publish no event
    per viewer, so it looks."""
    async with asyncio.timeout(WAIT):
        while live.watchers.subscriptions < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_finished_deployment_is_answered_at_once(live: Live) -> None:
    async with live.client() as client:
        response = await client.get(f"/v1/deployments/{FINISHED}", params={"wait": 60})
    assert response.status_code == 200
    assert response.headers["wait-result"] == "final"
    assert response.json()["deploymentInfo"]["status"] == "Failed"


async def test_a_wait_answers_when_the_deployment_finishes(live: Live) -> None:
    async with live.client() as client:
        await client.get(URL, params={"wait": 0})  # the watcher's first read
        waited = asyncio.create_task(client.get(URL, params={"wait": 60}))
        await waiting(live, 1)
        assert not waited.done()
        live.clock.advance(57)  # the run is over
        live.changed()
        response = await waited
    assert response.headers["wait-result"] == "final"
    assert response.json()["deploymentInfo"]["status"] == "Succeeded"
    assert response.headers["cache-control"] == "max-age=0"


async def test_with_an_entity_tag_a_wait_answers_the_first_change(live: Live) -> None:
    async with live.client() as client:
        now = await client.get(URL)
        tag = now.headers["etag"]
        waited = asyncio.create_task(
            client.get(URL, params={"wait": 60}, headers={"If-None-Match": tag})
        )
        await waiting(live, 1)
        live.clock.advance(17)  # the first instance done: the overview changes
        live.changed()
        response = await waited
        stale = await client.get(URL, params={"wait": 60}, headers={"If-None-Match": tag})
    assert response.status_code == 200
    assert response.headers["wait-result"] == "changed"
    assert response.headers["etag"] != tag
    assert response.json()["deploymentInfo"]["status"] == "InProgress"
    assert (stale.status_code, stale.headers["wait-result"]) == (200, "changed")  # at once


async def test_a_wait_that_runs_out_answers_the_deployment_as_it_is(live: Live) -> None:
    async with live.client() as client:
        tag = (await client.get(URL)).headers["etag"]
        plain = await client.get(URL, params={"wait": 0.2})
        unchanged = await client.get(URL, params={"wait": 0.2}, headers={"If-None-Match": tag})
    assert plain.headers["wait-result"] == "timeout"
    assert plain.json()["deploymentInfo"]["status"] == "InProgress"
    assert (unchanged.status_code, unchanged.headers["wait-result"]) == (304, "timeout")


@pytest.mark.parametrize("wait", ["301", "-1", "soon"])
async def test_a_wait_outside_its_bounds_is_400(live: Live, wait: str) -> None:
    async with live.client() as client:
        response = await client.get(URL, params={"wait": wait})
    assert (response.status_code, response.json()["code"]) == (400, "BAD_USER_INPUT")


async def test_a_hundred_waits_cost_the_upstream_what_one_does(make_live: LiveFactory) -> None:
    async def calls_for(waits: int) -> int:
        async with make_live(max_subscriptions_per_caller=200) as live, live.client() as client:
            before = live.upstream.calls()
            # The watcher's first read; then every wait for the deployment to change.
            tag = {"If-None-Match": (await client.get(URL, params={"wait": 0})).headers["etag"]}
            waited = [
                asyncio.create_task(client.get(URL, params={"wait": 60}, headers=tag))
                for _ in range(waits)
            ]
            await waiting(live, waits)
            live.clock.advance(17)  # an instance done: the deployment's overview changes
            live.changed()
            answers = await asyncio.gather(*waited)
            assert {answer.headers["wait-result"] for answer in answers} == {"changed"}
            return live.upstream.calls() - before

    # A cached read of the deployment (is it final already?), then the watcher's two reads.
    assert await calls_for(100) == await calls_for(1) == 1 + 2 * 3


async def test_waits_count_against_the_callers_subscriptions(make_live: LiveFactory) -> None:
    async with make_live(max_subscriptions_per_caller=1) as live, live.client() as client:
        first = asyncio.create_task(client.get(URL, params={"wait": 60}))
        await waiting(live, 1)
        refused = await client.get(URL, params={"wait": 60})
        live.clock.advance(57)
        live.changed()
        await first
    assert (refused.status_code, refused.json()["code"]) == (429, "TOO_MANY_SUBSCRIPTIONS")


def test_the_longest_wait_is_a_setting() -> None:
    from service.settings import Settings

    assert Settings(local=True).max_wait_seconds == 300
    with pytest.raises(ValueError, match="max_wait_seconds"):
        Settings(local=True, max_wait_seconds=-1)
