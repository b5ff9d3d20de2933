"""A bounded TTL cache with per-entry lifetimes and single-flight loading.

cachetools has no coroutine support, so results (and cacheable errors) are stored
explicitly, and concurrent misses for one key share one in-flight task. Every read
and write happens without an ``await`` in between, which keeps the cache consistent
on one event loop without locks.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TLRUCache

from service.errors import CacheInfo, GatewayError

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V | None
    error: GatewayError | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class Cached(Generic[V]):
    value: V
    cache: CacheInfo


class ResultCache(Generic[V]):
    """Caches what a loader returns for ``value_ttl(value)`` seconds and the errors it
    raises for ``error_ttl(error)`` seconds; a TTL of 0 means "do not store"."""

    def __init__(
        self,
        *,
        max_entries: int,
        value_ttl: Callable[[V], float],
        error_ttl: Callable[[GatewayError], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: TLRUCache[Hashable, _Entry[V]] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, entry, _now: entry.expires_at, timer=clock
        )
        self._inflight: dict[Hashable, asyncio.Task[Cached[V]]] = {}
        self._value_ttl = value_ttl
        self._error_ttl = error_ttl
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def get(
        self, key: Hashable, load: Callable[[], Awaitable[V]], *, refresh: bool = False
    ) -> Cached[V]:
        """The cached answer for ``key``, or the loader's, shared with concurrent callers.

        ``refresh`` skips the stored entry (but still joins a load already under way).
        """
        if not refresh:
            entry = self._entries.get(key)
            if entry is not None:
                info = CacheInfo(hit=True, max_age=int(entry.expires_at - self._clock()))
                if entry.error is not None:
                    raise entry.error.replay(info)
                assert entry.value is not None
                return Cached(entry.value, info)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._load(key, load))
            self._inflight[key] = task
        # One caller giving up must not cancel the load the others are waiting for.
        return await asyncio.shield(task)

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> Cached[V]:
        try:
            value = await load()
        except GatewayError as error:
            # Errors with no TTL (throttling, 5xx, timeouts) leave a stored answer alone.
            ttl = self._error_ttl(error)
            if ttl > 0:
                self._entries[key] = _Entry(None, error, self._clock() + ttl)
                error.cache = CacheInfo(hit=False, max_age=int(ttl))
            raise
        else:
            ttl = self._value_ttl(value)
            if ttl > 0:
                self._entries[key] = _Entry(value, None, self._clock() + ttl)
            else:
                self._entries.pop(key, None)
            return Cached(value, CacheInfo(hit=False, max_age=int(ttl)))
        finally:
            del self._inflight[key]
