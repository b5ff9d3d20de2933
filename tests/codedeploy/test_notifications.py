"""The events queue: EventBridge's CodeDeploy notifications, read from a real
SQS-compatible server (moto in its server mode, over HTTP) by the gateway's own client."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from service.codedeploy.notifications import Notification, parse, queue_region
from tests.support import LIVE, LiveFactory, free_port, stream

ACCOUNT = "123456789012"


def event(detail_type: str, **detail: str) -> dict[str, Any]:
    """An EventBridge event as CodeDeploy sends it (AWS's documented example's shape)."""
    return {
        "version": "0",
        "id": "c3b7a4d2-0000-0000-0000-000000000000",
        "detail-type": detail_type,
        "source": "aws.codedeploy",
        "account": ACCOUNT,
        "time": "2026-11-28T10:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:application:orders-api"],
        "detail": {"region": "us-east-1", "application": "orders-api", **detail},
    }


INSTANCE_CHANGED = event(
    "CodeDeploy Instance State-change Notification",
    deploymentId=LIVE,
    instanceId=f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0e1f2a3b4c5d60001",
    state="SUCCESS",
)
DEPLOYMENT_CHANGED = event(
    "CodeDeploy Deployment State-change Notification", deploymentId=LIVE, state="START"
)


def test_a_deployment_notification_names_the_deployment_its_account_and_region() -> None:
    assert parse(json.dumps(DEPLOYMENT_CHANGED)) == Notification(
        LIVE, account=ACCOUNT, region="us-east-1"
    )


def test_an_instance_notification_names_the_instance_by_its_id() -> None:
    notification = parse(json.dumps(INSTANCE_CHANGED))
    assert notification is not None
    assert notification.instance_id == "i-0e1f2a3b4c5d60001"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        json.dumps(event("EC2 Instance State-change Notification", deploymentId=LIVE)),
        json.dumps({**DEPLOYMENT_CHANGED, "detail": "?"}),
        json.dumps(event("CodeDeploy Deployment State-change Notification")),
    ],
    ids=["empty", "not-json", "not-an-object", "not-codedeploy", "no-detail", "no-id"],
)
def test_anything_else_is_not_a_notification(body: str) -> None:
    assert parse(body) is None


@pytest.fixture(scope="session")
def sqs_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def queue(sqs_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh queue on the server; the gateway finds the server as any SDK would."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_server)
    sqs = boto3.resource("sqs", endpoint_url=sqs_server, region_name="us-east-1")
    created = sqs.create_queue(QueueName=f"codedeploy-events-{free_port()}")
    yield created
    created.delete()


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/codedeploy", "eu-west-1"),
        ("https://ap-southeast-2.queue.amazonaws.com/123456789012/codedeploy", "ap-southeast-2"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/codedeploy", "cn-north-1"),
        ("https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/codedeploy", "us-gov-west-1"),
        ("http://127.0.0.1:9324/123456789012/codedeploy", "us-east-1"),  # a local SQS
        ("https://vpce-0a1b.sqs.eu-west-1.vpce.amazonaws.com/1/q", "us-east-1"),
    ],
)
def test_the_queue_is_read_in_the_region_its_url_names(url: str, region: str) -> None:
    assert queue_region(url, "us-east-1") == region


async def test_a_notification_brings_the_change_before_the_next_poll(
    make_live: LiveFactory, queue: Any
) -> None:
    async with make_live(events_queue_url=queue.url) as live:  # polls every 300 s
        metrics = live.gateway.state["metrics"].registry
        async with live.client() as client, stream(client) as events:
            await events.take(5)
            live.clock.advance(3)
            await asyncio.to_thread(queue.send_message, MessageBody=json.dumps(INSTANCE_CHANGED))
            change = await events.next()
        assert change.data["instanceSummary"]["instanceId"] == "i-0e1f2a3b4c5d60001"
        watched = metrics.get_sample_value(
            "gateway_queue_notifications_total", {"outcome": "watched"}
        )
    assert watched == 1


async def test_every_message_is_deleted_once_read(make_live: LiveFactory, queue: Any) -> None:
    async with make_live(events_queue_url=queue.url) as live:
        metrics = live.gateway.state["metrics"].registry
        await asyncio.to_thread(queue.send_message, MessageBody="not a notification")
        await asyncio.to_thread(queue.send_message, MessageBody=json.dumps(DEPLOYMENT_CHANGED))

        def read(outcome: str) -> float:
            labels = {"outcome": outcome}
            return metrics.get_sample_value("gateway_queue_notifications_total", labels) or 0

        def left() -> tuple[str, str]:
            queue.reload()
            attributes = queue.attributes
            return (
                attributes["ApproximateNumberOfMessages"],
                attributes["ApproximateNumberOfMessagesNotVisible"],
            )

        # Nothing to wait on but the count, then the queue: both read until they are in
        # (a message is deleted just after it is told, while the gateway still runs).
        async with asyncio.timeout(30):
            while read("ignored") + read("unwatched") < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            while await asyncio.to_thread(left) != ("0", "0"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
