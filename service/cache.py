"""A bounded TTL cache with per-entry lifetimes and single-flight loading.

cachetools has no coroutine support, so results (and cacheable errors) are stored
explicitly, and concurrent misses for one key share one in-flight task. Every read
and write happens without an ``await`` in between, which keeps the cache consistent
on one event loop without locks.
"""

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from cachetools import TLRUCache

from service import tracing
from service.errors import BudgetSpent, CacheInfo, ErrorCode, GatewayError, UpstreamError
from service.freshness import Reading, in_background, in_the_background, reading, stale_allowed
from service.metrics import CacheEvent

V = TypeVar("V")
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


_serials = itertools.count()


# What an entry holds besides its value's own bytes: the entry, its key, the value's
# object (tracemalloc: ~450 bytes for an instance's snapshot); a stored error in all.
ENTRY_BYTES = 512
ERROR_BYTES = 1024


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V | None
    error: GatewayError | None
    expires_at: float
    size: int = ENTRY_BYTES
    serial: int = field(default_factory=lambda: next(_serials))
    read_at: float = 0.0
    """When the answer was read (from CodeDeploy, or the fleet's store): its age's start."""


REVALIDATING = "REVALIDATING"
"""A stale answer's reason while it is read again (stale-while-revalidate)."""


@dataclass(frozen=True, slots=True)
class Remote(Generic[V]):
    """An answer from the fleet: stored by another replica (``joined``: just now, by the
    call this replica waited for), good for ``seconds`` more (0: not to be kept)."""

    outcome: V | GatewayError
    seconds: float
    joined: bool


Fetched: TypeAlias = V | GatewayError | Remote[V]
"""A loaded answer: CodeDeploy's (value or error), or the fleet's."""
LoadMany: TypeAlias = Callable[[list[K]], Awaitable[Mapping[K, V | GatewayError]]]
"""Loads several keys at once, answering each with its value or its error."""


class Codec(Protocol[V]):
    """A value as bytes, for a tier that stores bytes."""

    def encode(self, value: V) -> bytes: ...

    def decode(self, data: bytes) -> V: ...


class SharedTier(Protocol[V]):
    """The second level behind one cache, shared with other processes: it answers a
    miss from what they stored, or loads it (once for all of them) and stores it."""

    async def fetch(
        self, keys: list[K], load_many: LoadMany[K, V], *, refresh: bool = False
    ) -> Mapping[K, Fetched[V]]: ...

    def forget(self, key: Hashable) -> None: ...


class SharedTiers(Protocol):
    """Makes the shared tier of the cache ``name``, whose answers live ``ttl`` seconds."""

    def __call__(
        self, name: str, codec: Codec[V], *, ttl: Callable[[V | GatewayError], float]
    ) -> SharedTier[V]: ...


class NoSharedTier(Generic[V]):
    """No second level: a miss is loaded here, and there is nothing shared to forget."""

    async def fetch(
        self, keys: list[K], load_many: LoadMany[K, V], *, refresh: bool = False
    ) -> Mapping[K, Fetched[V]]:
        return await loaded(keys, load_many)

    def forget(self, key: Hashable) -> None:
        pass


async def loaded(keys: list[K], load_many: LoadMany[K, V]) -> Mapping[K, V | GatewayError]:
    """``load_many``'s answers, or its error for every key."""
    try:
        return await load_many(keys)
    except GatewayError as error:
        return dict.fromkeys(keys, error)


@dataclass(frozen=True, slots=True)
class Cached(Generic[V]):
    value: V
    cache: CacheInfo


@dataclass(slots=True)
class Recording:
    """The stored entries a piece of work was answered from (see ``recording``), by
    serial number: holding the entries themselves would keep replaced ones alive.

    ``complete`` turns False as soon as one answer came from nowhere in the cache (a
    fault, or a value with no lifetime): such work cannot be replayed from the entries.
    """

    entries: list[tuple["ResultCache[Any]", Hashable, int]] = field(default_factory=list)
    complete: bool = True
    expires_at: float = math.inf
    stale: list[tuple["ResultCache[Any]", Hashable, CacheInfo]] = field(default_factory=list)
    """The answers given past their lifetime (a read failed), to be said so."""

    def note(self, cache: "ResultCache[Any]", key: Hashable, info: CacheInfo | None) -> None:
        if info is not None and info.stale is not None:
            self.stale.append((cache, key, info))
        entry = info.entry if info is not None else None
        if not isinstance(entry, _Entry):
            self.complete = False
            return
        self.entries.append((cache, key, entry.serial))
        self.expires_at = min(self.expires_at, entry.expires_at)

    def current(self) -> bool:
        """Every entry read is still the one stored (not replaced, refreshed or expired)."""
        return all(cache.holds(key, serial) for cache, key, serial in self.entries)


_reads: ContextVar[Recording | None] = ContextVar("reads", default=None)


@contextmanager
def recording() -> Iterator[Recording]:
    """Notes every answer the caches give in this context (tasks it starts included)."""
    reads = Recording()
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


class ResultCache(Generic[V]):
    """Caches what a loader returns for ``value_ttl(value)`` seconds and the errors it
    raises for ``error_ttl(error)`` seconds; a TTL of 0 means "do not store"."""

    def __init__(
        self,
        *,
        max_entries: int,
        value_ttl: Callable[[V], float],
        error_ttl: Callable[[GatewayError], float],
        max_bytes: int = 2**40,
        size: Callable[[V], int] = lambda _value: 0,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[CacheEvent], None] = lambda _event: None,
        shared: SharedTier[V] | None = None,
        stale_if_error: float = 0.0,
        stale_on: Callable[[GatewayError], bool] = lambda _error: False,
        stale_while_revalidate: float = 0.0,
        on_stale: Callable[[str], None] = lambda _reason: None,
        name: str = "cache",
    ) -> None:
        self.name = name
        # Every entry is charged at least its share of the bytes, so their count stays
        # within ``max_entries`` too.
        least = max_bytes / max_entries
        self._size = size
        # A value is kept past its lifetime while it may still answer, stale.
        kept = max(stale_if_error, stale_while_revalidate)
        self._entries: _Entries[V] = _Entries(
            maxsize=max_bytes,
            getsizeof=lambda entry: max(entry.size, least),
            ttu=lambda _key, entry, _now: entry.expires_at + (kept if entry.error is None else 0),
            timer=clock,
            on_evict=lambda: observe("eviction"),
        )
        self._stale_if_error = stale_if_error
        self._stale_on = stale_on
        self._revalidate = stale_while_revalidate
        self._on_stale = on_stale
        self._directives = b"".join(
            b", %s=%d" % (name, seconds)
            for name, seconds in (
                (b"stale-while-revalidate", stale_while_revalidate),
                (b"stale-if-error", stale_if_error),
            )
            if seconds >= 1
        )
        self._observe = _traced(observe) if tracing.on() else observe
        self._inflight: dict[Hashable, asyncio.Future[Cached[V]]] = {}
        self._readings: dict[Hashable, Reading] = {}
        """How each load under way may wait for the budget: its joiners may change it."""
        self._value_ttl = value_ttl
        self._error_ttl = error_ttl
        self._clock = clock
        self._shared: SharedTier[V] = NoSharedTier() if shared is None else shared

    def __len__(self) -> int:
        return len(self._entries)

    def _stored(self, key: Hashable) -> "Cached[V] | GatewayError | None":
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._clock():  # kept only to answer stale
            return None
        if entry.error is not None:
            self._observe("hit")
            return entry.error.replay(self._info(entry))
        return self._value(entry)

    def _value(self, entry: _Entry[V]) -> Cached[V]:
        self._observe("hit")
        assert entry.value is not None
        return Cached(entry.value, self._info(entry))

    def _info(self, entry: _Entry[V]) -> CacheInfo:
        max_age = int(entry.expires_at - self._clock())
        return CacheInfo(hit=True, max_age=max_age, entry=entry, directives=self._directives)

    def peek(self, key: Hashable) -> Cached[V] | None:
        """A stored value, if there is one: no load, no await. A stored error is left for
        ``get`` to answer, and counted there, not here."""
        entry = self._entries.get(key)
        if entry is None or entry.error is not None or entry.expires_at <= self._clock():
            return None
        return self._value(entry)

    def _or_stale(self, key: Hashable, error: GatewayError) -> "Cached[V] | GatewayError":
        """``error``, or — for an error ``stale_on`` names — the value last read for
        ``key`` if it expired less than ``stale_if_error`` seconds ago and the request takes
        a stale answer. Only a value stands in: a "not found" is an answer, never replaced
        by an older "found"."""
        if not self._stale_on(error) or not stale_allowed.get():
            return error
        entry = self._entries.get(key)
        if entry is None or entry.error is not None:
            return error
        if self._clock() - entry.expires_at >= self._stale_if_error:
            return error
        return self._stale(entry, error.code)

    def _stale(self, entry: _Entry[V], reason: str) -> Cached[V]:
        self._on_stale(reason)
        tracing.event(f"stale {reason}")
        assert entry.value is not None
        age = int(self._clock() - entry.read_at)
        # No directives: a cache downstream must not keep it stale any longer.
        return Cached(entry.value, CacheInfo(hit=True, max_age=0, stale=reason, age=age))

    def _joined(self, key: Hashable, refresh: bool) -> None:
        """A caller waits on the load under way for ``key`` too: a background load becomes
        a caller's, and loses its fallback unless a stale answer stands ready for this
        caller as well."""
        read = self._readings.get(key)
        if read is not None:
            read.background = read.background and in_background()
            read.fallback = read.fallback and not refresh and self._stands_ready(key)

    def _stands_ready(self, key: Hashable) -> bool:
        """A stale value would answer for ``key`` if its read failed (throttled by the
        budget toward CodeDeploy included): the read need not wait for that budget."""
        entry = self._entries.get(key)
        return (
            entry is not None
            and entry.error is None
            and stale_allowed.get()
            and self._clock() - entry.expires_at < self._stale_if_error
        )

    def _revalidating(self, key: Hashable) -> _Entry[V] | None:
        """The value stored for ``key`` if it expired less than ``stale_while_revalidate``
        seconds ago (and the request takes a stale answer): answered at once while it is
        read again behind the caller (RFC 5861's stale-while-revalidate)."""
        if not self._revalidate:
            return None
        entry = self._entries.get(key)
        if entry is None or entry.error is not None or not stale_allowed.get():
            return None
        if self._clock() - entry.expires_at >= self._revalidate:
            return None
        return entry

    def forget(self, key: Hashable, *, shared: bool = False) -> None:
        """Drops the stored answer for ``key`` (``shared``: the fleet's too, in the
        background): the next read asks CodeDeploy."""
        self._entries.pop(key, None)
        if shared:
            self._shared.forget(key)

    def holds(self, key: Hashable, serial: int) -> bool:
        """Entry ``serial`` is still the live answer for ``key``; counts as no hit or miss."""
        entry = self._entries.get(key)
        return entry is not None and entry.serial == serial and entry.expires_at > self._clock()

    def _note(self, key: Hashable, answer: "Cached[V] | GatewayError") -> None:
        reads = _reads.get()
        if reads is not None:
            reads.note(self, key, answer.cache)

    async def get(
        self, key: Hashable, load: Callable[[], Awaitable[V]], *, refresh: bool = False
    ) -> Cached[V]:
        """The cached answer for ``key``, or the loader's, shared with concurrent callers.

        ``refresh`` skips the stored entry (but still joins a load already under way).
        With tracing on, a span says which (its events: hit, miss, join, shared_hit, ...).
        """
        if tracing.on():
            with tracing.span(f"cache {self.name}", attributes={"cache.name": self.name}):
                return await self._get(key, load, refresh)
        return await self._get(key, load, refresh)

    async def _get(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[V]],
        refresh: bool,
        *,
        retried: bool = False,
    ) -> Cached[V]:
        stored = None if refresh else self._stored(key)
        if stored is None and not refresh and (entry := self._revalidating(key)) is not None:
            if key not in self._inflight:  # one refresh, however many callers
                refreshing = _behind(self._load(key, load, refresh), self._readings, [key])
                refreshing.add_done_callback(_retrieve)
                self._inflight[key] = refreshing
            stored = self._stale(entry, REVALIDATING)
        if stored is None:
            task = self._inflight.get(key)
            if task is None:
                self._observe("miss")
                read = Reading(in_background(), not refresh and self._stands_ready(key))
                with _told(read):
                    task = asyncio.create_task(self._load(key, load, refresh))
                self._inflight[key] = task
                self._readings[key] = read
            else:
                self._observe("join")
                self._joined(key, refresh)
            try:
                # One caller giving up must not cancel the load the others are waiting for.
                stored = await asyncio.shield(task)
            except GatewayError as error:
                stored = error if refresh else self._or_stale(key, error)
                if isinstance(stored, BudgetSpent) and not retried:
                    # Failed for a stale answer this caller cannot take: its own read, waiting.
                    return await self._get(key, load, refresh, retried=True)
        self._note(key, stored)
        if isinstance(stored, GatewayError):
            raise stored
        return stored

    async def get_many(
        self,
        keys: Sequence[K],
        load_many: LoadMany[K, V],
        *,
        refresh: bool = False,
    ) -> list[Cached[V] | GatewayError]:
        """Answers for ``keys``, in order: stored ones first, loads already under way
        joined, and the rest fetched by one ``load_many`` call that must answer every key.

        ``refresh`` skips the stored entries (but still joins loads under way).
        """
        if tracing.on():
            attributes = {"cache.name": self.name, "cache.keys": len(keys)}
            with tracing.span(f"cache {self.name}", attributes=attributes):
                return await self._get_many(keys, load_many, refresh)
        return await self._get_many(keys, load_many, refresh)

    async def _get_many(
        self,
        keys: Sequence[K],
        load_many: LoadMany[K, V],
        refresh: bool,
        *,
        retried: bool = False,
    ) -> list[Cached[V] | GatewayError]:
        answers: dict[K, Cached[V] | GatewayError] = {}
        pending: dict[K, asyncio.Future[Cached[V]]] = {}
        missing: list[K] = []
        revalidated: list[K] = []
        for key in dict.fromkeys(keys):
            stored = None if refresh else self._stored(key)
            if stored is not None:
                answers[key] = stored
            elif not refresh and (entry := self._revalidating(key)) is not None:
                answers[key] = self._stale(entry, REVALIDATING)
                if key not in self._inflight:
                    revalidated.append(key)
            elif key in self._inflight:
                self._observe("join")
                self._joined(key, refresh)
                pending[key] = self._inflight[key]
            else:
                self._observe("miss")
                missing.append(key)
        if missing or revalidated:
            # One read for both: the missing ones awaited, the stale ones behind the caller.
            loop = asyncio.get_running_loop()
            futures = {key: loop.create_future() for key in [*missing, *revalidated]}
            for key, future in futures.items():
                future.add_done_callback(_retrieve)
                self._inflight[key] = future
            pending.update((key, futures[key]) for key in missing)
            loading = self._load_many(futures, load_many, refresh)
            if missing:
                ready = not refresh and all(self._stands_ready(key) for key in missing)
                read = Reading(in_background(), ready)
                with _told(read):
                    _background(asyncio.create_task(loading))
                self._readings.update(dict.fromkeys(futures, read))
            else:  # only refreshes, behind the callers
                _background(_behind(loading, self._readings, list(futures)))
        for key, future in pending.items():
            try:
                answers[key] = await asyncio.shield(future)
            except GatewayError as error:
                answers[key] = error if refresh else self._or_stale(key, error)
        spent = [key for key, answer in answers.items() if isinstance(answer, BudgetSpent)]
        if spent and not retried:
            # Failed for stale answers this caller cannot take: its own read, waiting.
            again = await self._get_many(spent, load_many, refresh, retried=True)
            answers.update(zip(spent, again, strict=True))
        for key, answer in answers.items():
            self._note(key, answer)
        return [answers[key] for key in keys]

    async def _load_many(
        self,
        futures: "dict[K, asyncio.Future[Cached[V]]]",
        load_many: LoadMany[K, V],
        refresh: bool,
    ) -> None:
        try:
            outcomes = await self._fetch(list(futures), load_many, refresh)
        except BaseException as error:
            for future in futures.values():
                future.set_exception(error)
            raise
        finally:
            for key in futures:
                del self._inflight[key]
                self._readings.pop(key, None)
        for key, future in futures.items():
            outcome = outcomes.get(key)
            if outcome is None:  # a loader that left a key out must not leave its waiters
                outcome = UpstreamError(
                    "CodeDeploy's answer left this item out.",
                    code=ErrorCode.UPSTREAM_INVALID_RESPONSE,
                )
            kept = self._keep(key, outcome)
            if isinstance(kept, GatewayError):
                future.set_exception(kept)
            else:
                future.set_result(kept)

    async def _load(
        self, key: Hashable, load: Callable[[], Awaitable[V]], refresh: bool
    ) -> Cached[V]:
        async def load_one(_keys: list[Hashable]) -> dict[Hashable, V]:
            return {key: await load()}

        try:
            outcome = (await self._fetch([key], load_one, refresh))[key]
        finally:
            del self._inflight[key]
            self._readings.pop(key, None)
        kept = self._keep(key, outcome)
        if isinstance(kept, GatewayError):
            raise kept
        return kept

    async def _fetch(
        self,
        keys: list[K],
        load_many: LoadMany[K, V],
        refresh: bool,
    ) -> Mapping[K, Fetched[V]]:
        """The answers for ``keys`` from CodeDeploy, or in a fleet from the shared store."""
        return await self._shared.fetch(keys, load_many, refresh=refresh)

    def _keep(self, key: Hashable, outcome: Fetched[V]) -> Cached[V] | GatewayError:
        """Stores an answer as its lifetime says, and gives it as the caller sees it."""
        if isinstance(outcome, GatewayError):
            return self._store_error(key, outcome)
        if not isinstance(outcome, Remote):
            return self._store_value(key, outcome)
        # From the fleet: a hit for this caller, kept only for the time it has left.
        self._observe("shared_join" if outcome.joined else "shared_hit")
        if isinstance(outcome.outcome, GatewayError):
            return self._store_error(key, outcome.outcome, outcome.seconds)
        return self._store_value(key, outcome.outcome, outcome.seconds)

    def _store_value(self, key: Hashable, value: V, remote_ttl: float | None = None) -> Cached[V]:
        ttl = self._value_ttl(value) if remote_ttl is None else remote_ttl
        now = self._clock()
        # From the fleet: read when its lifetime began, not when it reached this replica.
        read_at = now if remote_ttl is None else now - max(0.0, self._value_ttl(value) - ttl)
        entry = _Entry(value, None, now + ttl, ENTRY_BYTES + self._size(value), read_at=read_at)
        hit = remote_ttl is not None
        if ttl <= 0 or entry.size > self._entries.maxsize:  # answered, not kept
            self._entries.pop(key, None)
            return Cached(value, CacheInfo(hit=hit, max_age=0))
        self._entries[key] = entry
        info = CacheInfo(hit=hit, max_age=int(ttl), entry=entry, directives=self._directives)
        return Cached(value, info)

    def _store_error(
        self, key: Hashable, error: GatewayError, remote_ttl: float | None = None
    ) -> GatewayError:
        """The error to answer: a copy naming its own entry when stored (one error can
        fail a whole batch, and each key gets an entry of its own)."""
        # Errors with no TTL (throttling, 5xx, timeouts) leave a stored answer alone: it
        # may stand in for them, stale (``_or_stale``). Any other says the stored answer is
        # wrong now (refused, gone): it goes, and stands in for nothing.
        ttl = self._error_ttl(error) if remote_ttl is None else remote_ttl
        if ttl <= 0:
            if not self._stale_on(error):
                self._entries.pop(key, None)
            return error
        # Kept as a fresh copy: the error raised holds botocore's traceback and cause.
        entry: _Entry[V] = _Entry(
            None, error.replay(), self._clock() + ttl, ENTRY_BYTES + ERROR_BYTES
        )
        self._entries[key] = entry
        return error.replay(CacheInfo(hit=remote_ttl is not None, max_age=int(ttl), entry=entry))


class _Entries(TLRUCache[Hashable, _Entry[V]]):
    """Reports the entries the size bound pushes out (expired ones are not evictions)."""

    def __init__(self, *, on_evict: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_evict = on_evict

    def popitem(self) -> tuple[Hashable, _Entry[V]]:
        item = super().popitem()
        self._on_evict()
        return item

    def get(self, key: Hashable, default: None = None) -> _Entry[V] | None:  # type: ignore[override]
        """One lookup where ``Mapping.get`` makes two (``in``, then ``[]``), each checking
        the clock: this is the hit path."""
        try:
            return self[key]
        except KeyError:
            return default


def _traced(observe: Callable[[CacheEvent], None]) -> Callable[[CacheEvent], None]:
    """``observe``, each event also on the current span (the lookup's, or the load's)."""

    def seen(event: CacheEvent) -> None:
        observe(event)
        tracing.event(event)

    return seen


@contextmanager
def _told(read: Reading) -> Iterator[None]:
    """``read`` is the reading of what starts here (a task copies it when made)."""
    token = reading.set(read)
    try:
        yield
    finally:
        reading.reset(token)


def _behind(
    work: Coroutine[Any, Any, T], readings: dict[Hashable, Reading], keys: Sequence[Hashable]
) -> "asyncio.Task[T]":
    """A refresh behind stale answers: a background read, in a context of its own, so it
    is no request's (nor part of its trace: the request's span ended with its answer)."""
    read = Reading(background=True)
    readings.update(dict.fromkeys(keys, read))
    return in_the_background(work, read=read)


def _retrieve(future: "asyncio.Future[Any]") -> None:
    """Marks a failed future's error as seen, so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


_tasks: set["asyncio.Task[None]"] = set()


def _background(task: "asyncio.Task[None]") -> None:
    # The loop keeps only weak references to tasks; hold a strong one until done.
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
