"""The resolver layer's caches: one per kind of answer, each kept as long as the
lifetimes (the caching policy, from settings) say."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from service.cache import Codec, ResultCache, SharedTiers
from service.errors import ErrorCode, GatewayError, NotFound
from service.metrics import CacheEvent, Metrics
from service.models import (
    ApplicationInfo,
    DeploymentGroupInfo,
    DeploymentInfo,
    DeploymentTarget,
    IdPage,
    InstanceSummary,
)
from service.settings import Settings
from service.snapshot import Snapshot

V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)


# The failures a stale answer stands in for (RFC 5861's stale-if-error): passing ones.
STALE_FOR = frozenset(
    {
        ErrorCode.THROTTLED,
        ErrorCode.UPSTREAM_TIMEOUT,
        ErrorCode.UPSTREAM_ERROR,
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.UPSTREAM_INVALID_RESPONSE,
    }
)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long an answer is kept: what is still changing briefly, what is final longer,
    a "not found" long enough that a poller of a missing id costs one call a lifetime,
    any other error not at all (throttling, a 5xx, a timeout: the next caller asks again)."""

    changing: float
    final: float
    not_found: float
    stale_if_error: float = 0.0
    """How long past its lifetime a value may still answer a read that failed."""
    stale_while_revalidate: float = 0.0
    """How long past its lifetime a value answers at once while it is read again."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "Lifetimes":
        return cls(
            changing=settings.cache_ttl_seconds,
            final=settings.cache_terminal_ttl_seconds,
            not_found=settings.cache_negative_ttl_seconds,
            stale_if_error=settings.stale_if_error_seconds,
            stale_while_revalidate=settings.stale_while_revalidate_seconds,
        )

    @staticmethod
    def stands_in(error: GatewayError) -> bool:
        """Whether a stale value may answer for ``error``: CodeDeploy throttling, failing
        or too slow, not one that says something about the read (not found, refused)."""
        return error.code in STALE_FOR

    def snapshot(self, value: Snapshot[Any]) -> float:
        return self.final if value.terminal else self.changing

    def page(self, _page: IdPage) -> float:
        # A page lists a fleet whose statuses move: the short lifetime.
        return self.changing

    def error(self, error: GatewayError) -> float:
        return self.not_found if isinstance(error, NotFound) else 0.0


@dataclass(frozen=True, slots=True)
class Caches:
    """One bounded cache per kind of answer, so each stays typed."""

    instances: ResultCache[Snapshot[InstanceSummary]]
    deployments: ResultCache[Snapshot[DeploymentInfo]]
    targets: ResultCache[Snapshot[DeploymentTarget]]
    pages: ResultCache[IdPage]
    # An application or group has no final state: its last deployments move.
    applications: ResultCache[Snapshot[ApplicationInfo]]
    groups: ResultCache[Snapshot[DeploymentGroupInfo]]


class SnapshotCodec(Generic[M]):
    """A snapshot as its AWS JSON, behind one byte that says whether it is final."""

    def __init__(self, model: type[M]) -> None:
        self._model = model

    def encode(self, value: Snapshot[M]) -> bytes:
        return (b"t" if value.terminal else b"-") + value.body

    def decode(self, data: bytes) -> Snapshot[M]:
        body = data[1:]
        if data[:1] not in (b"t", b"-") or not isinstance(orjson.loads(body), dict):
            raise ValueError("not a snapshot")  # checked, not parsed into a model: cheap
        return Snapshot.stored(self._model, body, data[:1] == b"t")


class ModelCodec(Generic[M]):
    def __init__(self, model: type[M]) -> None:
        self._model = model

    def encode(self, value: M) -> bytes:
        return value.model_dump_json().encode()

    def decode(self, data: bytes) -> M:
        return self._model.model_validate_json(data)


def _body(snapshot: Snapshot[Any]) -> int:
    return len(snapshot.body)


def _ids(page: IdPage) -> int:
    # A str object is ~49 bytes before its characters.
    return sum(49 + len(id_) for id_ in page.ids) + len(page.next_token or "")


def make_caches(
    settings: Settings,
    metrics: Metrics,
    *,
    clock: Callable[[], float] = time.monotonic,
    tiers: SharedTiers | None = None,
    observe: Callable[[CacheEvent], None] | None = None,
) -> Caches:
    """The caches, counted in ``metrics`` by name, each event told to ``observe`` too
    (when given: the hit path calls no more than it needs); with ``tiers``, each has the
    fleet's shared second level behind it."""
    lifetimes = Lifetimes.from_settings(settings)

    def seen(name: str, event: CacheEvent) -> None:
        metrics.cache_event(name, event)
        if observe is not None:
            observe(event)

    def observer(name: str) -> Callable[[CacheEvent], None]:
        return partial(metrics.cache_event, name) if observe is None else partial(seen, name)

    def new(
        name: str, value_ttl: Callable[[V], float], size: Callable[[V], int], codec: Codec[V]
    ) -> ResultCache[V]:
        def ttl(outcome: V | GatewayError) -> float:
            if isinstance(outcome, GatewayError):
                return lifetimes.error(outcome)
            return value_ttl(outcome)

        cache: ResultCache[V] = ResultCache(
            max_entries=settings.cache_max_entries,
            max_bytes=settings.cache_max_bytes,
            size=size,
            value_ttl=value_ttl,
            error_ttl=lifetimes.error,
            clock=clock,
            observe=observer(name),
            shared=None if tiers is None else tiers(name, codec, ttl=ttl),
            stale_if_error=lifetimes.stale_if_error,
            stale_on=lifetimes.stands_in,
            stale_while_revalidate=lifetimes.stale_while_revalidate,
            on_stale=lambda reason: metrics.stale_answers.labels(name, reason).inc(),
            name=name,
        )
        metrics.cache_entries.labels(name).set_function(cache.__len__)
        return cache

    def snapshots(name: str, model: type[M]) -> ResultCache[Snapshot[M]]:
        return new(name, lifetimes.snapshot, _body, SnapshotCodec(model))

    return Caches(
        instances=snapshots("instances", InstanceSummary),
        deployments=snapshots("deployments", DeploymentInfo),
        targets=snapshots("targets", DeploymentTarget),
        pages=new("pages", lifetimes.page, _ids, ModelCodec(IdPage)),
        applications=snapshots("applications", ApplicationInfo),
        groups=snapshots("groups", DeploymentGroupInfo),
    )
