"""What the webhooks name, followed with nobody watching, and each change queued for every
webhook it is for.

Each account region, application and group the webhooks' filters name is followed once,
through the live updates' feeds (``Follows``: the same reads, limits and fleet-wide
single-flight as a viewer's), however many webhooks name it: an application's feed where
some webhook takes all its groups, else each named group's; every application of the
account where some webhook names none (listed again every interval). A change becomes a
message per webhook whose filters and events take it, under an id made from what changed
(the same on every replica and after a restart: queued once).
"""

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

from service.accounts import AccountRegion
from service.errors import GatewayError
from service.freshness import in_the_background
from service.live.changes import Change
from service.live.follow import Follows, Key
from service.metrics import Metrics
from service.models import DeploymentInfo
from service.reads import Resolvers
from service.webhooks.config import Webhook, Webhooks
from service.webhooks.messages import (
    FAILED,
    SLACK_FAILURES_SHOWN,
    Message,
    Seen,
    body_for,
    message_id,
)
from service.webhooks.outbox import Outbox

logger = logging.getLogger(__name__)

# Deployments whose application and group (and failures, for Slack) are remembered.
REMEMBERED_DEPLOYMENTS = 1000
FAILED_IDS_COUNTED = 10_000
MAX_PAGES = 5
MAX_UNSENT = 10_000


@dataclass(frozen=True, slots=True)
class Target:
    where: AccountRegion
    application: str
    group: str | None


@dataclass
class _Deployment:
    application: str | None = None
    group: str | None = None
    shown: list[Seen] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)


class Follower:
    def __init__(
        self,
        webhooks: Webhooks,
        resolvers: Resolvers,
        follows: Follows,
        outbox: Outbox,
        metrics: Metrics,
        *,
        interval: float,
        wake: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._webhooks = webhooks
        self._resolvers = resolvers
        self._follows = follows
        self._outbox = outbox
        self._metrics = metrics
        self._interval = interval
        self._wake = wake
        self._clock = clock
        self._tasks: dict[Target, asyncio.Task[None]] = {}
        self._listers: list[asyncio.Task[None]] = []
        self._deployments: OrderedDict[tuple[AccountRegion, str], _Deployment] = OrderedDict()
        self._unsent: deque[Message] = deque()

    def start(self) -> None:
        """Follows what the file names; an account with a webhook naming no application
        has its applications listed every interval."""
        for where in self._resolvers.accounts:
            hooks = [hook for hook in self._webhooks
                     if hook.accounts is None or where.account in hook.accounts]  # fmt: skip
            if not hooks:
                continue
            if any(hook.applications is None for hook in hooks):
                self._listers.append(in_the_background(self._list_applications(where, hooks)))
            for application in sorted(set().union(*(hook.applications or () for hook in hooks))):
                self._follow_application(where, application, hooks)
        self._listers.append(in_the_background(self._retry_unsent()))

    def _follow_application(self, where: AccountRegion, application: str,
                            hooks: list[Webhook]) -> None:  # fmt: skip
        naming = [
            hook for hook in hooks if hook.applications is None or application in hook.applications
        ]
        if any(hook.groups is None for hook in naming):
            self._follow(Target(where, application, None))
            return
        for group in sorted(set().union(*(hook.groups or () for hook in naming))):
            self._follow(Target(where, application, group))

    def _follow(self, target: Target) -> None:
        if target not in self._tasks:
            self._tasks[target] = in_the_background(self._run(target))

    async def _list_applications(self, where: AccountRegion, hooks: list[Webhook]) -> None:
        listing = self._resolvers.at(where).application_list()
        while True:
            try:
                token: str | None = None
                for _ in range(MAX_PAGES):
                    page = (await listing.list_page(token)).value
                    for application in page.ids:
                        self._follow_application(where, application, hooks)
                    if (token := page.next_token) is None:
                        break
            except GatewayError as error:
                logger.warning("webhooks: listing %s's applications: %s", where, error.code)
            await asyncio.sleep(self._interval)

    async def _run(self, target: Target) -> None:
        """One feed followed for as long as the process runs; a failed read (no such
        application yet, throttling) tried again after an interval."""
        resolver = self._resolvers.at(target.where)
        caller = f"webhooks:{target.where}:{target.application}:{target.group or '*'}"
        while True:
            try:
                async with self._follows.follow(
                    resolver, target.application, target.group, caller
                ) as (feed, position):
                    async for batch in feed.changes(position):
                        await self._take(target, batch)
            except GatewayError as error:
                logger.warning("webhooks: following %s: %s", target, error.code)
            except Exception:
                logger.exception("webhooks: following %s failed", target)
            await asyncio.sleep(self._interval)

    async def _take(self, target: Target, batch: list[tuple[Key, Change]]) -> None:
        """A batch's changes, items before the deployment they finish, so a deployment's
        final message knows its failures."""
        seen = [self._seen(target, key, change) for key, change in batch]
        seen.sort(key=_order)
        for one in seen:
            for hook in self._webhooks:
                if hook.follows(one.where.account, one.application, one.group):
                    await self._queue(hook, one)

    def _seen(self, target: Target, key: Key, change: Change) -> Seen:
        kind, deployment_id, item_id = key
        value = change.snapshot.model
        known = self._remember(target.where, deployment_id) if deployment_id else _Deployment()
        if isinstance(value, DeploymentInfo):
            known.application = value.application_name or known.application
            known.group = value.deployment_group_name or known.group
        seen = Seen(
            where=target.where,
            application=known.application or target.application,
            group=(item_id if kind == "group" else known.group) or target.group,
            kind=kind,
            deployment_id=deployment_id,
            item_id=item_id,
            value=value,
            body=change.snapshot.body,
        )
        if (
            seen.choice in ("instance-failed", "target-failed")
            and len(known.failed) < FAILED_IDS_COUNTED
        ):
            known.failed.add(item_id)
            if len(known.shown) < SLACK_FAILURES_SHOWN:
                known.shown.append(seen)
        return seen

    def _remember(self, where: AccountRegion, deployment_id: str) -> _Deployment:
        key = (where, deployment_id)
        known = self._deployments.get(key)
        if known is None:
            known = self._deployments[key] = _Deployment()
            if len(self._deployments) > REMEMBERED_DEPLOYMENTS:
                self._deployments.popitem(last=False)
        else:
            self._deployments.move_to_end(key)
        return known

    async def _queue(self, hook: Webhook, seen: Seen) -> None:
        choice = seen.choice
        if "all" in hook.events:  # every change: the content names it
            made = hashlib.sha256(seen.body).hexdigest()
        elif choice is not None and hook.wants(choice):  # a status reached
            made = seen.status or ""
        else:
            return
        parts = (seen.kind, str(seen.where), seen.deployment_id, seen.item_id, made)
        known = self._deployments.get((seen.where, seen.deployment_id)) or _Deployment()
        now = self._clock()
        body = body_for(hook, seen, now, known.shown, len(known.failed), self._webhooks.board_url)
        ordering = seen.deployment_id or f"{seen.application}/{seen.group}"
        message = Message(hook.name, f"{seen.where}/{ordering}", message_id(hook.name, *parts),
                          body, now)  # fmt: skip
        await self._put(message)

    async def _put(self, message: Message) -> None:
        """Queued; while the outbox cannot take messages (the store away) they are held
        here, in order, and offered again every interval — the oldest dropped past
        ``MAX_UNSENT``. A message comes after those held, so a deployment's stay in order."""
        if self._unsent or not await self._offer(message):
            self._hold(message)

    async def _offer(self, message: Message) -> bool:
        try:
            queued = await self._outbox.put(message)
        except Exception as exc:
            if not self._unsent:
                logger.warning("webhooks: cannot queue (%r): held here until it can", exc)
            return False
        outcome = "queued" if queued else "skipped"
        self._metrics.webhook_events.labels(message.webhook, outcome).inc()
        if queued:
            self._wake()
        return True

    def _hold(self, message: Message) -> None:
        if len(self._unsent) == MAX_UNSENT:
            dropped = self._unsent.popleft()
            logger.error("webhooks: %s for %s lost: the outbox is away", dropped.id,
                         dropped.webhook)  # fmt: skip
        self._unsent.append(message)

    async def _retry_unsent(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            while self._unsent and await self._offer(self._unsent[0]):
                self._unsent.popleft()

    async def close(self) -> None:
        if self._unsent:
            logger.error("webhooks: %d message(s) never reached the outbox (it was away)",
                         len(self._unsent))  # fmt: skip
        tasks = [*self._tasks.values(), *self._listers]
        for task in tasks:
            task.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def _order(seen: Seen) -> int:
    if seen.kind == "group":
        return 0
    if seen.kind == "deployment":
        return 3 if seen.status in ("Succeeded", FAILED, "Stopped") else 1
    return 2
