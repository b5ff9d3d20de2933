"""The cache's second level, shared by the fleet, and single-flight across it.

A miss in a replica's own cache claims the key in the store, in one script: the stored
answer, else the key's lease (``SET NX PX``). Taken, the replica calls CodeDeploy; held
by another replica, it waits for that one's answer: told on the channel when it is
stored, or claiming again after a short poll, so a lost message costs a poll and a dead
holder its lease, never a hang.
What is stored lives as long as the first level keeps it, counted from the upstream
call: a replica that finds it keeps it only for what is left.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from typing import Any, Generic, TypeVar

import orjson

from service.cache import Codec, Fetched, LoadMany, Remote, SharedTier, loaded
from service.errors import BudgetSpent, ErrorCode, GatewayError
from service.fleet.store import CHANNEL, Store, StoreDown

logger = logging.getLogger(__name__)

V = TypeVar("V")
K = TypeVar("K", bound=Hashable)

# A waiter looks at the store this often at first, then less often, until told.
FIRST_POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.25
# A failure that is not cached (throttling, 5xx, a timeout) is stored this long, marked,
# for the replicas that waited on the call: past their longest poll, and no longer.
FLEETING = b"f"
FLEETING_MS = 500

# KEYS: a value, its lease; ARGV: this replica, the lease's lifetime in ms. The value and
# the time it has left; else 1 when the lease is this replica's now, 0 when another holds it.
# A key of another type, or with no lifetime, is not the gateway's: deleted, not served
# (nor an error that would count against the store as a failure).
_CLAIM = """
for _, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  if (kind ~= 'none' and kind ~= 'string') or redis.call('PTTL', key) == -1 then
    redis.call('DEL', key)
  end
end
local value = redis.call('GET', KEYS[1])
if value then return {value, redis.call('PTTL', KEYS[1])} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class StoreTier(Generic[V]):
    """A cache's ``SharedTier`` in the store, under ``cdgw:<format>:c:<cache>:<hash of
    the key>``."""

    def __init__(
        self,
        store: Store,
        name: str,
        codec: Codec[V],
        *,
        ttl: Callable[[V | GatewayError], float],
        lease_seconds: float,
    ) -> None:
        self._store = store
        self._name = name
        self._codec = codec
        self._ttl = ttl
        self._lease_ms = int(lease_seconds * 1000)
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        store.on(f"done:{name}", self._done)

    def _names(self, keys: Sequence[Hashable]) -> dict[Hashable, str]:
        # Hashed: a key's filters and tokens are the caller's, and unbounded in length.
        return {key: hashlib.blake2b(orjson.dumps(key), digest_size=16).hexdigest() for key in keys}

    async def fetch(
        self, keys: list[K], load_many: LoadMany[K, V], *, refresh: bool = False
    ) -> dict[K, Fetched[V]]:
        """Every key's answer: stored by the fleet, or loaded by this replica (and stored
        for the others), or by the replica that held its lease. ``refresh`` loads all
        anew. Whatever the store cannot do in time, this replica does alone."""
        names = self._names(keys)
        if refresh:
            return dict(await self._load(keys, names, load_many, leased=False))
        answers: dict[K, Fetched[V]] = {}
        try:
            held = await self._claim(keys, names, answers, load_many, joined=False)
            if held:
                await self._wait(held, names, answers, load_many)
        except StoreDown:
            pass
        missing = [key for key in keys if key not in answers]
        if missing:  # the store failed, or a holder outlived its lease twice over
            answers.update(await loaded(missing, load_many))
        return answers

    async def _claim(
        self,
        keys: list[K],
        names: Mapping[Hashable, str],
        answers: dict[K, Fetched[V]],
        load_many: LoadMany[K, V],
        *,
        joined: bool,
    ) -> list[K]:
        """Answers the keys the store holds, loads those whose lease this replica took,
        and gives back the ones another replica holds. One script a key, so a value
        stored just as its lease is let go is never missed."""

        async def claim(redis: Any) -> list[Any]:
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    value, lease = self._value_key(names[key]), self._lease_key(names[key])
                    pipe.eval(_CLAIM, 2, value, lease, self._store.replica, self._lease_ms)
                replies: list[Any] = await pipe.execute()
                return replies

        owned: list[K] = []
        held: list[K] = []
        spoilt: list[str] = []
        for key, reply in zip(keys, await self._store.run(claim), strict=True):
            if not isinstance(reply, list):
                (owned if reply == 1 else held).append(key)
                continue
            data = self._store.unseal(names[key], reply[0])
            decoded = None if data is None else self._decode(data)
            if data is None or decoded is None:
                spoilt.append(self._value_key(names[key]))
                held.append(key)  # claimed again at the next turn, once it is gone
            else:  # a failure kept only for the waiters is not kept any longer here
                seconds = 0 if data[:1] == FLEETING else reply[1] / 1000
                answers[key] = Remote(decoded, seconds, joined)
        if spoilt:
            logger.warning(
                "shared store: %d %s value(s) not the gateway's, dropped", len(spoilt), self._name
            )
            self._store.dropped(len(spoilt))
            await self._store.run(lambda redis: redis.delete(*spoilt))
        if owned:
            answers.update(await self._load(owned, names, load_many, leased=True))
        return held

    async def _wait(
        self,
        keys: list[K],
        names: Mapping[Hashable, str],
        answers: dict[K, Fetched[V]],
        load_many: LoadMany[K, V],
    ) -> None:
        """Waits for the replicas holding ``keys``' leases: told when they stored their
        answers (or failed), or finding out by claiming again; a lease let go or run out
        is taken here. Gives up after two leases' time: the caller then loads alone."""
        loop = asyncio.get_running_loop()
        futures: dict[K, asyncio.Future[None]] = {}
        deadline = loop.time() + 2 * self._lease_ms / 1000
        delay = FIRST_POLL_SECONDS
        try:
            while keys and loop.time() < deadline:
                for key in keys:  # a message told already is not waited for twice
                    if key not in futures or futures[key].done():
                        futures[key] = loop.create_future()
                        self._waiters.setdefault(names[key], []).append(futures[key])
                await asyncio.wait(
                    [futures[key] for key in keys],
                    timeout=delay,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                delay = min(delay * 2, MAX_POLL_SECONDS)
                keys = await self._claim(keys, names, answers, load_many, joined=True)
        finally:
            for key, future in futures.items():
                waiting = self._waiters.get(names[key], [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._waiters.pop(names[key], None)

    async def _load(
        self,
        keys: list[K],
        names: Mapping[Hashable, str],
        load_many: LoadMany[K, V],
        *,
        leased: bool,
    ) -> Mapping[K, V | GatewayError]:
        """CodeDeploy's answers for ``keys``, stored for the fleet (the store failing
        then changes nothing: the answers are here)."""
        try:
            outcomes = await loaded(keys, load_many)
        except BaseException:  # a bug, or cancelled: the leases go, and the waiters claim
            if leased:
                self._store.background(
                    self._store.release([self._lease_key(names[key]) for key in keys])
                )
            raise
        stored = {names[key]: outcomes[key] for key in keys}

        async def put(redis: Any) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for name, outcome in stored.items():
                    ttl_ms = int(self._ttl(outcome) * 1000)
                    if ttl_ms > 0:
                        pipe.set(self._value_key(name), self._encode(name, outcome), px=ttl_ms)
                    elif (
                        leased
                        and isinstance(outcome, GatewayError)
                        and not isinstance(outcome, BudgetSpent)  # no call was made
                    ):
                        # Not cached, but the replicas waiting on this call get it, as
                        # joiners do: kept just past a waiter's longest poll.
                        fleeting = self._store.seal(name, FLEETING + encode_error(outcome))
                        pipe.set(self._value_key(name), fleeting, px=FLEETING_MS)
                if leased:
                    self._store.release_leases(pipe, [self._lease_key(n) for n in stored])
                    done = self._store.message(f"done:{self._name}", keys=list(stored))
                    pipe.publish(CHANNEL, done)
                await pipe.execute()

        with suppress(StoreDown):
            await self._store.run(put)
        return outcomes

    def forget(self, key: Hashable) -> None:
        """Drops the store's answer for ``key``, in the background."""
        value = self._value_key(self._names([key])[key])
        self._store.background(self._store.run(lambda redis: redis.delete(value)))

    def _done(self, message: dict[str, Any]) -> None:
        """Another replica stored (or failed) the keys it held: its waiters claim again."""
        for name in message["keys"]:
            for future in self._waiters.pop(name, []):
                if not future.done():
                    future.set_result(None)

    def _value_key(self, name: str) -> str:
        return self._store.key("c", self._name, name)

    def _lease_key(self, name: str) -> str:
        return self._store.key("l", self._name, name)

    def _encode(self, name: str, outcome: V | GatewayError) -> bytes:
        if isinstance(outcome, GatewayError):
            return self._store.seal(name, b"e" + encode_error(outcome))
        return self._store.seal(name, b"v" + self._codec.encode(outcome))

    def _decode(self, data: bytes) -> V | GatewayError | None:
        """What ``_encode`` made, unsealed, or None for anything the gateway could not
        have written."""
        try:
            if data[:1] in (b"e", FLEETING):
                return decode_error(data[1:])
            if data[:1] == b"v":
                return self._codec.decode(data[1:])
        except (ValueError, KeyError, TypeError):
            pass
        return None


def _kinds(base: type[GatewayError]) -> dict[str, type[GatewayError]]:
    """The errors a loader raises, by name: those made as ``GatewayError`` is."""
    kinds = {base.__name__: base} if base.__init__ is GatewayError.__init__ else {}
    for sub in base.__subclasses__():
        kinds |= _kinds(sub)
    return kinds


_ERRORS = _kinds(GatewayError)


def encode_error(error: GatewayError) -> bytes:
    kind = type(error).__name__ if type(error).__name__ in _ERRORS else "GatewayError"
    return orjson.dumps(
        {
            "type": kind,
            "detail": error.detail,
            "code": error.code,
            "upstream": error.upstream_code,
            "id": error.request_id,
        }
    )


def decode_error(data: bytes) -> GatewayError:
    """``ValueError`` for anything ``encode_error`` could not have made."""
    fields = orjson.loads(data)
    if not (
        isinstance(fields, dict)
        and isinstance(fields.get("type"), str)
        and isinstance(fields.get("detail"), str)
        and isinstance(fields.get("code"), str)
        and isinstance(fields.get("upstream"), str | None)
        and isinstance(fields.get("id"), str | None)
    ):
        raise ValueError("not an error the gateway stored")
    kind = _ERRORS.get(fields["type"], GatewayError)
    return kind(
        fields["detail"],
        code=ErrorCode(fields["code"]),  # a code of another version: ValueError
        upstream_code=fields["upstream"],
        request_id=fields["id"],
    )


class StoreTiers:
    """Makes each cache's ``StoreTier`` in one store (the factory's ``SharedTiers``)."""

    def __init__(self, store: Store, *, lease_seconds: float) -> None:
        self._store = store
        self._lease_seconds = lease_seconds

    def __call__(
        self, name: str, codec: Codec[V], *, ttl: Callable[[V | GatewayError], float]
    ) -> SharedTier[V]:
        return StoreTier(self._store, name, codec, ttl=ttl, lease_seconds=self._lease_seconds)
