"""What following a deployment costs CodeDeploy, and who pays: a stream that joins a
watcher takes its picture without a read; the one that starts a watcher pays its first
read; a subscription whose events would read more is refused when it subscribes."""

import json
from typing import Any

from tests.support import Live, LiveFactory, put_deployment, stream

BIG = "d-BIGFLEET1"
INSTANCES = 300  # three list pages and twelve batch reads: 16 calls a whole read


def fleet(size: int) -> dict[str, Any]:
    return {
        "computePlatform": "Server",
        "status": "InProgress",
        "applicationName": "orders-api",
        "deploymentGroupName": "orders-api-prod",
        "instances": [
            {
                "deploymentId": BIG,
                "instanceId": f"i-{n:017x}",
                "status": "InProgress",
                "lastUpdatedAt": 1795518061.0,
                "lifecycleEvents": [{"lifecycleEventName": "Install", "status": "InProgress"}],
            }
            for n in range(size)
        ],
    }


async def put_fleet(live: Live) -> None:
    await put_deployment(live.upstream, BIG, fleet(INSTANCES))


async def test_streams_that_join_a_watcher_make_no_read(live: Live) -> None:
    await put_fleet(live)
    async with live.client() as client, stream(client, BIG) as first:
        await first.take(1 + INSTANCES)
        calls = live.upstream.calls()
        for _ in range(10):  # viewers come and go while one stays
            async with stream(client, BIG) as other:
                await other.take(1 + INSTANCES)
        assert live.upstream.calls() == calls
    # The last viewer left: the watcher lingers, and a viewer coming back reads nothing.
    async with live.client() as client, stream(client, BIG) as again:
        await again.take(1 + INSTANCES)
    assert live.upstream.calls() == calls


async def test_the_stream_that_starts_a_watcher_pays_its_first_read(
    make_live: LiveFactory,
) -> None:
    # A burst of 10 cannot pay a 16-call first read; 40 can, once.
    async with make_live(rate_limit_per_second=0.01, rate_limit_burst=10) as live:
        await put_fleet(live)
        async with live.client() as client:
            refused = await client.get(f"/v1/deployments/{BIG}/events")
        assert refused.status_code == 429
        assert refused.json()["code"] == "RATE_LIMITED"
    async with make_live(rate_limit_per_second=0.01, rate_limit_burst=40) as live:
        await put_fleet(live)
        async with live.client() as client:
            async with stream(client, BIG) as first:
                await first.take(1 + INSTANCES)
            # 1 at the door + 15 more for the read: 24 left, and joining costs 1 each.
            for _ in range(24):
                async with stream(client, BIG) as joined:
                    await joined.take(1)
            over = await client.get(f"/v1/deployments/{BIG}/events")
        assert over.status_code == 429


EVENTS = """subscription { deploymentEvents(deploymentId: "d-EXAMPLE07") {
  ... on DeploymentChanged { deployment { status %s } } } }"""


async def test_a_subscription_whose_events_read_more_is_refused(live: Live) -> None:
    async with live.client() as client:
        costly = await client.post(
            "/graphql",
            json={"query": EVENTS % "instances(first: 5) { edges { node { status } } }"},
            headers={"Accept": "text/event-stream"},
        )
        plain = client.stream(
            "POST",
            "/graphql",
            json={"query": EVENTS % "deploymentOverview { succeeded }"},
            headers={"Accept": "text/event-stream"},
        )
        async with plain as response:
            assert response.status_code == 200
            first = await anext(response.aiter_lines())
    # GraphQL over SSE answers a refused request as its one event.
    assert costly.status_code == 200, costly.text
    data = next(line for line in costly.text.splitlines() if line.startswith("data: {"))
    error = json.loads(data.removeprefix("data: "))["errors"][0]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    # The page of ids and one batch read of its five instances, for every event.
    assert "Each event of this subscription would make 2 more CodeDeploy calls" in error["message"]
    assert first.startswith("event: next")
