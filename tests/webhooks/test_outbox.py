"""Both outboxes, the SQLite file and the fleet's store, keep the same promises: one queue
per webhook and deployment, in order, a retry holding back what follows it; dead letters
kept and sent again; a disabled webhook neither queued nor delivered; an id queued once."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.fleet.outbox import StoreOutbox
from service.fleet.store import Store
from service.metrics import Metrics
from service.webhooks import Outbox, SqliteOutbox
from service.webhooks.messages import Message
from tests.support import FakeClock, RedisServer


@pytest.fixture(params=["sqlite", "store"])
async def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outbox]:
    if request.param == "sqlite":
        made = await SqliteOutbox(tmp_path / "webhooks.db").open()
        try:
            yield made
        finally:
            await made.close()
        return
    redis: RedisServer = request.getfixturevalue("redis")
    async with Store(
        redis.url, password=None, timeout=2, max_connections=4, metrics=Metrics()
    ) as store:
        yield StoreOutbox(store, clock=FakeClock())


def message(number: int, key: str = "prod/us-east-1/d-1") -> Message:
    return Message("tracker", key, f"msg_{number}", b'{"n":%d}' % number, 1000.0 + number)


async def test_a_queue_goes_out_in_order_and_a_retry_holds_it_back(outbox: Outbox) -> None:
    for number in (1, 2, 3):
        assert await outbox.put(message(number))
    assert not await outbox.put(message(1))  # the same id again: queued once
    assert await outbox.put(message(9, key="prod/us-east-1/d-2"))  # another deployment
    heads = await outbox.due(2000.0, 10, set())
    assert sorted(head.message.id for head in heads) == ["msg_1", "msg_9"]
    head = next(head for head in heads if head.message.id == "msg_1")
    await outbox.retry(head, "500", at=2010.0)
    assert await outbox.due(2000.0, 10, {"tracker\x1fprod/us-east-1/d-2"}) == []
    (again,) = await outbox.due(2010.0, 10, {"tracker\x1fprod/us-east-1/d-2"})
    assert (again.message.id, again.attempts) == ("msg_1", 1)
    await outbox.delivered(again, 2010.0)
    (second,) = await outbox.due(2010.0, 1, {"tracker\x1fprod/us-east-1/d-2"})
    assert second.message.id == "msg_2"
    await outbox.dead(second, "given up", 2011.0)
    (third,) = await outbox.due(2011.0, 1, {"tracker\x1fprod/us-east-1/d-2"})
    assert third.message.id == "msg_3"
    await outbox.delivered(third, 2012.0)
    assert not await outbox.put(message(1))  # delivered ids are remembered
    (letter,) = await outbox.dead_letters(10)
    assert (letter.id, letter.attempts, letter.last_error) == ("msg_2", 1, "given up")
    assert await outbox.counts() == {"tracker": (1, 1)}  # msg_9 waits; msg_2 died
    assert await outbox.resend(letter.ref, 2200.0)
    assert not await outbox.resend(letter.ref, 2200.0)
    assert not await outbox.resend("no-such-ref", 2200.0)
    assert not await outbox.resend("9" * 40, 2200.0)
    (resent,) = await outbox.due(2200.0, 1, {"tracker\x1fprod/us-east-1/d-2"})
    assert (resent.message.body, resent.attempts) == (b'{"n":2}', 0)
    assert await outbox.dead_letters(10) == []


async def test_a_disabled_webhook_is_neither_queued_nor_delivered(outbox: Outbox) -> None:
    await outbox.put(message(1))
    await outbox.disable("tracker", "410 Gone")
    assert not await outbox.put(message(2))
    assert await outbox.due(2000.0, 10, set()) == []
    assert await outbox.disabled() == {"tracker": "410 Gone"}
    assert await outbox.counts() == {"tracker": (1, 0)}
    assert await outbox.enable("tracker")
    assert not await outbox.enable("tracker")
    (head,) = await outbox.due(2000.0, 10, set())
    assert head.message.id == "msg_1"
