"""The callers' token buckets, shared by the fleet: one atomic script per charge.

The store's own clock (``TIME``) refills them, so replicas whose clocks differ agree.
While the store is away each replica charges its own buckets, as it does alone.
"""

import hashlib
from typing import Any

from service.fleet.store import Store, StoreDown
from service.guard.ratelimit import TokenBuckets

# KEYS[1]: the caller's bucket; ARGV: rate per second, burst, tokens wanted. Answers 0
# (spent) or the whole seconds until that many are there, as TokenBuckets.take does.
_TAKE = """
local rate, burst, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'none' and kind ~= 'hash' then redis.call('DEL', KEYS[1]) end  -- not the gateway's
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait = math.max(1, math.ceil((wanted - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'at', string.format('%.6f', now))
-- A bucket untouched until it is full again is the same as none.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""


class SharedBuckets:
    def __init__(self, store: Store, local: TokenBuckets, *, rate: float, burst: int) -> None:
        self._store = store
        self._local = local
        self._rate = repr(rate)
        self._burst = burst

    async def charge(self, caller: str, count: int = 1) -> int:
        """0 when ``caller`` may go ahead (``count`` tokens spent fleet-wide), else whole
        seconds to wait; a count over the burst is charged as the burst."""
        # Hashed: a caller's name is the identity provider's, of any length.
        name = hashlib.blake2b(caller.encode(), digest_size=16).hexdigest()
        args: list[str | int] = [self._rate, self._burst, min(count, self._burst)]

        async def take(redis: Any) -> int:
            return int(await redis.eval(_TAKE, 1, self._store.key("b", name), *args))

        try:
            return await self._store.run(take)
        except StoreDown:
            return self._local.take(caller, count)
