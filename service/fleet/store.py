"""The store a fleet shares (Redis, Valkey, ElastiCache): the only module that knows redis.

Every call is bounded by ``GATEWAY_REDIS_TIMEOUT_SECONDS``. A call that fails or runs
out marks the store down: from then on calls raise ``StoreDown`` at once, without
waiting, and every caller works alone, until a probe in the background finds the store
answering again. So a dead store costs one request the timeout, and the rest nothing.

Replicas tell each other things on one pub/sub channel; a message is JSON with its
kind (``k``) and its sender (``r``), handed to the handler registered for that kind on
every replica but its sender.
"""

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from service.metrics import Metrics
from service.settings import ConfigurationError, Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

FORMAT = "3"
"""What the gateway stores and how: bumped when that changes, so replicas of releases
that store differently share a store without reading each other's keys."""
PREFIX = f"cdgw:{FORMAT}:"
CHANNEL = PREFIX + "events"
# Every message's own fields: its kind, and the replica that sent it.
_ENVELOPE = frozenset({"k", "by"})
# How often a store marked down is asked whether it answers again.
PROBE_SECONDS = 1.0
# Calls in a row that fail before a replica works alone: one alone may be a busy event
# loop's lag (seen in `make bench` with three replicas on two cores), or a connection the
# store closed when it restarted. A dead store refuses at once, so this costs little.
FAILURES_IN_A_ROW = 3
HEALTH_CHECK_SECONDS = 10

Handler = Callable[[dict[str, Any]], None]

# Scripts are sent whole (EVAL; the store keeps each compiled by its digest): a script a
# pipeline must first check with SCRIPT EXISTS takes a connection where a cancelled call
# could leave it out of the pool for good.
# Deletes the leases among KEYS that ARGV[1] (a replica) holds: one whose lease ran out
# and was taken by another replica leaves that one's alone.
RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
"""


# Values carry the first 16 bytes of an HMAC-SHA256 keyed by GATEWAY_CURSOR_SECRET (the
# secret every replica of a fleet shares already); without it, by this constant, which
# tells the gateway's values from junk but cannot stop a writer who knows it.
MAC_BYTES = 16
UNSEALED = b"codedeploy-gateway store values"


class StoreDown(Exception):
    """The store did not answer in time, or is known down: work alone."""


class Store:
    """One client (a bounded, blocking pool) per process, and its pub/sub listener."""

    def __init__(
        self,
        url: str,
        *,
        password: str | None,
        timeout: float,
        max_connections: int,
        metrics: Metrics,
        seal_key: bytes = UNSEALED,
        probe_seconds: float = PROBE_SECONDS,
    ) -> None:
        # One connection stays with the listener; the rest serve requests, which wait
        # for a free one at most the timeout, like any other store call.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A pooled connection idle this long is pinged before use: after the store
            # restarted, a stale one is replaced rather than taken for the store failing.
            health_check_interval=HEALTH_CHECK_SECONDS,
            **({"password": password} if password is not None else {}),
        )
        self.redis = Redis(connection_pool=pool)
        kwargs = pool.connection_kwargs
        self.address = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        """Host and port, for logs: never the URL, which may carry a password."""
        self._seal_key = seal_key
        self.replica = secrets.token_hex(8)
        """Names this process in leases and messages."""
        self.timeout = timeout
        self.up = True
        self._metrics = metrics
        self._probe_seconds = probe_seconds
        self._handlers: dict[str, Handler] = {}
        self._failures = 0
        self._back = asyncio.Event()
        self._back.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        metrics.store_up.set(1)

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> "Store | None":
        """The store ``GATEWAY_REDIS_URL`` names, or None: this process works alone.

        Raises ``ConfigurationError`` when the password file cannot be read."""
        if settings.redis_url is None:
            return None
        password = None
        if settings.redis_password_file is not None:
            try:
                password = settings.redis_password_file.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(
                    f"GATEWAY_REDIS_PASSWORD_FILE cannot be read: {_reason(exc)}"
                ) from exc
        return cls(
            str(settings.redis_url),
            password=password,
            timeout=settings.redis_timeout_seconds,
            max_connections=settings.redis_max_connections,
            metrics=metrics,
            seal_key=(
                settings.cursor_secret.get_secret_value().encode()
                if settings.cursor_secret is not None
                else UNSEALED
            ),
        )

    async def __aenter__(self) -> Self:
        self._tasks.append(asyncio.create_task(self._listen(), name="store listener"))
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        # A listener cancelled inside redis-py's read (a shutdown just after start-up)
        # may miss its cancellation until its connection closes: waited for a bounded
        # time, then the pool's connections are closed under it.
        _, pending = await asyncio.wait(self._tasks, timeout=self.timeout)
        await self.redis.aclose()
        # A pool given to the client is not the client's to close.
        await self.redis.connection_pool.disconnect()
        if pending:
            await asyncio.wait(pending, timeout=self.timeout)

    def key(self, *parts: str) -> str:
        return PREFIX + ":".join(parts)

    def seal(self, name: str, data: bytes) -> bytes:
        """``data`` behind a MAC of it and the key ``name`` it is stored under."""
        return self._mac(name, data) + data

    def unseal(self, name: str, sealed: bytes) -> bytes | None:
        """What ``seal`` sealed for ``name``; None for a value it did not make."""
        data = sealed[MAC_BYTES:]
        if not hmac.compare_digest(sealed[:MAC_BYTES], self._mac(name, data)):
            return None
        return data

    def _mac(self, name: str, data: bytes) -> bytes:
        return hmac.digest(self._seal_key, name.encode() + b"\0" + data, "sha256")[:MAC_BYTES]

    def dropped(self, count: int) -> None:
        """Values the gateway did not write were found and deleted."""
        self._metrics.store_foreign_values.inc(count)

    async def run(self, command: Callable[[Redis], Awaitable[T]]) -> T:
        """``command`` on the store within the timeout; ``StoreDown`` when it cannot be."""
        if not self.up:
            raise StoreDown
        try:
            async with asyncio.timeout(self.timeout):
                answer = await command(self.redis)
        except ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                self.lost(exc)
            else:  # a key the gateway did not write: this call alone, not an outage
                self.dropped(1)
            raise StoreDown from exc
        except (RedisError, OSError, TimeoutError) as exc:
            self.lost(exc)
            raise StoreDown from exc
        self._failures = 0
        return answer

    def lost(self, exc: BaseException) -> None:
        """A call failed: after ``FAILURES_IN_A_ROW``, work alone, say so once, and look
        for the store in the background."""
        self._metrics.store_failures.inc()
        if not self.up:
            return
        self._failures += 1
        if self._failures < FAILURES_IN_A_ROW:
            return
        self.up = False
        self._back.clear()
        self._metrics.store_up.set(0)
        logger.warning(
            "shared store %s failed (%s): working alone until it answers",
            self.address,
            _reason(exc),
        )
        self._tasks.append(asyncio.create_task(self._probe(), name="store probe"))

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(self._probe_seconds)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.redis.ping()
            except (RedisError, OSError, TimeoutError):
                continue
            self.up = True
            self._failures = 0
            self._back.set()
            self._metrics.store_up.set(1)
            logger.warning("shared store %s answers again: sharing", self.address)
            self._tasks = [task for task in self._tasks if not task.done()]
            return

    def release_leases(self, client: Any, leases: list[str]) -> Any:
        """Lets go of the leases this replica holds among ``leases`` (on a pipeline too)."""
        return client.eval(RELEASE, len(leases), *leases, self.replica)

    def background(self, call: Coroutine[Any, Any, object]) -> None:
        """Runs a store call without anyone waiting for it (a lease let go, a message)."""

        async def run() -> None:
            with suppress(StoreDown):
                await call

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def release(self, leases: list[str]) -> None:
        await self.run(lambda redis: self.release_leases(redis, leases))

    # --- messages between replicas ----------------------------------------------------

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def message(self, kind: str, **payload: Any) -> bytes:
        """A message for the other replicas: its kind, its sender, what it says."""
        if _ENVELOPE & payload.keys():  # a payload field would overwrite the kind or sender
            raise ValueError(f"a message's payload may not use {sorted(_ENVELOPE)}")
        return orjson.dumps({"k": kind, "by": self.replica, **payload})

    async def publish(self, kind: str, **payload: Any) -> None:
        message = self.message(kind, **payload)
        await self.run(lambda redis: redis.publish(CHANNEL, message))

    async def _listen(self) -> None:
        """Hands every message to its handler, resubscribing whenever the store is back."""
        while True:
            await self._back.wait()
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                await self._dispatch(pubsub)
            except (RedisError, OSError) as exc:
                self.lost(exc)
            finally:
                with suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _dispatch(self, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            try:
                decoded = orjson.loads(message["data"])
                handler = self._handlers.get(decoded["k"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                logger.warning("shared store: a message that is not the gateway's was ignored")
                continue
            if handler is None or decoded.get("by") == self.replica:  # this replica's own
                continue
            try:
                handler(decoded)
            except (KeyError, TypeError, ValueError, AttributeError):  # not one we sent
                logger.warning("shared store: a malformed %r message was ignored", decoded["k"])


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
