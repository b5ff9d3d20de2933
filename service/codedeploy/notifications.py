"""CodeDeploy's state-change notifications, read from an SQS queue that an EventBridge
rule fills (``GATEWAY_EVENTS_QUEUE_URL``): a changed deployment is read again at once
instead of at its watcher's next interval.

The queue is long-polled by one long-lived client. Every message is deleted once read,
whatever it held: a notification is a hint to read CodeDeploy again, not data to keep,
so one the gateway cannot use is dropped rather than received again and again.
"""

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aioboto3
from aiobotocore.config import AioConfig

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

logger = logging.getLogger(__name__)

DETAIL_TYPES = frozenset(
    {
        "CodeDeploy Deployment State-change Notification",
        "CodeDeploy Instance State-change Notification",
    }
)
# SQS's longest wait: one request per 20 s per replica while nothing happens.
WAIT_SECONDS = 20
# SQS hands over at most 10 messages a receive.
BATCH = 10
# A failing queue is asked again after 1 s, doubling to this.
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Notification:
    """What changed, as the EventBridge event says: a deployment, perhaps one instance,
    in the account and region the event came from."""

    deployment_id: str
    instance_id: str | None = None
    account: str | None = None
    region: str | None = None


def parse(body: str) -> Notification | None:
    """The notification in a message's body (the EventBridge event as the rule's SQS
    target sends it), or None for anything else."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("detail-type") not in DETAIL_TYPES:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    deployment_id = detail.get("deploymentId")
    instance_id = detail.get("instanceId")
    if not isinstance(deployment_id, str) or not deployment_id:
        return None
    account, region = event.get("account"), event.get("region")
    return Notification(
        deployment_id,
        instance_id.rsplit("/", 1)[-1] if isinstance(instance_id, str) and instance_id else None,
        account if isinstance(account, str) else None,
        region if isinstance(region, str) else None,
    )


# sqs[-fips].<region>.amazonaws.com/…, or the older <region>.queue.amazonaws.com/…
_QUEUE_HOST = re.compile(
    r"^(?:sqs(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?"
    r"|([a-z]{2}(?:-[a-z]+)+-\d+)\.queue\.amazonaws\.com(?:\.cn)?)$"
)


def queue_region(url: str, fallback: str) -> str:
    """The region an SQS queue's URL names (botocore sends a call to its client's region,
    whatever the URL says), else ``fallback``: a local SQS, a VPC endpoint."""
    match = _QUEUE_HOST.match(urlsplit(url).hostname or "")
    return (match.group(1) or match.group(2)) if match else fallback


@asynccontextmanager
async def read_queue(
    url: str, region: str, notify: Callable[[Notification | None], None]
) -> AsyncIterator[None]:
    """Long-polls ``url`` for the duration of the block, telling ``notify`` of each
    message (None for one that is not CodeDeploy's)."""
    session = aioboto3.Session(region_name=region)
    # The long poll holds a request open WAIT_SECONDS: the read timeout must outlast it.
    config = AioConfig(
        read_timeout=WAIT_SECONDS + 10,
        connect_timeout=2,
        retries={"mode": "standard", "total_max_attempts": 3},
        user_agent_appid="codedeploy-gateway",
    )
    async with session.client("sqs", config=config) as client:
        task = asyncio.create_task(_poll(client, url, notify), name="events queue")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


async def _poll(
    client: "SQSClient", url: str, notify: Callable[[Notification | None], None]
) -> None:
    delay = 0.0
    while True:
        try:
            reply = await client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=WAIT_SECONDS
            )
            messages = reply.get("Messages", [])
            for message in messages:
                notify(parse(message.get("Body", "")))
            if messages:
                await client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                    ],
                )
        except Exception as error:  # botocore's, or aiohttp's it does not wrap: retried
            if not delay:  # once per run of failures, not once per retry
                logger.warning("events queue unavailable, retrying: %r", error)
            delay = min(max(delay * 2, 1.0), MAX_BACKOFF_SECONDS)
            await asyncio.sleep(delay)
        else:
            if delay:
                logger.info("events queue available again")
            delay = 0.0
