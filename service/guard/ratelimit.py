"""Token buckets, one per caller: O(1) per request, no locks, no waiting.

A token is one CodeDeploy call a request may cost: every request pays one at the door,
and a read that may cost more (a batch, a GraphQL operation) pays the rest before it
runs, so a caller's budget is in upstream calls, not requests.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from service.errors import RateLimited

# Callers tracked at once (~100 bytes each). A bucket pushed out is one untouched the
# longest, almost surely full again, so forgetting it changes nothing.
MAX_CALLERS = 65_536
# Failed authentications an address may make without a rate limit configured: enough for a
# person mistyping a key, far too few for a guessing loop (10 at once, then 1 a second).
FAILURE_RATE_PER_SECOND = 1.0
FAILURE_BURST = 10


class Buckets(Protocol):
    async def charge(self, caller: str, count: int = 1) -> int:
        """As ``TokenBuckets.take``: 0 when ``caller`` may go ahead, else seconds to wait."""
        ...


class TokenBuckets:
    """This process's buckets (a fleet shares its own: ``service.fleet.buckets``)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: LRUCache[str, tuple[float, float]] = LRUCache(MAX_CALLERS)

    def _tokens(self, caller: str, now: float) -> float:
        """What ``caller`` holds at ``now``: what it left, refilled at the rate."""
        tokens, then = self._buckets.get(caller, (self._burst, now))
        return min(self._burst, tokens + (now - then) * self._rate)

    def _wait(self, tokens: float, needed: float) -> int:
        return max(1, math.ceil((needed - tokens) / self._rate))

    def waiting(self, caller: str) -> int:
        """Whole seconds until ``caller`` has a token again (0: it has one); spends none."""
        if caller not in self._buckets:  # never charged, or forgotten: a full bucket
            return 0
        tokens = self._tokens(caller, self._clock())
        return 0 if tokens >= 1 else self._wait(tokens, 1)

    def take(self, caller: str, count: int = 1) -> int:
        """0 when ``caller`` may go ahead (``count`` tokens spent), else whole seconds to
        wait. A count over the burst is charged as the burst, so it can ever be paid."""
        needed = min(float(count), self._burst)
        now = self._clock()
        tokens = self._tokens(caller, now)
        if tokens >= needed:
            self._buckets[caller] = (tokens - needed, now)
            return 0
        self._buckets[caller] = (tokens, now)
        return self._wait(tokens, needed)

    async def charge(self, caller: str, count: int = 1) -> int:
        return self.take(caller, count)


@dataclass(frozen=True, slots=True)
class Budget:
    """The bucket a request's upstream calls are charged to (none: no rate limit)."""

    buckets: Buckets | None = None
    caller: str = ""
    refused: Callable[[str], None] = lambda _code: None
    """Told the code of each refusal, for the metrics the guard's own refusals go to."""

    async def request(self) -> None:
        """Charges one request, as the guard does at the door: for each operation a
        WebSocket carries after its one handshake."""
        if self.buckets is None:
            return
        wait = await self.buckets.charge(self.caller)
        if wait:
            self.refused(RateLimited.default_code)
            raise RateLimited(
                "This caller is over its rate limit; see Retry-After.", retry_after_seconds=wait
            )

    async def spend(self, calls: int) -> None:
        """Charges the calls beyond the one the request paid at the door."""
        if self.buckets is None or calls <= 1:
            return
        wait = await self.buckets.charge(self.caller, calls - 1)
        if wait:
            self.refused(RateLimited.default_code)
            raise RateLimited(
                f"This request may cost {calls} CodeDeploy calls, more than this caller "
                "has left of its rate limit; see Retry-After.",
                retry_after_seconds=wait,
            )


FREE = Budget()
