"""A fleet's webhook deliveries, waiting in the store: each queued once, each delivered by
one replica, in order per webhook and deployment, and none lost to a replica's death.

One list per queue (a webhook and a deployment) holds its messages; a queue with any is
an entry of one stream, read by the replicas as one consumer group. The replica holding
an entry delivers its queue's head until the queue is empty, then acknowledges it — so a
queue is worked by one replica at a time, in order. It keeps touching what it holds
(every ``TOUCH_SECONDS``); an entry left untouched for ``CLAIM_IDLE_SECONDS`` (a replica
killed) is claimed by another (``XAUTOCLAIM``), which goes on from the head: at least
once. A message's id is remembered for a week (``SET NX``), so the same change queued by
every replica's feed is queued once.
"""

import time
from typing import Any

import orjson

from service.fleet.store import Store
from service.webhooks.messages import Message
from service.webhooks.outbox import DELIVERED_KEPT_SECONDS, MAX_ERROR, DeadLetter, Pending

GROUP = "deliveries"
CLAIM_IDLE_SECONDS = 60.0
TOUCH_SECONDS = 15.0
MAX_QUEUES_READ = 100
MAX_COUNTED_QUEUES = 10_000

# KEYS: the id's mark, the queue, the stream, the disabled hash. ARGV: the mark's TTL,
# the message, the queue's name, the webhook. 1: queued; 0: seen before, or disabled.
_PUT = """
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
if redis.call('RPUSH', KEYS[2], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[3], '*', 'q', ARGV[3])
end
return 1
"""
# KEYS: the queue, the stream, the tries hash. ARGV: the group, the stream entry, the
# queue's name. The head settled; the entry acknowledged once the queue is empty.
_SETTLE = """
redis.call('LPOP', KEYS[1])
redis.call('HDEL', KEYS[3], ARGV[3])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return 0
end
return 1
"""
# KEYS: the queue, the stream, the dead letters. ARGV: the message, the queue's name, the
# dead letter's ref. A dead letter queued again, behind what waits.
_RESEND = """
if redis.call('HDEL', KEYS[3], ARGV[3]) == 0 then return 0 end
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
        clock: Any = time.monotonic,
    ) -> None:
        self._store = store
        self._stream = store.key("wh", "stream")
        self._tries = store.key("wh", "tries")
        self._dead = store.key("wh", "dead")
        self._disabled = store.key("wh", "disabled")
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._clock = clock
        self._held: dict[str, str] = {}
        """Queues this replica works: name → its stream entry."""
        self._touched = clock()
        """When this replica last touched what it holds and looked for idle queues."""
        self._grouped = False

    def _queue(self, name: str) -> str:
        return self._store.key("wh", "q", name)

    async def put(self, message: Message) -> bool:
        name = _name(message.webhook, message.key)
        seen = self._store.key("wh", "seen", message.webhook, message.id)

        async def put(redis: Any) -> int:
            return int(
                await redis.eval(
                    _PUT,
                    4,
                    seen,
                    self._queue(name),
                    self._stream,
                    self._disabled,
                    DELIVERED_KEPT_SECONDS,
                    _encode(message),
                    name,
                    message.webhook,
                )
            )

        return bool(await self._store.run(put))

    async def due(self, now: float, limit: int, busy: set[str]) -> list[Pending]:
        await self._take_new()
        if not self._held:
            return []
        names = [name for name in self._held if name not in busy][:MAX_QUEUES_READ]

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
            attempts, next_at = _tries(tries)
            webhook = name.split("\x1f", 1)[0]
            if next_at > now or webhook.encode() in disabled:
                continue
            found.append(Pending(_decode(webhook, head), attempts, name))
            if len(found) >= limit:
                break
        if emptied:
            await self._acknowledge(emptied)
        return found

    async def _take_new(self) -> None:
        """New queues from the stream; queues a dead replica held, once idle long
        enough; and what this one holds touched, so nobody else takes it."""

        async def take(redis: Any) -> list[tuple[str, str]]:
            if not self._grouped:
                try:
                    await redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
                except Exception as exc:  # BUSYGROUP: another replica made it
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._grouped = True
            taken: list[tuple[str, str]] = []
            read = await redis.xreadgroup(
                GROUP, self._store.replica, {self._stream: ">"}, count=MAX_QUEUES_READ
            )
            for _, entries in read or ():
                taken += [(entry_id, fields) for entry_id, fields in entries]
            now = self._clock()
            if now - self._touched >= TOUCH_SECONDS:
                self._touched = now
                claimed = await redis.xautoclaim(
                    self._stream, GROUP, self._store.replica, self._claim_idle_ms,
                    start_id="0-0", count=MAX_QUEUES_READ,
                )  # fmt: skip
                taken += [(entry_id, fields) for entry_id, fields in claimed[1] if fields]
                if self._held:
                    await redis.xclaim(
                        self._stream, GROUP, self._store.replica, 0,
                        list(self._held.values()), justid=True,
                    )  # fmt: skip
            return [(_text(entry_id), _text(fields[b"q"])) for entry_id, fields in taken]  # type: ignore[index]

        for entry_id, name in await self._store.run(take):
            self._held[name] = entry_id

    async def _acknowledge(self, names: list[str]) -> None:
        async def acknowledge(redis: Any) -> None:
            ids = [self._held[name] for name in names]
            await redis.xack(self._stream, GROUP, *ids)
            await redis.xdel(self._stream, *ids)

        await self._store.run(acknowledge)
        for name in names:
            self._held.pop(name, None)

    async def _settle(self, pending: Pending) -> None:
        name = pending.ref
        entry = self._held.get(name, "0-0")

        async def settle(redis: Any) -> int:
            return int(
                await redis.eval(
                    _SETTLE, 3, self._queue(name), self._stream, self._tries, GROUP, entry, name
                )
            )

        if not await self._store.run(settle):
            self._held.pop(name, None)

    async def delivered(self, pending: Pending, now: float) -> None:
        await self._settle(pending)

    async def retry(self, pending: Pending, error: str, at: float) -> None:
        tries = f"{pending.attempts + 1}|{at!r}|{error[:MAX_ERROR]}"

        async def retry(redis: Any) -> None:
            await redis.hset(self._tries, pending.ref, tries)

        await self._store.run(retry)

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

        async def bury(redis: Any) -> None:
            await redis.hset(self._dead, f"{message.webhook}:{message.id}", letter)

        await self._store.run(bury)
        await self._settle(pending)

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        async def read(redis: Any) -> dict[bytes, bytes]:
            found: dict[bytes, bytes] = {}
            async for ref, letter in redis.hscan_iter(self._dead, count=limit):
                found[ref] = letter
                if len(found) >= limit:
                    break
            return found

        letters = []
        for ref, raw in (await self._store.run(read)).items():
            letter = orjson.loads(raw)
            letters.append(
                DeadLetter(
                    _text(ref),
                    letter["webhook"],
                    letter["id"],
                    letter["key"],
                    letter["attempts"],
                    letter["lastError"],
                    letter["created"],
                    letter["died"],
                )
            )
        return sorted(letters, key=lambda letter: letter.died)

    async def resend(self, ref: str, now: float) -> bool:
        async def resend(redis: Any) -> int:
            raw = await redis.hget(self._dead, ref)
            if raw is None:
                return 0
            letter = orjson.loads(raw)
            message = Message(letter["webhook"], letter["key"], letter["id"],
                              letter["body"].encode(), letter["created"])  # fmt: skip
            name = _name(message.webhook, message.key)
            return int(
                await redis.eval(
                    _RESEND,
                    3,
                    self._queue(name),
                    self._stream,
                    self._dead,
                    _encode(message),
                    name,
                    ref,
                )
            )

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

        return {
            _text(name): _text(reason) for name, reason in (await self._store.run(read)).items()
        }

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Waiting messages by webhook (its queues, up to ``MAX_COUNTED_QUEUES`` of them)
        and dead letters."""

        async def count(redis: Any) -> dict[str, tuple[int, int]]:
            counts: dict[str, list[int]] = {}
            prefix = self._queue("")
            seen = 0
            async for key in redis.scan_iter(match=prefix + "*", count=500):
                webhook = _text(key)[len(prefix) :].split("\x1f", 1)[0]
                counts.setdefault(webhook, [0, 0])[0] += int(await redis.llen(key))
                seen += 1
                if seen >= MAX_COUNTED_QUEUES:
                    break
            for ref in await redis.hkeys(self._dead):
                webhook = _text(ref).split(":", 1)[0]
                counts.setdefault(webhook, [0, 0])[1] += 1
            return {webhook: (waiting, dead) for webhook, (waiting, dead) in counts.items()}

        result: dict[str, tuple[int, int]] = await self._store.run(count)
        return result

    async def close(self) -> None:
        """What this replica held stays pending: another claims it once it is idle."""


def _name(webhook: str, key: str) -> str:
    return f"{webhook}\x1f{key}"


def _encode(message: Message) -> bytes:
    return orjson.dumps(
        {"id": message.id, "key": message.key, "body": message.body.decode(),
         "created": message.created}
    )  # fmt: skip


def _decode(webhook: str, raw: bytes) -> Message:
    fields = orjson.loads(raw)
    return Message(webhook, fields["key"], fields["id"], fields["body"].encode(), fields["created"])


def _tries(raw: bytes | None) -> tuple[int, float]:
    """(attempts so far, when the next may be made) of a queue's head."""
    if raw is None:
        return 0, 0.0
    attempts, next_at, _ = _text(raw).split("|", 2)
    return int(attempts), float(next_at)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
