"""A fleet's webhook deliveries, waiting in the store: each queued once, each delivered by
one replica, in order per webhook and deployment, and none lost to a replica's death.

One list per queue (a webhook and a deployment) holds its messages; a queue with any is
an entry of one stream, read by the replicas as one consumer group. The replica holding
an entry delivers its queue's head until the queue is empty, then acknowledges it — so a
queue is worked by one replica at a time, in order. It keeps touching what it holds
(every ``TOUCH_SECONDS``) and, before working a queue, checks it still holds it; an entry
left untouched for ``CLAIM_IDLE_SECONDS`` (a replica killed, or cut off that long) is
claimed by another (``XAUTOCLAIM``), which goes on from the head: at least once. Every
change to a head names the message it is about, so a replica that lost its queue can
settle nothing of someone else's. A message's id is remembered for a week (``SET NX``),
so the same change queued by every replica's feed is queued once.
"""

import time
from collections.abc import Callable
from typing import Any

import orjson

from service.fleet.store import Store
from service.webhooks.messages import Message
from service.webhooks.outbox import (
    DELIVERED_KEPT_SECONDS,
    MAX_DEAD_LETTERS,
    MAX_ERROR,
    DeadLetter,
    Pending,
)

GROUP = "deliveries"
CLAIM_IDLE_SECONDS = 60.0
TOUCH_SECONDS = 15.0
MAX_QUEUES_READ = 100
FORGET_AFTER_SECONDS = 86_400.0

# A queue's entry is its message's id, a newline, then the message: the scripts compare
# the id, so nothing settles a head it was not about.
_HEAD_IS = """
local function head_is(queue, id)
  local head = redis.call('LINDEX', queue, 0)
  return head and string.sub(head, 1, #id + 1) == id .. '\\n'
end
"""
# KEYS: the id's mark, the queue, the stream, the disabled hash, the waiting counts.
# ARGV: the mark's TTL, the entry, the queue's name, the webhook. 1: queued; 0: seen
# before, or the webhook disabled.
_PUT = """
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
if redis.call('RPUSH', KEYS[2], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[3], '*', 'q', ARGV[3])
end
return 1
"""
# KEYS: the queue, the stream, the tries, the waiting counts, the dead letters, their
# order, the dead counts. ARGV: the group, the stream entry, the queue's name, the head's
# id, the webhook, and for a dead letter: its ref, the letter, when it died, the most
# kept. The head settled (delivered, or buried); -1 when it is not that message any more.
_SETTLE = (
    _HEAD_IS
    + """
if not head_is(KEYS[1], ARGV[4]) then return -1 end
redis.call('LPOP', KEYS[1])
redis.call('HDEL', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], ARGV[5], -1)
if ARGV[6] then
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
  redis.call('ZADD', KEYS[6], ARGV[8], ARGV[6])
  redis.call('HINCRBY', KEYS[7], ARGV[5], 1)
  while redis.call('ZCARD', KEYS[6]) > tonumber(ARGV[9]) do
    local oldest = redis.call('ZPOPMIN', KEYS[6])[1]
    redis.call('HDEL', KEYS[5], oldest)
    redis.call('HINCRBY', KEYS[7], string.match(oldest, '^[^:]*'), -1)
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return 0
end
return 1
"""
)
# KEYS: the queue, the tries. ARGV: the head's id, the queue's name, the tries.
_RETRY = (
    _HEAD_IS
    + """
if not head_is(KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
)
# KEYS: the queue, the stream, the dead letters, their order, the waiting and dead
# counts. ARGV: the entry, the queue's name, the ref, the webhook. A dead letter queued
# again, behind what waits.
_RESEND = """
if redis.call('HDEL', KEYS[3], ARGV[3]) == 0 then return 0 end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('HINCRBY', KEYS[6], ARGV[4], -1)
redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
if redis.call('RPUSH', KEYS[1], ARGV[1]) == 1 then
  redis.call('XADD', KEYS[2], '*', 'q', ARGV[2])
end
return 1
"""


class StoreOutbox:
    def __init__(
        self,
        store: Store,
        *,
        claim_idle_seconds: float = CLAIM_IDLE_SECONDS,
        forget_after_seconds: float = FORGET_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        key = store.key
        self._stream, self._tries = key("wh", "stream"), key("wh", "tries")
        self._dead, self._dead_order = key("wh", "dead"), key("wh", "dead-order")
        self._waiting, self._dead_count = key("wh", "waiting"), key("wh", "dead-count")
        self._disabled = key("wh", "disabled")
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._forget_after_ms = int(forget_after_seconds * 1000)
        self._clock = clock
        self._held: dict[str, str] = {}
        """Queues this replica works: name → its stream entry."""
        self._next_at: dict[str, float] = {}
        """When each held queue's head may next be tried, as last read."""
        self._touched = clock()
        """When this replica last touched what it holds and looked for idle queues."""
        self._claim_from = "0-0"
        self._grouped = False

    def _queue(self, name: str) -> str:
        return self._store.key("wh", "q", name)

    async def put(self, message: Message) -> bool:
        name = _name(message.webhook, message.key)
        seen = self._store.key("wh", "seen", message.webhook, message.id)
        keys = [seen, self._queue(name), self._stream, self._disabled, self._waiting]

        async def put(redis: Any) -> int:
            args = [DELIVERED_KEPT_SECONDS, _encode(message), name, message.webhook]
            return int(await redis.eval(_PUT, len(keys), *keys, *args))

        return bool(await self._store.run(put))

    async def due(self, now: float, limit: int, busy: set[str]) -> list[Pending]:
        await self._take()
        # The soonest due first: queues waiting an hour for a retry take no turn.
        names = sorted(
            (name for name in self._held if name not in busy and self._next_at.get(name, 0) <= now),
            key=lambda name: self._next_at.get(name, 0),
        )[:MAX_QUEUES_READ]  # fmt: skip
        if not names:
            return []

        async def heads(redis: Any) -> tuple[list[Any], dict[bytes, bytes]]:
            async with redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.lindex(self._queue(name), 0)
                    pipe.hget(self._tries, name)
                pipe.hgetall(self._disabled)
                answers = await pipe.execute()
            return answers[:-1], answers[-1]

        answers, disabled = await self._store.run(heads)
        found: list[Pending] = []
        emptied: list[str] = []
        for index, name in enumerate(names):
            head, tries = answers[2 * index], answers[2 * index + 1]
            if head is None:  # settled by the replica that held it before: nothing left
                emptied.append(name)
                continue
            message = _decode(name, head)
            attempts, next_at = _tries(tries, message.id)
            self._next_at[name] = next_at
            if next_at > now or message.webhook.encode() in disabled or len(found) >= limit:
                continue
            found.append(Pending(message, attempts, name))
        if emptied:
            await self._acknowledge(emptied)
        return found

    async def _take(self) -> None:
        """New queues from the stream; every ``TOUCH_SECONDS``, what this replica still
        holds touched (what another claimed dropped), and queues idle past the claim time
        (a dead replica's) claimed."""

        async def take(redis: Any) -> tuple[list[tuple[Any, Any]], set[str] | None]:
            if not self._grouped:
                try:
                    await redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
                except Exception as exc:  # BUSYGROUP: another replica made it
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._grouped = True
            me = self._store.replica
            read = await redis.xreadgroup(GROUP, me, {self._stream: ">"}, count=MAX_QUEUES_READ)
            taken = [entry for _, entries in read or () for entry in entries]
            now = self._clock()
            if now - self._touched < TOUCH_SECONDS:
                return taken, None
            self._touched = now
            pending = await redis.xpending_range(
                self._stream, GROUP, min="-", max="+", count=len(self._held) + 1, consumername=me
            )
            owned = {_text(entry["message_id"]) for entry in pending}
            if owned:
                await redis.xclaim(self._stream, GROUP, me, 0, list(owned), justid=True)
            claimed = await redis.xautoclaim(
                self._stream, GROUP, me, self._claim_idle_ms,
                start_id=self._claim_from, count=MAX_QUEUES_READ,
            )  # fmt: skip
            self._claim_from = _text(claimed[0])  # "0-0" once the whole group was seen
            taken += [(entry_id, fields) for entry_id, fields in claimed[1] if fields]
            # Each process is a consumer of its own name: those gone a day, holding
            # nothing (what they held was claimed), are forgotten.
            for consumer in await redis.xinfo_consumers(self._stream, GROUP):
                name, idle = _text(consumer["name"]), consumer["idle"]
                if name != me and not consumer["pending"] and idle >= self._forget_after_ms:
                    await redis.xgroup_delconsumer(self._stream, GROUP, name)
            return taken, owned

        taken, owned = await self._store.run(take)
        if owned is not None:  # what another replica claimed meanwhile is its own now
            for name, entry_id in list(self._held.items()):
                if entry_id not in owned:
                    self._forget(name)
        for entry_id, fields in taken:
            self._held[_text(fields[b"q"])] = _text(entry_id)

    def _forget(self, name: str) -> None:
        self._held.pop(name, None)
        self._next_at.pop(name, None)

    async def _acknowledge(self, names: list[str]) -> None:
        async def acknowledge(redis: Any) -> None:
            ids = [self._held[name] for name in names]
            await redis.xack(self._stream, GROUP, *ids)
            await redis.xdel(self._stream, *ids)

        await self._store.run(acknowledge)
        for name in names:
            self._forget(name)

    async def _settle(self, pending: Pending, *dead: object) -> None:
        name, message = pending.ref, pending.message
        keys = [self._queue(name), self._stream, self._tries, self._waiting, self._dead,
                self._dead_order, self._dead_count]  # fmt: skip
        args = [GROUP, self._held.get(name, "0-0"), name, message.id, message.webhook, *dead]

        async def settle(redis: Any) -> int:
            return int(await redis.eval(_SETTLE, len(keys), *keys, *args))

        left = await self._store.run(settle)
        self._next_at.pop(name, None)
        if left == 0:  # empty, acknowledged (-1: settled by another; what is left, ours)
            self._forget(name)

    async def delivered(self, pending: Pending, now: float) -> None:
        await self._settle(pending)

    async def retry(self, pending: Pending, error: str, at: float) -> None:
        message = pending.message
        tries = f"{message.id}|{pending.attempts + 1}|{at!r}|{error[:MAX_ERROR]}"
        keys = [self._queue(pending.ref), self._tries]

        async def retry(redis: Any) -> None:
            await redis.eval(_RETRY, len(keys), *keys, message.id, pending.ref, tries)

        await self._store.run(retry)
        self._next_at[pending.ref] = at

    async def dead(self, pending: Pending, error: str, now: float) -> None:
        message = pending.message
        letter = orjson.dumps(
            {
                "webhook": message.webhook,
                "id": message.id,
                "key": message.key,
                "body": message.body.decode(),
                "attempts": pending.attempts + 1,
                "lastError": error[:MAX_ERROR],
                "created": message.created,
                "died": now,
            }
        )
        ref = f"{message.webhook}:{message.id}"
        await self._settle(pending, ref, letter, repr(now), MAX_DEAD_LETTERS)

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        async def read(redis: Any) -> list[bytes | None]:
            refs = await redis.zrange(self._dead_order, 0, limit - 1)
            return await redis.hmget(self._dead, refs) if refs else []

        letters = []
        for raw in await self._store.run(read):
            if raw is None:
                continue
            letter = orjson.loads(raw)
            letters.append(
                DeadLetter(
                    f"{letter['webhook']}:{letter['id']}",
                    letter["webhook"],
                    letter["id"],
                    letter["key"],
                    letter["attempts"],
                    letter["lastError"],
                    letter["created"],
                    letter["died"],
                )
            )
        return letters

    async def resend(self, ref: str, now: float) -> bool:
        async def resend(redis: Any) -> int:
            raw = await redis.hget(self._dead, ref)
            if raw is None:
                return 0
            letter = orjson.loads(raw)
            message = Message(letter["webhook"], letter["key"], letter["id"],
                              letter["body"].encode(), letter["created"])  # fmt: skip
            name = _name(message.webhook, message.key)
            keys = [self._queue(name), self._stream, self._dead, self._dead_order,
                    self._waiting, self._dead_count]  # fmt: skip
            args = [_encode(message), name, ref, message.webhook]
            return int(await redis.eval(_RESEND, len(keys), *keys, *args))

        return bool(await self._store.run(resend))

    async def disable(self, webhook: str, reason: str) -> None:
        async def disable(redis: Any) -> None:
            await redis.hset(self._disabled, webhook, reason[:MAX_ERROR])

        await self._store.run(disable)

    async def enable(self, webhook: str) -> bool:
        async def enable(redis: Any) -> int:
            return int(await redis.hdel(self._disabled, webhook))

        return bool(await self._store.run(enable))

    async def disabled(self) -> dict[str, str]:
        async def read(redis: Any) -> dict[bytes, bytes]:
            found: dict[bytes, bytes] = await redis.hgetall(self._disabled)
            return found

        found = await self._store.run(read)
        return {_text(name): _text(reason) for name, reason in found.items()}

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Waiting messages and dead letters by webhook: two counters each, kept by the
        scripts that change them."""

        async def read(redis: Any) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
            return await redis.hgetall(self._waiting), await redis.hgetall(self._dead_count)

        waiting, dead = await self._store.run(read)
        names = {_text(name) for name in (*waiting, *dead)}
        counts = {
            name: (int(waiting.get(name.encode(), 0)), int(dead.get(name.encode(), 0)))
            for name in names
        }
        return {name: count for name, count in counts.items() if count != (0, 0)}

    async def close(self) -> None:
        """What this replica held stays pending: another claims it once it is idle."""


def _name(webhook: str, key: str) -> str:
    return f"{webhook}\x1f{key}"


def _encode(message: Message) -> bytes:
    fields = {"key": message.key, "body": message.body.decode(), "created": message.created}
    return message.id.encode() + b"\n" + orjson.dumps(fields)


def _decode(name: str, raw: bytes) -> Message:
    msg_id, _, encoded = raw.partition(b"\n")
    fields = orjson.loads(encoded)
    webhook = name.split("\x1f", 1)[0]
    return Message(webhook, fields["key"], msg_id.decode(), fields["body"].encode(),
                   fields["created"])  # fmt: skip


def _tries(raw: bytes | None, head: str) -> tuple[int, float]:
    """(attempts so far, when the next may be made) of the head ``head``; nothing for a
    record of an earlier head."""
    if raw is None:
        return 0, 0.0
    msg_id, attempts, next_at, _ = _text(raw).split("|", 3)
    return (int(attempts), float(next_at)) if msg_id == head else (0, 0.0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
