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
    redis: RedisServer, count: int, clock: FakeClock, claim_idle: float = 0
) -> AsyncIterator[list[StoreOutbox]]:
    """``count`` replicas' outboxes; each claims what was idle ``claim_idle`` seconds the
    next time ``clock`` says to look (the default: whatever another holds)."""
    async with AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(
                Store(redis.url, password=None, timeout=2, max_connections=4, metrics=Metrics())
            )
            for _ in range(count)
        ]
        yield [StoreOutbox(store, claim_idle_seconds=claim_idle, clock=clock) for store in stores]


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


async def test_a_replica_back_after_its_queue_was_claimed_neither_repeats_nor_loses(
    redis: RedisServer,
) -> None:
    """One replica cut off past the claim time while holding a queue: another claims it;
    when the first is back it finds the queue gone and sends nothing of it, and no
    settle of its removes a message it did not deliver."""
    clock = FakeClock()
    async with (
        replicas(redis, 1, clock, claim_idle=3600) as (away,),
        replicas(redis, 1, clock) as (other,),
    ):
        for number in (1, 2, 3):
            await away.put(message(number))
        (first,) = await away.due(2000.0, 10, set())
        await away.retry(first, "503", at=2001.0)  # a try failed; then the store is away
        clock.advance(60)
        (claimed,) = await other.due(2001.0, 10, set())  # claims the queue, idle "too long"
        assert (claimed.message.id, claimed.attempts) == ("msg_1", 1)
        assert await away.due(2001.0, 10, set()) == []  # back: the queue is not its own
        await away.delivered(first, 2001.0)  # a late settle of the head it once held
        await other.delivered(claimed, 2001.0)
        sent = []
        for _ in range(3):
            for outbox in (away, other):
                for pending in await outbox.due(2002.0, 10, set()):
                    sent.append(pending.message.id)
                    await outbox.delivered(pending, 2002.0)
    assert sent == ["msg_2", "msg_3"]


async def test_queues_waiting_for_a_retry_do_not_starve_the_others(redis: RedisServer) -> None:
    async with replicas(redis, 1, FakeClock()) as (outbox,):
        for number in range(150):  # a receiver that is down, 150 deployments
            await outbox.put(Message("down", f"d-{number}", f"msg_{number}", b"{}", 1.0))
        while taken := await outbox.due(2000.0, 200, set()):
            for pending in taken:
                await outbox.retry(pending, "503", at=5600.0)
        await outbox.put(message(999))
        (found,) = await outbox.due(2001.0, 16, set())
    assert found.message.webhook == "tracker"


async def test_a_consumer_gone_holding_nothing_is_forgotten(redis: RedisServer) -> None:
    """Each process is a consumer of its own name; one gone (a day, by default; at once
    here) holding nothing is dropped from the group by a replica looking for idle queues."""
    clock = FakeClock()
    async with AsyncExitStack() as stack:
        gone, staying = [
            await stack.enter_async_context(
                Store(redis.url, password=None, timeout=2, max_connections=4, metrics=Metrics())
            )
            for _ in range(2)
        ]
        first = StoreOutbox(gone, clock=clock)
        await first.put(message(1))
        (held,) = await first.due(2000.0, 10, set())
        await first.delivered(held, 2000.0)  # it held a queue, settled it, then stopped
        store = redis.client()
        stream = gone.key("wh", "stream")
        assert [c["name"] for c in store.xinfo_consumers(stream, "deliveries")] == [
            gone.replica.encode()
        ]
        second = StoreOutbox(staying, forget_after_seconds=0, clock=clock)
        clock.advance(60)
        await second.due(2100.0, 10, set())
        left = [c["name"] for c in store.xinfo_consumers(stream, "deliveries")]
    assert gone.replica.encode() not in left
