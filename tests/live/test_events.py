"""The REST event stream, over real sockets: a moving deployment in the emulator, the
gateway under uvicorn, and watchers read again when a test says (a nudge, as a
notification from the events queue gives), not on a timer."""

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from service.reads import Resolver
from tests.support import FINISHED, LIVE, Event, Live, LiveFactory, Stream, fields, stream


def instance(event: Event) -> tuple[str, str]:
    summary = event.data["instanceSummary"]
    return summary["instanceId"], summary["status"]


async def test_a_new_viewer_gets_the_deployment_then_every_instance(live: Live) -> None:
    async with live.client() as client, stream(client) as events:
        assert events.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert events.response.headers["cache-control"] == "no-store"
        first, *instances = await events.take(5)
    assert first.event == "deployment"
    async with live.client() as client:
        answer = (await client.get(f"/v1/deployments/{LIVE}")).json()
    assert first.data == answer
    assert [event.event for event in instances] == ["instance"] * 4
    assert [instance(event) for event in instances] == [
        ("i-0e1f2a3b4c5d60001", "InProgress"),
        ("i-0e1f2a3b4c5d60002", "Pending"),
        ("i-0e1f2a3b4c5d60003", "Pending"),
        ("i-0e1f2a3b4c5d60004", "Pending"),
    ]
    ids = [first.id, *(event.id for event in instances)]
    assert len(set(ids)) == 5


async def test_only_what_changed_is_sent(live: Live) -> None:
    async with live.client() as client, stream(client) as events:
        await events.take(5)
        live.clock.advance(3)  # the first instance's next lifecycle event starts
        live.changed()
        change = await events.next()
        assert change.event == "instance"
        assert instance(change) == ("i-0e1f2a3b4c5d60001", "InProgress")
        statuses = [e["status"] for e in change.data["instanceSummary"]["lifecycleEvents"]]
        assert statuses[:2] == ["Succeeded", "InProgress"]
        live.clock.advance(14)  # the first instance done, the second started
        live.changed()
        changes = await events.take(3)
    assert [c.event for c in changes] == ["deployment", "instance", "instance"]
    assert changes[0].data["deploymentInfo"]["deploymentOverview"]["Succeeded"] == 1
    assert [instance(c) for c in changes[1:]] == [
        ("i-0e1f2a3b4c5d60001", "Succeeded"),
        ("i-0e1f2a3b4c5d60002", "InProgress"),
    ]


async def test_the_stream_ends_after_the_final_status(live: Live) -> None:
    async with live.client() as client:
        async with stream(client) as events:
            await events.take(5)
            live.clock.advance(57)  # the run is over
            live.changed()
            final = await events.next()
            rest = await events.take(4)
            assert await events.ended()
        last_id = rest[-1].id
        # EventSource reconnects when a stream ends: 204 tells it the story is over.
        again = await client.get(
            f"/v1/deployments/{LIVE}/events", headers={"Last-Event-ID": last_id}
        )
    assert final.data["deploymentInfo"]["status"] == "Succeeded"
    assert {instance(event)[1] for event in rest} == {"Succeeded"}
    assert again.status_code == 204


async def test_a_finished_deployment_is_shown_whole_then_ends(live: Live) -> None:
    async with live.client() as client, stream(client, FINISHED) as events:
        first, *instances = await events.take(7)
        assert await events.ended()
    assert first.data["deploymentInfo"]["status"] == "Failed"
    assert len(instances) == 6


async def test_a_reconnect_resumes_after_its_last_event_id(live: Live) -> None:
    async with live.client() as client:
        async with stream(client) as events:
            seen = await events.take(5)
        live.clock.advance(3)
        live.changed()  # read while nobody watches: the watcher lingers for a reconnect
        async with stream(client, **{"Last-Event-ID": seen[-1].id}) as events:
            resumed = await events.next()
        async with stream(client, **{"Last-Event-ID": seen[2].id}) as events:
            partial = await events.take(3)
        async with stream(client, **{"Last-Event-ID": "someone-else-7"}) as events:
            fresh = await events.take(5)
    assert instance(resumed) == ("i-0e1f2a3b4c5d60001", "InProgress")
    assert resumed.id not in {event.id for event in seen}
    # After the third event: the two instances not yet seen, then the one that changed.
    assert [instance(e)[0] for e in partial] == [
        "i-0e1f2a3b4c5d60003",
        "i-0e1f2a3b4c5d60004",
        "i-0e1f2a3b4c5d60001",
    ]
    assert fresh[0].event == "deployment"


async def test_fifty_viewers_cost_the_upstream_what_one_costs(make_live: LiveFactory) -> None:
    async def calls_for(viewers: int) -> int:
        async with make_live(max_subscriptions_per_caller=100) as live, live.client() as client:
            before = live.upstream.calls()
            async with asyncio.TaskGroup() as group:
                opened = [group.create_task(_open(client)) for _ in range(viewers)]
            streams = [task.result() for task in opened]
            for viewer in streams:
                await viewer.stream.take(5)
            live.clock.advance(3)
            live.changed()
            changes = [await viewer.stream.next() for viewer in streams]
            assert {instance(change) for change in changes} == {
                ("i-0e1f2a3b4c5d60001", "InProgress")
            }
            for viewer in streams:
                await viewer.close()
            return live.upstream.calls() - before

    assert await calls_for(50) == await calls_for(1) == 6  # two reads of three calls


@dataclass
class _Opened:
    stream: Stream
    response: httpx.Response

    async def close(self) -> None:
        await self.response.aclose()


async def _open(client: httpx.AsyncClient) -> _Opened:
    request = client.build_request("GET", f"/v1/deployments/{LIVE}/events")
    response = await client.send(request, stream=True)
    assert response.status_code == 200
    return _Opened(Stream(response), response)


async def test_a_watched_deployment_is_read_from_the_cache(live: Live) -> None:
    async with live.client() as client, stream(client) as events:
        await events.take(5)
        deployment = await client.get(f"/v1/deployments/{LIVE}")
        one = await client.get(f"/v1/deployments/{LIVE}/instances/i-0e1f2a3b4c5d60002")
    assert deployment.headers["x-cache"] == "HIT"
    assert one.headers["x-cache"] == "HIT"


async def test_an_unknown_deployment_is_a_404_problem(live: Live) -> None:
    async with live.client() as client:
        response = await client.get("/v1/deployments/d-NOTHERE00/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "DEPLOYMENT_NOT_FOUND"
    assert len(live.watchers) == 0


async def test_a_caller_over_its_subscriptions_gets_429(make_live: LiveFactory) -> None:
    async with make_live(max_subscriptions_per_caller=2) as live, live.client() as client:
        async with stream(client), stream(client):
            refused = await client.get(f"/v1/deployments/{FINISHED}/events")
        await live.left()
        async with stream(client):  # a closed stream gives its place back
            pass
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert refused.json()["code"] == "TOO_MANY_SUBSCRIPTIONS"


async def test_a_process_watches_a_bounded_number_of_deployments(make_live: LiveFactory) -> None:
    async with make_live(max_watched_deployments=1) as live, live.client() as client:
        async with stream(client):
            refused = await client.get(f"/v1/deployments/{FINISHED}/events")
        await live.left()
        # Once nobody watches it, a deployment's watcher gives way to another's.
        async with stream(client, FINISHED) as events:
            await events.take(7)
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_WATCHED_DEPLOYMENTS"


async def test_a_throttled_read_keeps_the_stream_and_the_next_one_catches_up(
    make_live: LiveFactory,
) -> None:
    async with make_live(upstream_max_attempts=1) as live, live.client() as client:
        metrics = live.gateway.state["metrics"].registry
        async with stream(client) as events:
            await events.take(5)
            live.clock.advance(3)
            live.upstream.emulator.faults.throttle_rate = 1.0
            live.changed()
            async with asyncio.timeout(10):
                while not metrics.get_sample_value(  # noqa: ASYNC110  (a count, no event)
                    "gateway_watch_reads_total", {"outcome": "THROTTLED"}
                ):
                    await asyncio.sleep(0.01)
            live.upstream.emulator.faults.throttle_rate = 0.0
            live.changed()
            change = await events.next()
    assert instance(change) == ("i-0e1f2a3b4c5d60001", "InProgress")


async def test_a_streams_log_line_does_not_collect_the_watchers_reads(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="service.access")
    async with live.client() as client:
        async with stream(client) as events:
            await events.take(5)
            for _ in range(2):  # reads that go on as long as the watcher lives
                live.clock.advance(3)
                live.changed()
                await events.next()
        await live.left()
        await client.get("/healthz")  # logged after the stream's line
    (line,) = [r for r in caplog.records if r.getMessage().startswith("GET /v1/deployments/")]
    assert fields(line)["upstream_request_ids"] == []


async def test_a_viewer_joining_a_running_watcher_gets_the_deployment_first(live: Live) -> None:
    async with live.client() as client, stream(client) as first:
        await first.take(5)
        live.clock.advance(3)
        live.changed()
        await first.next()  # an instance changed after the deployment did
        async with stream(client) as second:
            picture = await second.take(5)
    assert [event.event for event in picture] == ["deployment"] + ["instance"] * 4


async def test_an_odd_last_event_id_starts_afresh(live: Live) -> None:
    async with live.client() as client, stream(client) as events:
        generation = (await events.next()).id.rsplit("-", 1)[0]
        for odd in (f"{generation}-\xb2", f"{generation}-" + "9" * 40, "-", "\xff" * 300):
            headers = [(b"last-event-id", odd.encode("latin-1"))]
            url = f"/v1/deployments/{LIVE}/events"
            async with client.stream("GET", url, headers=headers) as response:
                assert response.status_code == 200
                assert (await Stream(response).next()).event == "deployment"


async def test_head_answers_without_watching(live: Live) -> None:
    async with live.client() as client:
        response = await client.head(f"/v1/deployments/{LIVE}/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert live.upstream.calls() == 0
    assert len(live.watchers) == 0


async def test_a_fleet_listed_twice_over_is_read_once(live: Live) -> None:
    deployment = live.upstream.emulator.data.deployments["d-EXAMPLE02"]
    deployment.instances.append(deployment.instances[0])  # pages overlapping as they moved
    async with live.client() as client, stream(client, "d-EXAMPLE02") as events:
        first, *instances = await events.take(5)
    assert first.event == "deployment"
    assert len({instance(event) for event in instances}) == 4


async def test_a_watcher_that_fails_unexpectedly_answers_500_and_frees_the_place(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Resolver, "deployment", broken)
    async with live.client() as client:
        response = await client.get(f"/v1/deployments/{LIVE}/events")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_SERVER_ERROR"
    assert live.watchers.subscriptions == 0
    assert len(live.watchers) == 0
