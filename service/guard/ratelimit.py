"""Token buckets, one per caller: O(1) per request, no locks, no waiting."""

import math
from collections.abc import Callable

from cachetools import LRUCache

# Callers tracked at once (~100 bytes each). A bucket pushed out is one untouched the
# longest, almost surely full again, so forgetting it changes nothing.
MAX_CALLERS = 65_536


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: LRUCache[str, tuple[float, float]] = LRUCache(MAX_CALLERS)

    def take(self, caller: str) -> int:
        """0 when ``caller`` may go ahead (a token is spent), else whole seconds to wait."""
        now = self._clock()
        tokens, then = self._buckets.get(caller, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens >= 1:
            self._buckets[caller] = (tokens - 1, now)
            return 0
        self._buckets[caller] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self._rate))
