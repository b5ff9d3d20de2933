"""Live updates in a fleet: one watcher per deployment across replicas, one numbering.

Three gateways under uvicorn share a real redis-server and one emulator; watchers read
again when a test nudges one (as a notification would), never on a timer.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from service.codedeploy.notifications import Notification
from tests.support import (
    FLEET,
    LIVE,
    WAIT,
    Event,
    Live,
    LiveFactory,
    RedisServer,
    Stream,
    redis_server,
    stream,
)


@pytest.fixture
async def fleet(make_live: LiveFactory, redis: RedisServer) -> AsyncIterator[list[Live]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(make_live(redis_url=redis.url, **FLEET))
            for _ in range(3)
        ]


def ids(events: list[Event]) -> set[str]:
    return {event.id for event in events}


async def test_thirty_viewers_over_three_replicas_cost_what_one_costs(fleet: list[Live]) -> None:
    upstream = fleet[0].upstream
    async with AsyncExitStack() as stack:
        streams: list[Stream] = []
        for n in range(30):
            client = await stack.enter_async_context(fleet[n // 10].client())
            streams.append(await stack.enter_async_context(stream(client)))
        pictures = [await viewer.take(5) for viewer in streams]
        # One read of the deployment for all 30: the first replica's watcher's.
        assert upstream.calls("GetDeployment") == 1
        assert len({frozenset(ids(picture)) for picture in pictures}) == 1
        first = upstream.calls()

        fleet[0].clock.advance(3)  # the first instance's next lifecycle event
        fleet[0].changed()
        changes = [await viewer.next() for viewer in streams]

    assert upstream.calls() == 2 * first  # one more read, whoever watches where
    assert len({(change.id, change.event) for change in changes}) == 1
    assert changes[0].event == "instance"


async def test_last_event_id_resumes_on_any_replica(fleet: list[Live]) -> None:
    async with fleet[0].client() as leader, stream(leader) as watched:
        async with fleet[1].client() as client, stream(client) as events:
            picture = await events.take(5)
        fleet[0].clock.advance(3)
        fleet[0].changed()
        await watched.next()  # the leading replica found the change

        # The viewer that left replica 1 comes back through replica 2.
        async with (
            fleet[2].client() as other,
            stream(other, **{"Last-Event-ID": picture[-1].id}) as resumed,
        ):
            again = await resumed.next()

    assert again.event == "instance"
    assert again.id not in ids(picture)
    assert again.id.rpartition("-")[0] == picture[-1].id.rpartition("-")[0]


async def test_a_follower_takes_over_in_the_same_numbering(fleet: list[Live]) -> None:
    upstream = fleet[0].upstream
    async with fleet[1].client() as client, stream(client) as follower:
        async with fleet[0].client() as leader_client, stream(leader_client) as leader:
            picture = await leader.take(5)
            await follower.take(5)
        await fleet[0].left()  # the leading replica's last viewer left: its lease goes
        reads = upstream.calls("GetDeployment")

        fleet[1].clock.advance(3)
        fleet[1].changed()  # replica 1's watcher's turn: it leads now
        change = await follower.next()

    assert upstream.calls("GetDeployment") == reads + 1
    generation = picture[0].id.rpartition("-")[0]
    assert change.id.rpartition("-")[0] == generation
    assert int(change.id.rpartition("-")[2]) > max(int(e.id.rpartition("-")[2]) for e in picture)


async def test_a_missing_deployment_fails_for_every_replicas_viewers(fleet: list[Live]) -> None:
    async with fleet[0].client() as first, fleet[1].client() as second:
        answers = [
            await first.get("/v1/deployments/d-MISSING00/events"),
            await second.get("/v1/deployments/d-MISSING00/events"),
        ]
    assert [answer.status_code for answer in answers] == [404, 404]
    # A watcher's first read is CodeDeploy's, never a cached answer: one a replica.
    assert fleet[0].upstream.calls("GetDeployment") == 2


async def test_a_notification_reaching_any_replica_makes_the_leader_read(
    fleet: list[Live],
) -> None:
    upstream = fleet[0].upstream
    async with fleet[0].client() as client, stream(client) as events:
        await events.take(5)
        reads = upstream.calls("GetDeployment")
        fleet[0].clock.advance(3)
        # The events queue gave it to replica 2, which watches nothing.
        fleet[2].watchers.on_notification(Notification(LIVE, "i-0e1f2a3b4c5d60001"))
        change = await events.next()
    assert change.event == "instance"
    assert upstream.calls("GetDeployment") == reads + 1


async def test_without_the_store_a_follower_reads_for_its_own_viewers(
    make_live: LiveFactory, tmp_path: Path
) -> None:
    with redis_server(tmp_path) as server:
        settings = {"redis_url": server.url, "redis_timeout_seconds": 0.5}
        async with (
            make_live(**settings) as leader,
            make_live(**settings) as follower,
            leader.client() as first,
            stream(first),
            follower.client() as second,
            stream(second) as events,
        ):
            await events.take(5)
            reads = follower.upstream.calls("GetDeployment")
            server.stop()
            follower.clock.advance(3)
            follower.changed()  # its turn: the store is gone, so it reads itself
            change = await events.next()
    assert change.event == "instance"
    assert follower.upstream.calls("GetDeployment") == reads + 1


async def test_a_notification_clears_what_the_store_holds_of_the_item(
    make_live: LiveFactory, redis: RedisServer
) -> None:
    # Entries that outlive the wait: the store's copy is gone only if it was deleted.
    settings = {"redis_url": redis.url, "cache_ttl_seconds": 3600, **FLEET}
    path = f"/v1/deployments/{LIVE}/instances/i-0e1f2a3b4c5d60001"
    async with AsyncExitStack() as stack:
        fleet = [await stack.enter_async_context(make_live(**settings)) for _ in range(3)]
        upstream = fleet[0].upstream
        first = await stack.enter_async_context(fleet[0].client())
        second = await stack.enter_async_context(fleet[1].client())
        await first.get(path)
        (key,) = redis.client().keys("cdgw:3:c:instances:*")
        fleet[2].watchers.on_notification(Notification(LIVE, "i-0e1f2a3b4c5d60001"))
        await until(lambda: not redis.client().exists(key))  # dropped in the background
        calls = upstream.calls("GetDeploymentInstance")
        answer = await second.get(path)
    assert answer.headers["x-cache"] == "MISS"
    assert upstream.calls("GetDeploymentInstance") == calls + 1


async def test_a_leader_gives_an_emptied_store_its_whole_record(
    fleet: list[Live], redis: RedisServer
) -> None:
    async with fleet[0].client() as leader_client, stream(leader_client) as leader:
        picture = await leader.take(5)
        redis.client().flushall()  # the store restarted, or evicted the record
        fleet[0].changed()  # the leader's next turn
        await until(lambda: redis.client().keys(f"cdgw:3:w:*:{LIVE}:items"))
        async with fleet[1].client() as client, stream(client) as late:
            whole = await late.take(5)
    assert whole[0].event == "deployment"
    assert ids(whole) == ids(picture)


async def until(condition: Callable[[], object]) -> None:
    """Until another process's state (the store's) says so, within WAIT."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - the store has no event to wait on
            await asyncio.sleep(0.01)


async def test_three_replicas_following_a_group_read_it_once(fleet: list[Live]) -> None:
    """Each replica's feed reads the group through the cache: the store's fleet-wide
    single-flight makes the three one GetDeploymentGroup and one ListDeployments."""
    path = "/v1/applications/orders-api/deployment-groups/orders-api-staging/events"
    upstream = fleet[0].upstream
    async with AsyncExitStack() as stack:
        opened = []
        for live in fleet:
            client = await stack.enter_async_context(live.client())
            response = await stack.enter_async_context(client.stream("GET", path))
            opened.append(Stream(response))
        pictures = [await viewer.take(6) for viewer in opened]
    assert {picture[0].event for picture in pictures} == {"group"}
    assert upstream.calls("GetDeploymentGroup") == 1
    assert upstream.calls("ListDeployments") == 1
