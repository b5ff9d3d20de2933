"""The follower's hold while the outbox is away: a deployment's messages reach it in the
order they were made, the newest behind the held ones."""

import asyncio

from service.metrics import Metrics
from service.webhooks.config import Webhooks
from service.webhooks.follower import Follower
from service.webhooks.messages import Message
from tests.support import until


class AwayThenBack:
    """An outbox that refuses while ``away``, and remembers what it took, in order."""

    def __init__(self) -> None:
        self.away = True
        self.queued: list[str] = []
        self.offered = 0

    async def put(self, message: Message) -> bool:
        self.offered += 1
        if self.away:
            raise ConnectionError("the store is away")
        self.queued.append(message.id)
        return True


def made(number: int) -> Message:
    return Message("tracker", "prod/us-east-1/d-1", f"msg_{number}", b"{}", float(number))


async def test_held_messages_go_out_first_and_in_order() -> None:
    outbox = AwayThenBack()
    follower = Follower(Webhooks({}, None), None, None, outbox, Metrics(),  # type: ignore[arg-type]
                        interval=0.01, wake=lambda: None)  # fmt: skip
    for number in (1, 2, 3):  # InProgress, an instance failed, Failed: the store away
        await follower._put(made(number))
    assert outbox.offered == 1  # the rest wait behind the first, not offered past it
    retrying = asyncio.create_task(follower._retry_unsent())
    try:
        await until(lambda: outbox.offered >= 3)  # offered again, still away: held in order
        outbox.away = False
        await follower._put(made(4))  # a change before the next retry: behind the held
        await until(lambda: len(outbox.queued) == 4)
    finally:
        retrying.cancel()
    assert outbox.queued == ["msg_1", "msg_2", "msg_3", "msg_4"]
