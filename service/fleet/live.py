"""One watcher per deployment for the whole fleet.

The replica holding a deployment's lease reads CodeDeploy; it records every item's
latest change in the store (a hash, and the numbering's name and position beside it)
and sends each batch of changes on the channel. The other replicas' watchers follow:
they keep what the batches bring, and read the store's record whenever one does not
follow on from what they hold (a lost message, a late start). So every replica numbers
changes alike, and a viewer's ``Last-Event-ID`` means the same on any of them.

The lease is renewed at every read. A leader whose last viewer left lets it go; a
leader that died loses it when it runs out; either way a follower with viewers takes it
at its next turn and goes on from the store's record, in the same numbering.
"""

from collections.abc import Callable
from contextlib import suppress
from typing import Any

import orjson

from service.accounts import AccountRegion
from service.errors import GatewayError
from service.fleet.cache import decode_error, encode_error
from service.fleet.store import CHANNEL, Store, StoreDown
from service.live import Change, Watched, Watcher
from service.live.changes import KINDS, Kind
from service.snapshot import Snapshot

# What the store keeps of a deployment nobody reads any more (a finished one included):
# long enough for viewers to come back to it without a call.
STATE_SECONDS = 600

# KEYS: the lease, the record's hash and its meta; ARGV: this replica, the lease's and
# the record's lifetimes in ms. 0: another replica holds the lease; 1: renewed; 2: taken
# now; 3: renewed, but the record is gone (the store evicted it, or was emptied).
_LEAD = """
local kinds = {'string', 'hash', 'string'}
for i, key in ipairs(KEYS) do  -- a key of another type is not the gateway's: gone
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'none' and kind ~= kinds[i] then redis.call('DEL', key) end
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if redis.call('PEXPIRE', KEYS[2], ARGV[3]) == 0 or redis.call('PEXPIRE', KEYS[3], ARGV[3]) == 0
  then return 3 end
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
"""


class LiveFleet:
    """The watchers' ``Coordinator`` in a fleet: leases, the record, and the batches."""

    def __init__(self, store: Store, *, interval: float, upstream_timeout: float) -> None:
        self._store = store
        # Renewed every interval; a read that runs to its deadline must not lose it.
        self._lease_ms = int((2 * interval + upstream_timeout + 1) * 1000)
        self._watcher: Callable[[Watched], Watcher | None] = lambda _watched: None
        self._changed: Callable[[Watched, str | None], object] = lambda _watched, _item: None
        store.on("live", self._received)
        store.on("changed", self._told)

    def bind(
        self,
        watcher: Callable[[Watched], Watcher | None],
        changed: Callable[[Watched, str | None], object],
    ) -> None:
        """Where a batch for a deployment finds its watcher on this replica, and where a
        notification another replica had from the events queue goes."""
        self._watcher = watcher
        self._changed = changed

    def tell(self, watched: Watched, item_id: str | None) -> None:
        """Passes a notification from the events queue on to the other replicas."""
        self._store.background(self._store.publish("changed", **_named(watched), i=item_id))

    def _keys(self, watched: Watched) -> tuple[str, str, str]:
        where = (watched.where.account, watched.where.region, watched.deployment_id)
        return (
            self._store.key("w", *where, "lease"),
            self._store.key("w", *where, "items"),
            self._store.key("w", *where, "meta"),
        )

    async def lead(self, watcher: Watcher) -> bool:
        """Whether this replica reads ``watcher``'s deployment now: its lease renewed or
        taken (the store's record read first), or the store away (alone, it reads).
        Leading is for viewers: a lingering watcher (or one whose last viewer left while
        the lease was being renewed) leaves it to the others."""
        if not watcher.viewers:
            return False
        keys = self._keys(watcher.watched)
        args: list[str | int] = [self._store.replica, self._lease_ms, STATE_SECONDS * 1000]
        try:
            held = await self._store.run(lambda redis: redis.eval(_LEAD, 3, *keys, *args))
            if held == 2:  # go on from the fleet's record, or give it what is known here
                held = 2 if await self._load(watcher) else 3
            if held == 3 and watcher.seq:
                await self.publish(watcher, watcher.since(0))
        except StoreDown:
            held = True
        if held and not watcher.viewers:
            self.release(watcher)
            return False
        return bool(held)

    async def follow(self, watcher: Watcher) -> None:
        """Catches up with the store's record when it is ahead of what is here."""
        _, _, meta = self._keys(watcher.watched)
        try:
            stored = await self._store.run(lambda redis: redis.get(meta))
            if stored is None:
                return
            position = orjson.loads(stored)
            if (position["g"], position["s"], position["f"]) != (
                watcher.generation,
                watcher.seq,
                watcher.final,
            ):
                await self._load(watcher)
        except StoreDown:
            return

    async def _load(self, watcher: Watcher) -> bool:
        """Takes the store's record, when there is a whole one."""
        _, items, meta = self._keys(watcher.watched)

        async def read(redis: Any) -> list[Any]:
            async with redis.pipeline(transaction=False) as pipe:
                replies: list[Any] = await pipe.get(meta).hgetall(items).execute()
                return replies

        stored, record = await self._store.run(read)
        if stored is None or not record:
            return False
        position = orjson.loads(stored)
        generation = position["g"]
        changes = [_change(orjson.loads(value), generation) for value in record.values()]
        watcher.restore(generation, changes, final=position["f"])
        return True

    async def publish(self, watcher: Watcher, changes: list[Change]) -> None:
        """Records what the leader found, and sends it to the other replicas."""
        _, items, meta = self._keys(watcher.watched)
        encoded = [_encoded(change) for change in changes]
        position = {"g": watcher.generation, "s": watcher.seq, "f": watcher.final}
        message = self._store.message("live", **_named(watcher.watched), c=encoded, **position)

        async def write(redis: Any) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                fields = {f"{c['k']}:{c['i']}": orjson.dumps(c) for c in encoded}
                pipe.hset(items, mapping=fields)
                pipe.pexpire(items, STATE_SECONDS * 1000)
                pipe.set(meta, orjson.dumps(position), px=STATE_SECONDS * 1000)
                pipe.publish(CHANNEL, message)
                await pipe.execute()

        with suppress(StoreDown):
            await self._store.run(write)

    async def failed(self, watcher: Watcher, error: GatewayError) -> None:
        """The leader's first read failed: the followers' viewers get the same error."""
        with suppress(StoreDown):
            await self._store.publish(
                "live", **_named(watcher.watched), e=encode_error(error).decode()
            )
        self.release(watcher)

    def release(self, watcher: Watcher) -> None:
        """Lets the lease go (in the background: a viewer leaving does not wait)."""
        lease, _, _ = self._keys(watcher.watched)
        self._store.background(self._store.release([lease]))

    def _told(self, message: dict[str, Any]) -> None:
        self._changed(_watched(message), message["i"])

    def _received(self, message: dict[str, Any]) -> None:
        watcher = self._watcher(_watched(message))
        if watcher is None:
            return
        if "e" in message:
            watcher.fail(decode_error(message["e"].encode()))
            return
        generation = message["g"]
        changes = [_change(fields, generation) for fields in message["c"]]
        watcher.receive(generation, changes, final=message["f"])


def _named(watched: Watched) -> dict[str, str]:
    """A watched deployment in a message: its account, region and id."""
    return {"a": watched.where.account, "r": watched.where.region, "d": watched.deployment_id}


def _watched(message: dict[str, Any]) -> Watched:
    return Watched(AccountRegion(message["a"], message["r"]), message["d"])


def _encoded(change: Change) -> dict[str, Any]:
    return {
        "s": change.seq,
        "k": change.kind,
        "i": change.item_id,
        "t": change.snapshot.terminal,
        # The body as text: the bytes every replica sends, so the entity tags agree.
        "b": change.snapshot.body.decode(),
    }


def _change(fields: dict[str, Any], generation: str) -> Change:
    kind: Kind = fields["k"]
    snapshot = Snapshot.stored(KINDS[kind].model, fields["b"].encode(), fields["t"])
    seq: int = fields["s"]
    return Change(seq, kind, fields["i"], snapshot, f"{generation}-{seq}")
