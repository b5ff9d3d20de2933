"""A stream tells what CodeDeploy holds now: its first read is never a cached answer,
and a watcher that has ended is not what a new viewer gets once the deployment moved."""

from typing import Any

from tests.support import Live, put_deployment, stream

MOVED = "d-MOVED0001"


def deployment(status: str) -> dict[str, Any]:
    return {
        "computePlatform": "Server",
        "status": status,
        "instances": [
            {
                "deploymentId": MOVED,
                "instanceId": "i-1",
                "status": "Failed" if status == "Failed" else "InProgress",
                "lastUpdatedAt": 1795518061.0,
                "lifecycleEvents": [],
            }
        ],
    }


async def upstream_says(live: Live, status: str) -> None:
    await put_deployment(live.upstream, MOVED, deployment(status))


async def test_a_new_stream_does_not_open_on_a_cached_final_status(live: Live) -> None:
    await upstream_says(live, "Failed")
    async with live.client() as client:
        cached = (await client.get(f"/v1/deployments/{MOVED}")).json()
        assert cached["deploymentInfo"]["status"] == "Failed"  # kept long: it is final
        await upstream_says(live, "InProgress")
        async with stream(client, MOVED) as events:
            first = await events.next()
    assert first.data["deploymentInfo"]["status"] == "InProgress"


async def test_an_ended_watcher_is_not_reused_for_a_new_viewer(live: Live) -> None:
    await upstream_says(live, "Failed")
    async with live.client() as client:
        async with stream(client, MOVED) as events:
            ended = await events.take(2)
        assert ended[0].data["deploymentInfo"]["status"] == "Failed"
        # The same viewer reconnecting after the end is told there is nothing more.
        again = await client.get(
            f"/v1/deployments/{MOVED}/events", headers={"Last-Event-ID": ended[-1].id}
        )
        assert again.status_code == 204
        await upstream_says(live, "InProgress")
        async with stream(client, MOVED) as events:
            first = await events.next()
    assert first.data["deploymentInfo"]["status"] == "InProgress"
