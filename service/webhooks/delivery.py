"""Calling receivers, safely, and retrying them until they answer.

A receiver is called only at a host the file allows, at addresses checked after DNS
resolution (the connection goes to the address checked, so a name cannot resolve once
for the check and again for the call): cloud metadata addresses never, private, loopback
and link-local ones only for a host ``privateHosts`` names. Redirects are not followed;
at most 64 KB of an answer is read; nothing of a secret is logged.
"""

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from service.metrics import Metrics
from service.version import __version__
from service.webhooks.addresses import literal_refusal, refusal
from service.webhooks.config import Webhook, Webhooks
from service.webhooks.messages import sign
from service.webhooks.outbox import Outbox, Pending

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 64 * 1024
MAX_TRIES = 8
MAX_DELAY_SECONDS = 3600.0
GROWTH = 4  # 5 s, 20 s, 80 s, 5 min, 21 min, then an hour: about a day and a half in all
JITTER = 0.2
CONCURRENCY = 16
POLL_SECONDS = 1.0


class Refused(Exception):
    """A receiver's address the gateway will not call."""


class CheckedResolver(AbstractResolver):
    """DNS as usual, then every address checked; the connection goes to those left."""

    def __init__(self, private_allowed: bool) -> None:
        self._resolver = DefaultResolver()
        self._private_allowed = private_allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        kept = [one for one in found if refusal(one["host"], self._private_allowed) is None]
        if not kept:
            reasons = {refusal(one["host"], self._private_allowed) for one in found}
            raise Refused(f"{host}: " + "; ".join(sorted(filter(None, reasons))))
        return kept

    async def close(self) -> None:
        await self._resolver.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    error: str | None
    """None when delivered (a 2xx)."""


class Sender:
    """One HTTP session per webhook (its own resolver's checks); calls one message."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, hook: Webhook) -> aiohttp.ClientSession:
        session = self._sessions.get(hook.name)
        if session is None:
            # As many connections as deliveries at once: none waits for one inside its 10 s.
            connector = aiohttp.TCPConnector(
                resolver=CheckedResolver(hook.private), limit=CONCURRENCY, use_dns_cache=False
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                # Never an environment's proxy: it would resolve names past the checks.
                trust_env=False,
            )
            self._sessions[hook.name] = session
        return session

    async def send(self, hook: Webhook, pending: Pending) -> Outcome:
        message = pending.message
        # An address in the URL itself is never resolved: checked here.
        if (reason := literal_refusal(hook.host, hook.private)) is not None:
            return Outcome(None, f"refused: {reason}")
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"codedeploy-gateway/{__version__}",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(hook.secret, message.id, timestamp, message.body),
        }
        try:
            async with self._session(hook).post(
                hook.url, data=message.body, headers=headers, allow_redirects=False
            ) as answer:
                head = await answer.content.read(MAX_ANSWER_BYTES)
                status = answer.status
        except Refused as exc:
            return Outcome(None, f"refused: {exc}")
        except TimeoutError:
            return Outcome(None, f"no answer within {TIMEOUT_SECONDS:g} s")
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            return Outcome(None, f"refused: {cause}" if isinstance(cause, Refused) else
                           f"cannot connect: {exc.strerror or exc}")  # fmt: skip
        except aiohttp.ClientResponseError as exc:  # its text names the URL: a secret
            return Outcome(None, f"{type(exc).__name__}: {exc.status} {exc.message}")
        except aiohttp.ClientError as exc:
            return Outcome(None, f"{type(exc).__name__}")
        if 200 <= status < 300:
            return Outcome(status, None)
        snippet = head[:200].decode("utf-8", "replace").strip()
        if 300 <= status < 400:
            return Outcome(status, f"{status}: redirects are not followed")
        return Outcome(status, f"{status}: {snippet}" if snippet else str(status))

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()


def delay(attempt: int, base: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds before try ``attempt + 1``, after ``attempt`` failed: ``base``, growing
    fourfold to an hour, each ±20 % so receivers that failed together are not retried
    together."""
    planned: float = min(MAX_DELAY_SECONDS, base * GROWTH ** (attempt - 1))
    return planned * (1 - JITTER + 2 * JITTER * draw())


class Deliveries:
    """The process's delivery loop: each due queue head sent, at most ``CONCURRENCY`` at
    once, and settled — delivered, retried later, dead, or (410) its webhook disabled."""

    def __init__(
        self,
        webhooks: Webhooks,
        outbox: Outbox,
        sender: Sender,
        metrics: Metrics,
        *,
        retry_base_seconds: float,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._webhooks = webhooks
        self._outbox = outbox
        self._sender = sender
        self._metrics = metrics
        self._base = retry_base_seconds
        self._clock = clock
        self._poll = poll_seconds
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unreadable = False
        self.wake = asyncio.Event()
        """Set when a message is queued: look now, not at the next poll."""

    async def run(self) -> None:
        while True:
            self.wake.clear()
            free = CONCURRENCY - len(self._busy)
            if free > 0:
                try:
                    due = await self._outbox.due(self._clock(), free, set(self._busy))
                except Exception as exc:  # the store away: the next poll tries again
                    if not self._unreadable:
                        logger.warning("webhooks: the outbox cannot be read: %r", exc)
                    self._unreadable, due = True, []
                else:
                    if self._unreadable:
                        logger.info("webhooks: the outbox can be read again")
                    self._unreadable = False
                for pending in due:
                    key = _busy_key(pending)
                    self._busy.add(key)
                    task = asyncio.create_task(self._deliver(pending, key))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            with suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self.wake.wait()

    async def _deliver(self, pending: Pending, key: str) -> None:
        try:
            hook = self._webhooks.hooks.get(pending.message.webhook)
            now = self._clock()
            if hook is None:  # no longer in the file: kept as a dead letter, not lost
                await self._outbox.dead(pending, "the webhook is no longer configured", now)
                return
            outcome = await self._sender.send(hook, pending)
            now = self._clock()
            attempt = pending.attempts + 1
            if outcome.error is None:
                await self._outbox.delivered(pending, now)
                self._metrics.webhook_delivered(hook.name, "delivered")
            elif outcome.status == 410:
                await self._outbox.dead(pending, outcome.error, now)
                await self._outbox.disable(hook.name, "410 Gone")
                self._metrics.webhook_delivered(hook.name, "gone")
                logger.error("webhook %s answered 410 Gone: disabled", hook.name)
            elif attempt >= MAX_TRIES:
                await self._outbox.dead(pending, outcome.error, now)
                self._metrics.webhook_delivered(hook.name, "dead")
                logger.error(
                    "webhook %s: %s given up after %d tries: %s",
                    hook.name, pending.message.id, attempt, outcome.error,
                )  # fmt: skip
            else:
                await self._outbox.retry(pending, outcome.error, now + delay(attempt, self._base))
                self._metrics.webhook_delivered(hook.name, "retry")
                logger.warning(
                    "webhook %s: %s try %d failed: %s",
                    hook.name, pending.message.id, attempt, outcome.error,
                )  # fmt: skip
        except Exception:  # the outbox failed: the message stays queued, tried again
            logger.warning("webhooks: a delivery could not be settled", exc_info=True)
        finally:
            self._busy.discard(key)
            self.wake.set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _busy_key(pending: Pending) -> str:
    return f"{pending.message.webhook}\x1f{pending.message.key}"
