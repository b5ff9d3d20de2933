"""The process's watchers, one per watched deployment, and the limits on who may watch."""

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Literal

from service.codedeploy.notifications import Notification
from service.errors import ErrorCode, InvalidRequest, NotReady, RateLimited
from service.freshness import not_modified
from service.guard.ratelimit import FREE, Budget
from service.live.changes import Watched
from service.live.watch import Coordinator, SingleReplica, View, Watcher
from service.metrics import Metrics
from service.models import DeploymentInfo
from service.reads import Resolver, Resolvers
from service.snapshot import Snapshot

WaitResult = Literal["final", "changed", "timeout"]
"""How a wait ended: the deployment's final status, a change from the entity tag given,
or the time being up."""

# At shutdown, streams get this long to send their end (WebSocket close frames, the
# last chunk) before the server closes connections itself.
CLOSE_SECONDS = 1.0


class Watchers:
    """The process's watchers, one per deployment, and the limits on who may watch."""

    def __init__(
        self,
        resolvers: Resolvers,
        metrics: Metrics,
        *,
        interval: float,
        max_watched: int,
        max_per_caller: int,
        max_wait: float = 300.0,
        coordinator: Coordinator | None = None,
    ) -> None:
        self._resolvers = resolvers
        self._coordinator = SingleReplica() if coordinator is None else coordinator
        self._metrics = metrics
        self._interval = interval
        self._max_watched = max_watched
        self._max_per_caller = max_per_caller
        self.max_wait = max_wait
        self._watchers: dict[Watched, Watcher] = {}
        self._per_caller: Counter[str] = Counter()
        self.unwatched = asyncio.Event()
        """Set while no stream is open."""
        self.unwatched.set()
        self.closing = asyncio.Event()
        """Set at shutdown: every stream ends, so its client reconnects to another replica."""
        self._coordinator.bind(self._watchers.get, self.changed)
        metrics.watched_deployments.set_function(lambda: len(self._watchers))
        metrics.subscriptions.set_function(lambda: self.subscriptions)

    def __len__(self) -> int:
        return len(self._watchers)

    @property
    def subscriptions(self) -> int:
        return sum(self._per_caller.values())

    @asynccontextmanager
    async def watch(
        self,
        resolver: Resolver,
        deployment_id: str,
        caller: str,
        last_event_id: str | None = None,
        budget: Budget = FREE,
    ) -> AsyncIterator["View"]:
        """One viewer of ``deployment_id`` (in ``resolver``'s account and region), from the
        whole picture or from ``last_event_id``. Raises before yielding: the first read's
        error (the deployment does not exist, CodeDeploy failed), ``RateLimited`` over a
        limit (or when ``budget`` cannot pay the first read this viewer started),
        ``NotReady`` while shutting down.

        A viewer joining a watcher under way takes its picture, no read made; a new
        viewer of a watcher that has ended starts a new one, whose first read says
        whether the deployment is still as it ended."""
        async with self.holding(caller):
            watched = Watched(resolver.where, deployment_id)
            watcher = self._watchers.get(watched)
            if watcher is not None and watcher.final and not watcher.position(last_event_id):
                self._stop(watcher)
                watcher = None
            if watcher is None:
                watcher = self._start(watched, resolver)
                watcher.pay = budget.spend
            watcher.join()
            try:
                await asyncio.shield(watcher.first_read)
                yield View(watcher, watcher.position(last_event_id))
            finally:
                watcher.leave()

    @asynccontextmanager
    async def holding(self, caller: str) -> AsyncIterator[None]:
        """One of ``caller``'s streams, subscriptions or waits, within its limit; refused
        while shutting down."""
        if self.closing.is_set():
            raise NotReady("The gateway is shutting down; reconnect to another replica.")
        if self._per_caller[caller] >= self._max_per_caller:
            raise RateLimited(
                f"This caller already holds {self._max_per_caller} subscriptions, its limit.",
                retry_after_seconds=math.ceil(self._interval),
                code=ErrorCode.TOO_MANY_SUBSCRIPTIONS,
            )
        self._per_caller[caller] += 1
        self.unwatched.clear()
        try:
            yield
        finally:
            self._per_caller[caller] -= 1
            if not self._per_caller[caller]:
                del self._per_caller[caller]
                if not self._per_caller:
                    self.unwatched.set()

    async def wait(
        self,
        resolver: Resolver,
        deployment_id: str,
        caller: str,
        *,
        seconds: float,
        if_none_match: str | None = None,
        budget: Budget = FREE,
    ) -> tuple[Snapshot[DeploymentInfo], WaitResult]:
        """The deployment once it is in a final status (or, given ``if_none_match``, once
        it differs from the entity tags named there), or as it is when ``seconds`` are up:
        a viewer of its watcher, so any number of waits cost what one viewer does."""
        if seconds > self.max_wait:
            raise InvalidRequest(f"`wait` is at most {self.max_wait:g} seconds.")
        stored = (await resolver.deployment(deployment_id)).value
        if stored.terminal:  # final for good: answered from the cache, no watcher started
            return stored, "final"
        latest: Snapshot[DeploymentInfo] | None = None
        async with self.watch(resolver, deployment_id, caller, budget=budget) as view:
            try:
                async with asyncio.timeout(seconds):
                    async for batch in view.changes():
                        for change in batch:
                            if change.kind != "deployment":
                                continue
                            latest = change.snapshot
                            if latest.terminal:
                                return latest, "final"
                            if if_none_match and not not_modified(if_none_match, latest.etag):
                                return latest, "changed"
            except TimeoutError:
                pass
        if latest is None:  # a replica that took over mid-wait: the deployment as stored
            latest = (await resolver.deployment(deployment_id)).value
        return latest, "final" if latest.terminal else "timeout"

    def _start(self, watched: Watched, resolver: Resolver) -> Watcher:
        if len(self._watchers) >= self._max_watched:
            idle = next((w for w in self._watchers.values() if not w.viewers), None)
            if idle is None:
                raise RateLimited(
                    f"This gateway already watches {self._max_watched} deployments, its limit.",
                    retry_after_seconds=math.ceil(self._interval),
                    code=ErrorCode.TOO_MANY_WATCHED_DEPLOYMENTS,
                )
            self._stop(idle)
        watcher = Watcher(
            watched,
            resolver,
            interval=self._interval,
            metrics=self._metrics,
            on_idle=self._stop,
            coordinator=self._coordinator,
        )
        self._watchers[watched] = watcher
        return watcher

    def _stop(self, watcher: Watcher) -> None:
        if self._watchers.get(watcher.watched) is watcher:
            del self._watchers[watcher.watched]
        watcher.close()

    def on_notification(self, notification: Notification | None) -> None:
        """A message from the events queue: CodeDeploy's notification, or None."""
        target = None
        if notification is not None:
            # From any account's bus: the event's account and region say whose it is.
            target = self._resolvers.accounts.of_event(notification.account, notification.region)
        if notification is None or target is None:
            outcome = "ignored"
        else:
            watched = Watched(target, notification.deployment_id)
            # The queue gives it to one replica: it drops the fleet's stored answer too (before
            # the others are told, so they read anew), and tells them.
            seen = self.changed(watched, notification.instance_id, shared=True)
            self._coordinator.tell(watched, notification.instance_id)
            outcome = "watched" if seen else "unwatched"
        self._metrics.queue_notifications.labels(outcome).inc()

    def changed(
        self, watched: Watched, item_id: str | None = None, *, shared: bool = False
    ) -> bool:
        """Told (by a notification) that a deployment changed: what is cached of it is
        dropped (``shared``: from the fleet's store too) and its watcher reads it now.
        Whether it is watched."""
        self._resolvers.at(watched.where).forget(watched.deployment_id, item_id, shared=shared)
        watcher = self._watchers.get(watched)
        if watcher is None:
            return False
        watcher.nudge()
        return True

    async def close(self) -> None:
        """Ends every stream (shutdown), and gives them a moment to finish."""
        self.closing.set()
        for watcher in list(self._watchers.values()):
            self._stop(watcher)
        with suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_SECONDS):
                await self.unwatched.wait()
