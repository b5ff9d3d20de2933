"""Live deployments: one watcher per watched deployment, however many people watch it.

A watcher reads its deployment through the resolver (so what it reads fills the shared
cache), compares each item's answer (the deployment, each instance or target) with the
last one by its entity tag, and keeps every item's latest answer numbered by the change
that made it. A viewer is a position in that numbering and reads what changed after
it: a new viewer starts at 0, so it gets the whole picture; one resuming with
``Last-Event-ID`` gets what changed since, each item once, as it is now. Diffing happens
once per change, and nothing is buffered per viewer: a viewer that falls behind reads
the latest state when it catches up.
"""

import asyncio
import logging
import re
import secrets
from bisect import bisect_right
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from service.errors import DeploymentNotStarted, GatewayError, Throttled
from service.freshness import in_the_background
from service.guard.ratelimit import FREE
from service.live.changes import Change, Kind, Watched
from service.metrics import Metrics
from service.models import DeploymentInfo
from service.reads import FleetReads, Resolver, costs
from service.snapshot import Snapshot

logger = logging.getLogger(__name__)

ItemKey = tuple[Kind, str]
# Throttled or failing reads back off, doubling from the interval up to this.
MAX_BACKOFF_SECONDS = 60.0
# A watcher with no viewers keeps its state this long without reading, so a viewer
# that reconnects (EventSource does within seconds) resumes from its Last-Event-ID.
LINGER_SECONDS = 30.0
SEQ = re.compile(r"[0-9]{1,18}")
"""A change's number in an event id, as the gateway writes it (ASCII digits only)."""
# Instances or targets read per poll: ten list pages. A larger fleet has its first
# ones followed, and its deployment's overview counts all.
MAX_ITEMS = 1000
MAX_PAGES = 10


class Coordinator(Protocol):
    """How the watchers of one deployment on several replicas agree that one of them reads
    CodeDeploy for all (it leads) and the others follow what it records. ``SingleReplica`` is the
    single replica's; the fleet's store gives another (``service.fleet.live``)."""

    def bind(
        self,
        watcher: "Callable[[Watched], Watcher | None]",
        changed: Callable[[Watched, str | None], object],
    ) -> None:
        """Where news for a deployment finds its watcher here, and where a notification
        another replica had goes."""

    async def lead(self, watcher: "Watcher") -> bool:
        """Whether this replica reads ``watcher``'s deployment now."""
        ...

    async def follow(self, watcher: "Watcher") -> None:
        """Catches up with what the leading replica recorded."""

    async def publish(self, watcher: "Watcher", changes: "list[Change]") -> None:
        """Records what this leading replica found, for the others."""

    async def failed(self, watcher: "Watcher", error: GatewayError) -> None:
        """The first read failed here: the others' viewers get the same error."""

    def release(self, watcher: "Watcher") -> None:
        """This replica stops leading ``watcher``'s deployment."""

    def tell(self, watched: Watched, item_id: str | None) -> None:
        """Passes a notification from the events queue on to the other replicas."""


class SingleReplica:
    """One replica: it always leads, and has nobody to tell."""

    def bind(
        self,
        watcher: "Callable[[Watched], Watcher | None]",
        changed: Callable[[Watched, str | None], object],
    ) -> None:
        pass

    async def lead(self, watcher: "Watcher") -> bool:
        return True

    async def follow(self, watcher: "Watcher") -> None:
        pass

    async def publish(self, watcher: "Watcher", changes: "list[Change]") -> None:
        pass

    async def failed(self, watcher: "Watcher", error: GatewayError) -> None:
        pass

    def release(self, watcher: "Watcher") -> None:
        pass

    def tell(self, watched: Watched, item_id: str | None) -> None:
        pass


class Watcher:
    """Reads one deployment every ``interval`` while anyone watches, until it is final."""

    def __init__(
        self,
        watched: Watched,
        resolver: Resolver,
        *,
        interval: float,
        metrics: Metrics,
        on_idle: Callable[["Watcher"], None],
        coordinator: Coordinator,
    ) -> None:
        self.watched = watched
        self.deployment_id = watched.deployment_id
        self.generation = secrets.token_hex(4)
        """Names this watcher's numbering in event ids: another's ids mean nothing here."""
        self._resolver = resolver
        self._interval = interval
        self._metrics = metrics
        self._on_idle = on_idle
        self._coordinator = coordinator
        self.leading = False
        """This replica reads CodeDeploy for every replica's viewers (alone: whenever it
        reads); else it follows what the leading replica records."""
        self._items: dict[ItemKey, Change] = {}
        # Every change in order, for a viewer to find its place by bisection; an entry whose
        # item changed again since is skipped, and dropped once they pile up.
        self._log: list[tuple[int, ItemKey]] = []
        self._seq = 0
        self.final = False
        """The deployment's terminal status is among the changes: nothing follows."""
        self.closed = False
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._nudged = False
        self.pay: Callable[[int], Awaitable[None]] = FREE.spend
        """Charges the first read to the viewer that started the watcher, before its
        costly part: the deployment's overview says how many items there are to read."""
        self.viewers = 0
        self._linger: asyncio.TimerHandle | None = None
        self.first_read: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = in_the_background(self._run(), name=f"watch {watched}")

    # --- what viewers read -----------------------------------------------------------

    def position(self, last_event_id: str | None) -> int:
        """Where a viewer resuming after ``last_event_id`` starts: after that change when
        the id is one of this watcher's, else at 0 (the whole picture)."""
        generation, _, seq = (last_event_id or "").rpartition("-")
        if generation != self.generation or not SEQ.fullmatch(seq):
            return 0
        return min(int(seq), self._seq)

    def since(self, position: int) -> list[Change]:
        """The changes after ``position``, each item once, in the order they happened."""
        start = bisect_right(self._log, position, key=lambda entry: entry[0])
        return [self._items[key] for seq, key in self._log[start:] if self._items[key].seq == seq]

    async def changes(self, position: int) -> AsyncIterator[list[Change]]:
        """Batches of changes after ``position`` as they happen; ends once the final
        status has been given, or when the watcher closes. The whole picture (from 0)
        starts with the deployment, whichever of its items changed last."""
        generation = self.generation
        while True:
            if self.generation != generation:
                # The fleet's numbering replaced this replica's (the store is back, or
                # another replica leads): the whole picture again, in its numbering.
                generation, position = self.generation, 0
            batch = self.since(position)
            # Taken before any await: a change published while this viewer was sending
            # is then either in the batch or wakes the wait.
            changed = self._changed
            if batch:
                whole = position == 0
                position = batch[-1].seq
                yield (
                    sorted(batch, key=lambda change: change.kind != "deployment")
                    if whole
                    else batch
                )
                continue
            if self.final or self.closed:
                return
            await changed.wait()

    # --- viewers coming and going ----------------------------------------------------

    def join(self) -> None:
        self.viewers += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
            # Polls were paused: they go on when the interval since the last read is up,
            # not at once, so a viewer that comes and goes costs no read.
            self._wake.set()

    def leave(self) -> None:
        self.viewers -= 1
        if self.viewers == 0:  # another replica's viewers may still watch: they take over
            self._let_go()
        if self.viewers == 0 and not self.closed:
            if self.first_read.done() and self.first_read.exception() is None:
                loop = asyncio.get_running_loop()
                self._linger = loop.call_later(LINGER_SECONDS, self._on_idle, self)
            else:
                self._on_idle(self)

    def nudge(self) -> None:
        """Reads again now, not at the next interval (a notification said it changed)."""
        self._nudged = True
        self._wake.set()

    def close(self) -> None:
        self._let_go()
        self.closed = True
        if self._linger is not None:
            self._linger.cancel()
        self._task.cancel()
        self._changed.set()

    # --- reading and diffing ---------------------------------------------------------

    async def _run(self) -> None:
        delay = self._interval
        while not self.final:
            self._wake.clear()  # a nudge from here on, during the read too, is kept
            self._nudged = False
            self.leading = await self._coordinator.lead(self)
            if not self.leading:
                await self._coordinator.follow(self)
                if self.first_read.done() and self.first_read.exception():
                    return
                await self._pause(self._interval)
                continue
            try:
                await self._read()
            except Exception as exc:
                error = exc if isinstance(exc, GatewayError) else _failed(self, exc)
                self._metrics.watch_reads.labels(error.code).inc()
                if not self.first_read.done():
                    await self._coordinator.failed(self, error)
                    self.fail(error)
                    return
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                level = logging.INFO if isinstance(error, Throttled) else logging.WARNING
                logger.log(level, "watching %s: %s", self.deployment_id, error.code)
            else:
                self._metrics.watch_reads.labels("ok").inc()
                delay = self._interval
            if self.final:
                return
            await self._pause(delay)

    async def _pause(self, delay: float) -> None:
        """Until the next read is due, or a nudge; with no viewers, until one comes and
        the read is due."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        while not self._nudged:
            left = max(0.0, due - loop.time()) if self.viewers else None
            if left == 0:
                return
            with suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._wake.wait()
            self._wake.clear()

    async def _read(self) -> None:
        resolver, deployment_id = self._resolver, self.deployment_id
        # Every read is CodeDeploy's, the first too: a stream opens on the truth, not on
        # a cached answer that may be a final status the upstream has left (or not reached).
        deployment = (await resolver.deployment(deployment_id, refresh=True)).value
        info: DeploymentInfo = deployment.model
        changes: list[tuple[Kind, str, Snapshot[Any]]] = [("deployment", deployment_id, deployment)]
        fleet = resolver.fleet(info.compute_platform)
        if not self.first_read.done():
            await self.pay(first_read_calls(info))
        try:
            ids = await self._item_ids(fleet)
        except DeploymentNotStarted:
            ids = []
        # A final item does not change again: only the others are read again.
        kind = fleet.kind
        asked = [
            item_id
            for item_id in ids
            if (known := self._items.get((kind, item_id))) is None or not known.snapshot.terminal
        ]
        outcomes = await fleet.items(deployment_id, asked, refresh=True)
        for item_id, outcome in zip(asked, outcomes, strict=True):
            if not isinstance(outcome, GatewayError):  # kept as it was; read next time
                changes.append((kind, item_id, outcome.value))
        found = self._diff(changes)
        self.record(found, final=deployment.terminal)
        if found:
            await self._coordinator.publish(self, found)

    async def _item_ids(self, fleet: FleetReads) -> list[str]:
        """The item ids: the first ``MAX_ITEMS``, from ``MAX_PAGES`` pages at most."""
        ids: list[str] = []
        token = None
        pages = 0
        # Ten pages at most, however small CodeDeploy makes them: what a read costs stays
        # what the first one was charged.
        while len(ids) < MAX_ITEMS and pages < MAX_PAGES:
            pages += 1
            page = await fleet.ids(self.deployment_id, next_token=token, refresh=True)
            ids += page.value.ids
            token = page.value.next_token
            if token is None:
                break
        # Pages read a moment apart can overlap while the fleet changes.
        return list(dict.fromkeys(ids))[:MAX_ITEMS]

    def _diff(self, items: list[tuple[Kind, str, Snapshot[Any]]]) -> list[Change]:
        """What differs from the last read, numbered in the order given."""
        found: list[Change] = []
        seq = self._seq
        for kind, item_id, snapshot in items:
            known = self._items.get((kind, item_id))
            if known is not None and known.snapshot.etag == snapshot.etag:
                continue
            seq += 1
            found.append(Change(seq, kind, item_id, snapshot, f"{self.generation}-{seq}"))
        for counted, count in Counter(change.kind for change in found).items():
            self._metrics.live_events.labels(counted).inc(count)
        return found

    def record(self, changes: list[Change], *, final: bool) -> None:
        """Keeps ``changes`` (numbered after the last one here) and wakes viewers."""
        for change in changes:
            key = (change.kind, change.item_id)
            self._seq = change.seq
            self._items[key] = change
            self._log.append((change.seq, key))
        if self._items and not self.first_read.done():
            self.first_read.set_result(None)
        if not changes and final == self.final:
            return
        if len(self._log) > 2 * len(self._items) + 64:  # superseded entries dropped
            self._log = [(seq, key) for seq, key in self._log if self._items[key].seq == seq]
        self.final = final
        self._changed.set()
        self._changed = asyncio.Event()

    # --- in a fleet ------------------------------------------------------------------

    def _let_go(self) -> None:
        """Gives the fleet's lease on this deployment back, if this replica holds it."""
        if self.leading:
            self.leading = False
            self._coordinator.release(self)

    @property
    def seq(self) -> int:
        """The number of the last change kept here."""
        return self._seq

    def restore(self, generation: str, changes: list[Change], *, final: bool) -> None:
        """Takes the fleet's record: every item's latest change, in ``generation``'s
        numbering. A numbering other than this one's replaces it (viewers start over)."""
        if generation != self.generation:
            self.generation = generation
            self._items, self._log, self._seq = {}, [], 0
        newer = sorted((c for c in changes if c.seq > self._seq), key=lambda c: c.seq)
        self.record(newer, final=final)

    def receive(self, generation: str, changes: list[Change], *, final: bool) -> None:
        """The leading replica's changes as it found them: kept when they follow on from
        what is here, else the store's whole record is read at once."""
        if self.leading:
            return
        if generation == self.generation and changes and changes[0].seq == self._seq + 1:
            self.record(changes, final=final)
        else:
            self.nudge()

    def fail(self, error: GatewayError) -> None:
        """The first read failed (here or on the leading replica): every viewer gets it."""
        if not self.first_read.done():
            self.first_read.set_exception(error)
            self._wake.set()


@dataclass(frozen=True, slots=True)
class View:
    """A viewer's place in a watcher's changes."""

    watcher: Watcher
    position: int

    @property
    def finished(self) -> bool:
        """The final status was given and nothing changed after ``position``: a viewer
        reconnecting after the end has nothing more to read."""
        return self.watcher.final and not self.watcher.since(self.position)

    def changes(self) -> AsyncIterator[list[Change]]:
        return self.watcher.changes(self.position)


def first_read_calls(info: DeploymentInfo) -> int:
    """What a first read costs CodeDeploy: the deployment (already read), its id pages,
    and a batch read of every item, as many as its overview counts (the most a watcher
    follows when it has none)."""
    overview = info.deployment_overview
    counts = [] if overview is None else list(overview.model_dump().values())
    items = MAX_ITEMS if overview is None else min(MAX_ITEMS, sum(n or 0 for n in counts))
    return costs.watch(items, max_pages=MAX_PAGES)


def _failed(watcher: Watcher, exc: Exception) -> GatewayError:
    """A read that failed in a way no error of the gateway's describes: a bug, logged
    whole; the viewers waiting for the first read are answered 500."""
    logger.error("watching %s failed", watcher.deployment_id, exc_info=exc)
    return GatewayError("The gateway failed unexpectedly.")
