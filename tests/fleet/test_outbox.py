"""The fleet's webhook outbox on a real redis-server, as only a fleet has it: a change
queued by every replica is queued once and held by one; a dead replica's queues are
claimed by another, which goes on from their head (what both outboxes promise alike:
tests/webhooks/test_outbox.py)."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from service.fleet.outbox import StoreOutbox
from service.fleet.store import Store
from service.metrics import Metrics
from service.webhooks.messages import Message
from tests.support import FakeClock, RedisServer


@asynccontextmanager
async def replicas(
    redis: RedisServer, count: int, clock: FakeClock
) -> AsyncIterator[list[StoreOutbox]]:
    async with AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(
                Store(redis.url, password=None, timeout=2, max_connections=4, metrics=Metrics())
            )
            for _ in range(count)
        ]
        yield [StoreOutbox(store, claim_idle_seconds=0, clock=clock) for store in stores]


def message(number: int, key: str = "prod/us-east-1/d-1") -> Message:
    return Message("tracker", key, f"msg_{number}", b'{"n":%d}' % number, 1000.0 + number)


async def test_every_replica_queues_a_change_and_it_is_queued_once(redis: RedisServer) -> None:
    async with replicas(redis, 3, FakeClock()) as outboxes:
        queued = [await outbox.put(message(1)) for outbox in outboxes]
        heads = [await outbox.due(2000.0, 10, set()) for outbox in outboxes]
    assert queued == [True, False, False]
    assert sum(len(found) for found in heads) == 1  # one replica holds the queue


async def test_a_dead_replicas_queue_is_claimed_and_goes_on_from_its_head(
    redis: RedisServer,
) -> None:
    clock = FakeClock()
    async with replicas(redis, 2, clock) as (dying, survivor):
        await dying.put(message(1))
        await dying.put(message(2))
        (held,) = await dying.due(2000.0, 10, set())
        await dying.retry(held, "500", at=2001.0)  # one try made, then the replica dies
        assert await survivor.due(2100.0, 10, set()) == []  # held, and touched just now
        clock.advance(60)  # the survivor looks for idle queues again
        (claimed,) = await survivor.due(2100.0, 10, set())
        assert (claimed.message.id, claimed.attempts) == ("msg_1", 1)
        await survivor.delivered(claimed, 2100.0)
        (after,) = await survivor.due(2100.0, 10, set())
        assert after.message.id == "msg_2"
