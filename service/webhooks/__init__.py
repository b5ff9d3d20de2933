"""Webhooks: what the file names followed, each change queued durably, and delivered —
signed, in order per deployment, retried until it is, or kept as a dead letter."""

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress

from service.live.follow import Follows
from service.metrics import Metrics
from service.reads import Resolvers
from service.webhooks.config import Webhook, Webhooks
from service.webhooks.delivery import POLL_SECONDS, Deliveries, Sender
from service.webhooks.follower import Follower
from service.webhooks.outbox import DeadLetter, Outbox, SqliteOutbox

__all__ = [
    "DeadLetter",
    "Outbox",
    "SqliteOutbox",
    "Webhook",
    "Webhooking",
    "Webhooks",
]


class Webhooking:
    """The process's webhooks at work: the follower queueing, the deliveries sending;
    what an operator asks of them (dead letters, resending, enabling)."""

    def __init__(
        self,
        webhooks: Webhooks,
        outbox: Outbox,
        resolvers: Resolvers,
        follows: Follows,
        metrics: Metrics,
        *,
        interval: float,
        retry_base_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.webhooks = webhooks
        self.outbox = outbox
        self._clock = clock
        self._sender = Sender(clock)
        self.deliveries = Deliveries(
            webhooks,
            outbox,
            self._sender,
            metrics,
            retry_base_seconds=retry_base_seconds,
            clock=clock,
            # A retry is looked for no later than it is due (tests shorten the base).
            poll_seconds=min(POLL_SECONDS, retry_base_seconds),
        )
        self.follower = Follower(
            webhooks,
            resolvers,
            follows,
            outbox,
            metrics,
            interval=interval,
            wake=self.deliveries.wake.set,
            clock=clock,
        )
        self._loop: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        self.follower.start()
        self._loop = asyncio.create_task(self.deliveries.run(), name="webhook deliveries")

    async def resend(self, ref: str) -> bool:
        resent = await self.outbox.resend(ref, self._clock())
        if resent:
            self.deliveries.wake.set()
        return resent

    async def enable(self, name: str) -> bool:
        enabled = await self.outbox.enable(name)
        if enabled:
            self.deliveries.wake.set()
        return enabled

    async def close(self) -> None:
        """Following stops first, then sending; what is not delivered stays queued."""
        if self._closed:
            return
        self._closed = True
        await self.follower.close()
        if self._loop is not None:
            self._loop.cancel()
            with suppress(asyncio.CancelledError):
                await self._loop
        await self.deliveries.close()
        await self._sender.close()
