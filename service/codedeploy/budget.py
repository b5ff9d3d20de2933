"""The budget toward CodeDeploy (``GATEWAY_UPSTREAM_RATE_PER_SECOND``): calls a second per
account region, below the account's quota, so the gateway never throttles the account's
other tools. Callers' reads go first: background reads (watchers, refreshes behind stale
answers) take a token only while half the bucket is left.

One process keeps the buckets itself (``LocalBudget``); a fleet keeps them in the shared
store (``service.fleet.budget``), so the rate holds for all its replicas together.
"""

import time
from collections.abc import Callable
from typing import Protocol

from service.accounts import AccountRegion


class UpstreamBudget(Protocol):
    async def take(self, where: AccountRegion, *, background: bool) -> float:
        """0 when a call to ``where`` may go now (its token taken); else the seconds until
        one may (nothing taken)."""
        ...


class NoBudget:
    """No rate of the gateway's own: CodeDeploy's quota is the only one."""

    async def take(self, where: AccountRegion, *, background: bool) -> float:
        return 0.0


class LocalBudget:
    """A token bucket per account region, refilled at ``rate`` a second, holding one
    second's worth (at least two calls)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        # Two at least, so that a background read can leave one to callers.
        self.burst = max(2.0, rate)
        self._clock = clock
        self._buckets: dict[AccountRegion, tuple[float, float]] = {}
        """Tokens left, and when they were counted: bounded by the accounts file."""

    async def take(self, where: AccountRegion, *, background: bool) -> float:
        return self.take_now(where, background=background)

    def floor(self, *, background: bool) -> float:
        """The tokens a call needs left: a background read leaves the lower half of the
        bucket to callers' reads."""
        return 1.0 + self.burst / 2 if background else 1.0

    def take_now(self, where: AccountRegion, *, background: bool) -> float:
        now = self._clock()
        tokens, then = self._buckets.get(where, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        floor = self.floor(background=background)
        if tokens >= floor:
            self._buckets[where] = (tokens - 1.0, now)
            return 0.0
        self._buckets[where] = (tokens, now)
        return (floor - tokens) / self.rate
