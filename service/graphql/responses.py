"""Whole GraphQL responses, replayed while the cache entries they were built from last.

A response is kept with the ``Recording`` of its execution: it is served again only while
every one of those entries is still the live one, so GraphQL is never staler than REST
(a REST ``no-cache`` refresh replaces an entry, and the next GraphQL answer runs anew).
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cachetools import LRUCache

from service.cache import Recording
from service.freshness import entity_tag
from service.graphql.errors import GraphQLErrorDict

# What an entry holds besides its body: key, etag, the list of reads (measured ~300
# bytes for one read, ~60 more for each further one).
ENTRY_OVERHEAD_BYTES = 300
READ_BYTES = 60
# A response that read no entry (introspection, __typename) changes only with a release.
STATIC_MAX_AGE = 60


@dataclass(frozen=True, slots=True)
class Stored:
    body: bytes
    etag: str
    reads: Recording

    @property
    def size(self) -> int:
        return len(self.body) + ENTRY_OVERHEAD_BYTES + READ_BYTES * len(self.reads.entries)


class Responses:
    """Replayable responses, least recently used first out, bounded in bytes and entries:
    each is charged at least ``max_bytes / max_entries``, so there are never more."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        least = max_bytes / max_entries
        self._stored: LRUCache[bytes, Stored] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda stored: max(stored.size, least)
        )

    def __len__(self) -> int:
        return len(self._stored)

    def get(self, key: bytes) -> Stored | None:
        """The stored response, if every entry it read is still live."""
        stored = self._stored.get(key)
        if stored is None:
            return None
        if self._clock() >= stored.reads.expires_at or not stored.reads.current():
            del self._stored[key]
            return None
        return stored

    def max_age(self, stored: Stored) -> int:
        """Whole seconds until the first of its entries expires."""
        return max(0, int(min(stored.reads.expires_at - self._clock(), STATIC_MAX_AGE)))

    def put(self, key: bytes, body: bytes, reads: Recording) -> Stored | None:
        """Keeps the response if it can be replayed: None when some answer in it came
        from no cache entry (a fault, a failure), or it is larger than the whole cache."""
        stored = Stored(body, entity_tag(body), reads)
        if not reads.complete or self._stored.getsizeof(stored) > self._stored.maxsize:
            return None
        self._stored[key] = stored
        return stored


@dataclass(frozen=True, slots=True)
class Answer:
    """A GraphQL response and what the transport needs to send it."""

    body: bytes
    status: int = 200
    """Under application/graphql-response+json: 4xx when the request failed as a whole."""
    stored: Stored | None = None
    """Set when the response can be replayed: its ETag comes from here."""
    max_age: int = 0
    """Seconds it stays as fresh as the cache entries it was built from."""
    hit: bool = False
    errors: bool = False
    """The response holds errors (a refusal's, or fields'): for the metrics."""


def answer_with(errors: list[GraphQLErrorDict], status: int = 400) -> Answer:
    return Answer(to_json({"errors": errors}), status, errors=True)


def to_json(payload: dict[str, Any]) -> bytes:
    try:
        # orjson: a large response in a tenth of json.dumps's time, on the event loop.
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):  # past 64 bits, or a lone surrogate
        pass
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate echoed from a variable: escape it
        return json.dumps(payload, separators=(",", ":")).encode()
