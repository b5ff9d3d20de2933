"""The callers' token buckets, shared by the fleet: one atomic script per charge.

The store's own clock (``TIME``) refills them, so replicas whose clocks differ agree.
While the store is away each replica charges its own buckets, as it does alone.
"""

import hashlib
import math
from typing import Any

from service.fleet.store import Store, StoreDown
from service.guard.ratelimit import TokenBuckets

# KEYS[1]: a bucket; ARGV: rate per second, burst, tokens wanted, tokens that must stay
# after (a floor). Answers the seconds until that many could be taken ("0": taken now).
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local wanted, kept = tonumber(ARGV[3]), tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'none' and kind ~= 'hash' then redis.call('DEL', KEYS[1]) end  -- not the gateway's
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens - wanted >= kept then
  tokens = tokens - wanted
else
  wait = (wanted + kept - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'at', string.format('%.6f', now))
-- A bucket untouched until it is full again is the same as none.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


async def take(
    store: Store, key: str, *, rate: float, burst: float, wanted: float, kept: float = 0.0
) -> float:
    """``wanted`` tokens from the fleet's bucket ``key``, leaving ``kept``: 0 when taken,
    else the seconds until they could be (``StoreDown`` when the store cannot say)."""

    async def run(redis: Any) -> float:
        return float(await redis.eval(_TAKE, 1, key, repr(rate), repr(burst), wanted, kept))

    return await store.run(run)


class SharedBuckets:
    def __init__(self, store: Store, local: TokenBuckets, *, rate: float, burst: int) -> None:
        self._store = store
        self._local = local
        self._rate = rate
        self._burst = burst

    async def charge(self, caller: str, count: int = 1) -> int:
        """0 when ``caller`` may go ahead (``count`` tokens spent fleet-wide), else whole
        seconds to wait; a count over the burst is charged as the burst."""
        # Hashed: a caller's name is the identity provider's, of any length.
        name = hashlib.blake2b(caller.encode(), digest_size=16).hexdigest()
        wanted = min(count, self._burst)
        try:
            wait = await take(
                self._store, self._store.key("b", name), rate=self._rate, burst=self._burst,
                wanted=wanted,
            )  # fmt: skip
        except StoreDown:
            return self._local.take(caller, count)
        return max(1, math.ceil(wait)) if wait else 0
