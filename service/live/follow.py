"""Following what one owns: a deployment group, or an application's groups, as deployments
come and go, the stream never ending with one of them.

A group's feed reads the group and lists its running deployments every interval, through
the cache: with a store, its fleet-wide single-flight makes every replica's feed of a group
one read of the two calls, the first too (``Follows.changed``, for a notification that
names a group, makes a feed read CodeDeploy at once).
Each running deployment is followed through the deployment's own watcher (``Watchers``:
fleet-wide, however many follow it), whose changes the feed relays under a numbering of its
own, so ``Last-Event-ID`` resumes a feed as it does a deployment's stream. An application's
feed relays its groups' feeds, listing the groups every interval. One feed per followed
group or application per process, however many viewers.
"""

import asyncio
import contextvars
import logging
import math
import secrets
from bisect import bisect_right
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from service.accounts import AccountRegion
from service.codedeploy import DeploymentFilter
from service.errors import ErrorCode, GatewayError, RateLimited
from service.freshness import in_the_background
from service.live.changes import Change, Kind
from service.live.watch import LINGER_SECONDS, SEQ
from service.live.watchers import Watchers
from service.models import DeploymentStatus
from service.reads import Resolver
from service.snapshot import Snapshot

logger = logging.getLogger(__name__)

# What ListDeployments calls not finished: the feed follows these.
RUNNING = tuple(
    status.value
    for status in DeploymentStatus
    if status not in {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.STOPPED}
)
# Pages of running deployments (or of an application's groups) read an interval, at most.
MAX_PAGES = 2
ORDER: dict[Kind, int] = {"group": 0, "deployment": 1, "instance": 2, "target": 2}

Key = tuple[Kind, str, str]
Relay = Callable[[], Coroutine[Any, Any, None]]
"""An item of a feed: its kind, its deployment (none for a group), its id."""


@dataclass(frozen=True, slots=True)
class Followed:
    """What one feed follows: a group of an application, or all of an application's."""

    where: AccountRegion
    application: str
    group: str | None


class Feed:
    """Changes relayed from what a feed follows, numbered in its own numbering."""

    def __init__(self, followed: Followed, on_idle: Callable[["Feed"], None]) -> None:
        self.followed = followed
        self.generation = secrets.token_hex(4)
        self._on_idle = on_idle
        self._items: dict[Key, Change] = {}
        self._log: list[tuple[int, Key]] = []
        self._seq = 0
        self._changed = asyncio.Event()
        self.viewers = 0
        self.closed = False
        self._linger: asyncio.TimerHandle | None = None
        self._relays: dict[str, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()
        """Set to read again now, not at the next interval."""
        self.first_read: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- what viewers read -----------------------------------------------------------

    def position(self, last_event_id: str | None) -> int:
        generation, _, seq = (last_event_id or "").rpartition("-")
        if generation != self.generation or not SEQ.fullmatch(seq):
            return 0
        return min(int(seq), self._seq)

    def since(self, position: int) -> list[tuple[Key, Change]]:
        start = bisect_right(self._log, position, key=lambda entry: entry[0])
        return [
            (key, self._items[key]) for seq, key in self._log[start:] if self._items[key].seq == seq
        ]

    async def changes(self, position: int) -> AsyncIterator[list[tuple[Key, Change]]]:
        """Batches of changes after ``position`` as they happen, each with its item, until
        the feed closes; the whole picture (from 0) in order: groups, deployments, items."""
        while True:
            batch = self.since(position)
            changed = self._changed
            if batch:
                whole = position == 0
                position = batch[-1][1].seq
                yield sorted(batch, key=lambda entry: ORDER[entry[0][0]]) if whole else batch
                continue
            if self.closed:
                return
            await changed.wait()

    def add(self, kind: Kind, deployment_id: str, item_id: str, snapshot: Snapshot[Any]) -> None:
        """An item as it is now: a change when it differs from what was last relayed."""
        key = (kind, deployment_id, item_id)
        known = self._items.get(key)
        if known is not None and known.snapshot.etag == snapshot.etag:
            return
        self._seq += 1
        change = Change(self._seq, kind, item_id, snapshot, f"{self.generation}-{self._seq}")
        self._items[key] = change
        self._log.append((self._seq, key))
        if kind == "deployment" and snapshot.terminal:  # relayed from a group's feed too
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self.forget, deployment_id)
        if len(self._log) > 2 * len(self._items) + 64:  # superseded entries dropped
            self._log = [(seq, k) for seq, k in self._log if self._items[k].seq == seq]
        self._changed.set()
        self._changed = asyncio.Event()

    # --- viewers coming and going ----------------------------------------------------

    def join(self) -> None:
        self.viewers += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def leave(self) -> None:
        self.viewers -= 1
        if self.viewers == 0 and not self.closed:
            if self.first_read.done() and self.first_read.exception() is None:
                loop = asyncio.get_running_loop()
                self._linger = loop.call_later(LINGER_SECONDS, self._on_idle, self)
            else:
                self._on_idle(self)

    def relay(self, name: str, follow: Relay) -> None:
        """Follows a source (a deployment, a group) in a task of its own, once: a source
        whose relay ended (a finished deployment) is not followed again, while a list read
        before it finished may still name it."""
        if name not in self._relays:
            self._relays[name] = asyncio.create_task(
                self._relayed(name, follow), name=f"relay {name}", context=contextvars.Context()
            )

    async def _relayed(self, name: str, follow: Relay) -> None:
        try:
            await follow()
        except GatewayError:
            pass  # the source is gone (or CodeDeploy failed): listed again, it is followed anew
        except Exception:  # a bug: logged, never lost with its task
            logger.exception("relaying %s to %s failed", name, self.followed)
        if not self.closed:
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self.forget, name)

    def forget(self, name: str) -> None:
        """Drops a finished source: its relay, and a deployment's items. Called a while
        after it finished, so viewers still reading its last changes get them: a feed keeps
        what is running, not every deployment it ever saw."""
        self._relays.pop(name, None)
        gone = [key for key in self._items if key[1] == name]
        for key in gone:
            del self._items[key]
        if gone:
            items = self._items
            self._log = [(seq, k) for seq, k in self._log if k in items and items[k].seq == seq]

    def close(self) -> None:
        self.closed = True
        if self._linger is not None:
            self._linger.cancel()
        for task in self._relays.values():
            task.cancel()
        self._changed.set()


class Follows:
    """The process's feeds, one per followed group or application, and their limit."""

    def __init__(self, watchers: Watchers, *, interval: float, max_followed: int) -> None:
        self._watchers = watchers
        self._interval = interval
        self._max_followed = max_followed
        self._feeds: dict[Followed, Feed] = {}
        self._tasks: dict[Followed, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._feeds)

    @asynccontextmanager
    async def follow(
        self,
        resolver: Resolver,
        application: str,
        group: str | None,
        caller: str,
        last_event_id: str | None = None,
    ) -> AsyncIterator[tuple[Feed, int]]:
        """One viewer of a group's (or, with no group, an application's) feed, from the
        whole picture or from ``last_event_id``. Raises before yielding: the first read's
        error (no such application or group), ``RateLimited`` over a limit."""
        async with self._watchers.holding(caller):
            followed = Followed(resolver.where, application, group)
            feed = self._feeds.get(followed) or self._start(followed, resolver)
            feed.join()
            try:
                await asyncio.shield(feed.first_read)
                yield feed, feed.position(last_event_id)
            finally:
                feed.leave()

    def _start(self, followed: Followed, resolver: Resolver) -> Feed:
        groups = sum(1 for known in self._feeds if known.group is not None)
        if followed.group is not None and groups >= self._max_followed:
            idle = next(
                (f for f in self._feeds.values() if not f.viewers and f.followed.group), None
            )
            if idle is None:
                raise RateLimited(
                    f"This gateway already follows {self._max_followed} deployment groups, "
                    "its limit.",
                    retry_after_seconds=math.ceil(self._interval),
                    code=ErrorCode.TOO_MANY_FOLLOWED_GROUPS,
                )
            self._stop(idle)
        feed = Feed(followed, self._stop)
        self._feeds[followed] = feed
        read = self._read_group if followed.group is not None else self._read_application
        self._tasks[followed] = in_the_background(
            self._run(feed, resolver, read), name=f"follow {followed}"
        )
        return feed

    def _stop(self, feed: Feed) -> None:
        if self._feeds.get(feed.followed) is feed:
            del self._feeds[feed.followed]
            self._tasks.pop(feed.followed).cancel()
        feed.close()

    async def _run(
        self,
        feed: Feed,
        resolver: Resolver,
        read: Callable[[Feed, Resolver, bool], Awaitable[None]],
    ) -> None:
        refresh = False
        while not feed.closed:
            try:
                await read(feed, resolver, refresh)
            except Exception as exc:
                if isinstance(exc, GatewayError):
                    error = exc
                else:  # a bug: logged whole, answered 500, never a viewer left waiting
                    logger.error("following %s failed", feed.followed, exc_info=exc)
                    error = GatewayError("The gateway failed unexpectedly.")
                if not feed.first_read.done():
                    feed.first_read.set_exception(error)
                    self._stop(feed)
                    return
                logger.log(logging.INFO, "following %s: %s", feed.followed, error.code)
            else:
                if not feed.first_read.done():
                    feed.first_read.set_result(None)
            with suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await feed.wake.wait()
            # Told of a change: read CodeDeploy now. On the interval: through the cache,
            # whose fleet-wide single-flight makes every replica's feed of a group one read.
            refresh = feed.wake.is_set()
            feed.wake.clear()

    async def _read_group(self, feed: Feed, resolver: Resolver, refresh: bool) -> None:
        """The group, then its running deployments, each followed through its watcher."""
        application, group = feed.followed.application, feed.followed.group
        assert group is not None
        info = await resolver.deployment_group(application, group, refresh=refresh)
        feed.add("group", "", group, info.value)
        listing = DeploymentFilter(application=application, group=group, statuses=RUNNING)
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = (await resolver.deployment_ids(listing, next_token=token, refresh=refresh)).value
            for deployment_id in page.ids:
                feed.relay(deployment_id, self._deployment(feed, resolver, deployment_id))
            if (token := page.next_token) is None:
                break

    def _deployment(self, feed: Feed, resolver: Resolver, deployment_id: str) -> Relay:
        async def follow() -> None:
            caller = f"feed:{feed.followed}:{deployment_id}"  # the gateway's, not a caller's
            async with self._watchers.watch(resolver, deployment_id, caller) as view:
                async for batch in view.changes():
                    for change in batch:
                        feed.add(change.kind, deployment_id, change.item_id, change.snapshot)

        return follow

    async def _read_application(self, feed: Feed, resolver: Resolver, refresh: bool) -> None:
        """The application's groups, each followed through its group's feed."""
        application = feed.followed.application
        listing = resolver.group_list(application)
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = (await listing.list_page(token)).value
            for group in page.ids:
                feed.relay(group, self._group(feed, resolver, group))
            if (token := page.next_token) is None:
                break

    def _group(self, feed: Feed, resolver: Resolver, group: str) -> Relay:
        async def follow() -> None:
            caller = f"feed:{feed.followed}:{group}"
            async with self.follow(resolver, feed.followed.application, group, caller) as (
                source,
                position,
            ):
                async for batch in source.changes(position):
                    for (kind, deployment_id, item_id), change in batch:
                        feed.add(kind, deployment_id, item_id, change.snapshot)

        return follow

    def changed(self, where: AccountRegion, application: str, group: str) -> None:
        """Told that a group changed (a deployment started): its feed, and its
        application's, read again now."""
        for followed in (Followed(where, application, group), Followed(where, application, None)):
            if (feed := self._feeds.get(followed)) is not None:
                feed.wake.set()

    async def close(self) -> None:
        """Ends every feed's streams (shutdown): their clients reconnect elsewhere."""
        for feed in list(self._feeds.values()):
            self._stop(feed)
