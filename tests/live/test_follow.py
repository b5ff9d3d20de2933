"""Following a deployment group and an application over server-sent events: the demo's
rolling group, whose every run is a new deployment, read again when a test says."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from service.accounts import AccountRegion
from service.live import follow
from service.live.changes import Watched
from service.live.follow import Follows
from service.models import DeploymentGroupInfo, DeploymentInfo, InstanceSummary
from service.reads import Resolvers
from service.snapshot import Snapshot
from tests.support import LIVE, Live, LiveFactory, Stream

APPLICATION, GROUP = "orders-api", "orders-api-staging"
GROUP_EVENTS = f"/v1/applications/{APPLICATION}/deployment-groups/{GROUP}/events"
APPLICATION_EVENTS = f"/v1/applications/{APPLICATION}/events"


@asynccontextmanager
async def following(client: httpx.AsyncClient, path: str, **headers: str) -> AsyncIterator[Stream]:  # fmt: skip
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        yield Stream(response)


def changed(live: Live) -> None:
    """CodeDeploy changed: the group's feed and the running deployment's watcher read now."""
    follows: Follows = live.gateway.state["follows"]
    resolvers: Resolvers = live.gateway.state["resolvers"]
    follows.changed(resolvers.accounts.default, APPLICATION, GROUP)
    live.watchers.changed(Watched(resolvers.accounts.default, LIVE))


async def deployments(stream: Stream, until: str, status: str) -> list[tuple[str, str]]:
    """The deployment events read until ``until`` is in ``status``."""
    seen: list[tuple[str, str]] = []
    while (until, status) not in seen:
        event = await stream.next()
        if event.event == "deployment":
            info = event.data["deploymentInfo"]
            seen.append((info["deploymentId"], info["status"]))
    return seen


async def test_a_group_stream_opens_on_the_group_then_its_running_deployment(
    live: Live,
) -> None:
    async with live.client() as client, following(client, GROUP_EVENTS) as stream:
        first, second, *items = await stream.take(6)
    assert first.event == "group"
    assert first.data["deploymentGroupInfo"]["deploymentGroupName"] == GROUP
    assert (second.event, second.data["deploymentInfo"]["deploymentId"]) == ("deployment", LIVE)
    assert [item.event for item in items] == ["instance"] * 4


async def test_the_next_deployment_appears_without_reconnecting(live: Live) -> None:
    async with live.client() as client, following(client, GROUP_EVENTS) as stream:
        await stream.take(6)
        live.clock.advance(57)  # the run is over
        changed(live)
        assert (LIVE, "Succeeded") in await deployments(stream, LIVE, "Succeeded")
        live.clock.advance(15)  # the rest is over: the next run starts, a new deployment
        changed(live)
        event = await stream.next()
        while event.event != "deployment":
            event = await stream.next()
    info = event.data["deploymentInfo"]
    assert info["deploymentId"] != LIVE
    assert info["status"] == "InProgress"


async def test_an_application_stream_follows_its_groups(live: Live) -> None:
    async with live.client() as client, following(client, APPLICATION_EVENTS) as stream:
        events = [await stream.next() for _ in range(3)]
    groups = {e.data["deploymentGroupInfo"]["deploymentGroupName"] for e in events if e.event == "group"}  # fmt: skip
    assert GROUP in groups


async def test_a_reconnect_resumes_after_its_last_event_id(live: Live) -> None:
    async with live.client() as client:
        async with following(client, GROUP_EVENTS) as stream:
            seen = await stream.take(6)
        async with following(client, GROUP_EVENTS, **{"Last-Event-ID": seen[-1].id}) as stream:
            live.clock.advance(3)
            changed(live)
            resumed = await stream.next()
    assert resumed.event == "instance"
    assert resumed.id not in {event.id for event in seen}


async def test_an_unknown_group_is_a_404_problem(live: Live) -> None:
    async with live.client() as client:
        response = await client.get(f"/v1/applications/{APPLICATION}/deployment-groups/nope/events")
    assert (response.status_code, response.json()["code"]) == (404, "DEPLOYMENT_GROUP_NOT_FOUND")


async def test_a_hundred_group_viewers_cost_the_upstream_what_one_does(
    make_live: LiveFactory,
) -> None:
    async def calls_for(viewers: int) -> int:
        async with make_live(max_subscriptions_per_caller=200) as live, live.client() as client:
            before = live.upstream.calls()
            async with asyncio.TaskGroup() as group:
                opened = [group.create_task(_open(client)) for _ in range(viewers)]
            streams = [task.result() for task in opened]
            for stream, _ in streams:
                await stream.take(6)
            live.clock.advance(3)
            changed(live)
            for stream, _ in streams:
                assert (await stream.next()).event == "instance"
            for _, response in streams:
                await response.aclose()
            return live.upstream.calls() - before

    assert await calls_for(100) == await calls_for(1)


async def test_a_process_follows_a_bounded_number_of_groups(make_live: LiveFactory) -> None:
    other_group = f"/v1/applications/{APPLICATION}/deployment-groups/orders-api-prod/events"
    async with (
        make_live(max_followed_groups=1) as live,
        live.client() as client,
        following(client, GROUP_EVENTS),
    ):
        other = await client.get(other_group)
    assert (other.status_code, other.json()["code"]) == (429, "TOO_MANY_FOLLOWED_GROUPS")


async def _open(client: httpx.AsyncClient) -> tuple[Stream, httpx.Response]:
    response = await client.send(client.build_request("GET", GROUP_EVENTS), stream=True)
    assert response.status_code == 200
    return Stream(response), response


GROUP_SUBSCRIPTION = """subscription {
  deploymentGroupEvents(applicationName: "orders-api", deploymentGroupName: "orders-api-staging") {
    __typename
    ... on GroupChanged { eventId deploymentGroup { deploymentGroupName } }
    ... on DeploymentChanged { eventId deployment { deploymentId status } }
    ... on InstanceChanged { eventId instance { instanceId status } }
  }
}"""


async def test_a_graphql_subscription_follows_the_group(live: Live) -> None:
    async with (
        live.client(Accept="text/event-stream") as client,
        client.stream("POST", "/graphql", json={"query": GROUP_SUBSCRIPTION}) as response,
    ):
        assert response.status_code == 200
        payloads = []
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                payloads.append(json.loads(line[6:])["data"]["deploymentGroupEvents"])
            if len(payloads) == 3:
                break
    kinds = [payload["__typename"] for payload in payloads]
    assert kinds == ["GroupChanged", "DeploymentChanged", "InstanceChanged"]
    assert payloads[0]["deploymentGroup"]["deploymentGroupName"] == GROUP
    assert payloads[1]["deployment"] == {"deploymentId": LIVE, "status": "IN_PROGRESS"}


async def test_group_streams_count_against_the_callers_subscriptions(
    make_live: LiveFactory,
) -> None:
    async with (
        make_live(max_subscriptions_per_caller=1) as live,
        live.client() as client,
        following(client, GROUP_EVENTS),
    ):
        refused = await client.get(APPLICATION_EVENTS)
        graphql = await client.post(
            "/graphql",
            json={"query": GROUP_SUBSCRIPTION},
            headers={"Accept": "text/event-stream"},
        )
    assert (refused.status_code, refused.json()["code"]) == (429, "TOO_MANY_SUBSCRIPTIONS")
    assert graphql.status_code == 429
    assert graphql.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"


async def test_a_feed_forgets_a_finished_deployment_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A feed keeps what is running: a finished deployment and its items go once viewers
    reading its last changes have had them (here at once), so a board left open for days
    holds no history."""
    monkeypatch.setattr(follow, "LINGER_SECONDS", 0)
    feed = follow.Feed(follow.Followed(AccountRegion("a", "r"), APPLICATION, GROUP), lambda _: None)
    feed.add("group", "", GROUP, Snapshot(DeploymentGroupInfo(deployment_group_name=GROUP)))
    feed.add("deployment", "d-1", "d-1", Snapshot(DeploymentInfo(status="InProgress")))
    feed.add("instance", "d-1", "i-1", Snapshot(InstanceSummary(instance_id="i-1")))
    running = [key for key, _ in feed.since(0)]
    feed.add("deployment", "d-1", "d-1", Snapshot(DeploymentInfo(status="Succeeded")))
    await asyncio.sleep(0)  # the forgetting is due
    assert running == [
        ("group", "", GROUP),
        ("deployment", "d-1", "d-1"),
        ("instance", "d-1", "i-1"),
    ]
    assert [key for key, _ in feed.since(0)] == [("group", "", GROUP)]
