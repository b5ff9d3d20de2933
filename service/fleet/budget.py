"""The budget toward CodeDeploy, kept in the store for the whole fleet: one token bucket per
account region, refilled by the store's own clock (one clock for every replica), in one
script, so the rate holds for all replicas together. While the store is down, each replica
keeps its own bucket at the same rate (it works alone until the store answers again)."""

from service.accounts import AccountRegion
from service.codedeploy.budget import LocalBudget
from service.fleet.buckets import take
from service.fleet.store import Store, StoreDown


class StoreBudget:
    """``UpstreamBudget`` for a fleet, under ``cdgw:<format>:u:<account>/<region>``."""

    def __init__(self, store: Store, alone: LocalBudget) -> None:
        self._store = store
        self._alone = alone

    async def take(self, where: AccountRegion, *, background: bool) -> float:
        alone = self._alone
        kept = alone.floor(background=background) - 1
        key = self._store.key("u", str(where))
        try:
            return await take(
                self._store, key, rate=alone.rate, burst=alone.burst, wanted=1, kept=kept
            )
        except StoreDown:
            return alone.take_now(where, background=background)
