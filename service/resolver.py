"""The shared resolver layer: the one path from REST and GraphQL to CodeDeploy."""

import logging
import re
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel

from service.accounts import EVERY_ACCOUNT, Grants, Target, echo
from service.cache import Cached, ResultCache
from service.codedeploy import BATCH_LIMIT, LIST_PAGE_SIZE, CodeDeploy, Upstreams
from service.errors import Forbidden, GatewayError, InvalidRequest, NotFound
from service.fleet.cache import Codec, ModelCodec, SharedTier, SnapshotCodec
from service.fleet.store import Store
from service.metrics import Metrics
from service.models import (
    ApplicationInfo,
    DeploymentGroupInfo,
    DeploymentInfo,
    DeploymentTarget,
    IdPage,
    InstanceSummary,
    Snapshot,
)
from service.settings import Settings
from service.tokens import PageTokens

logger = logging.getLogger(__name__)

Outcome = Cached[Snapshot[InstanceSummary]] | GatewayError
Key = tuple[object, ...]

ListPage = Callable[[str | None], Awaitable[Cached[IdPage]]]
"""One page of an id list, by the ``nextToken`` it starts at."""

# Ids one batch read may ask for, on either face: four upstream calls at most.
MAX_BATCH_IDS = 100
# Deployments a group's statistics read at most: 5 list pages and 20 batch reads.
MAX_STATS_DEPLOYMENTS = 500
STATS_CALLS = -(-MAX_STATS_DEPLOYMENTS // 100) + -(-MAX_STATS_DEPLOYMENTS // BATCH_LIMIT)


@dataclass(frozen=True, slots=True)
class Caches:
    """One bounded cache per kind of answer, so each stays typed."""

    instances: ResultCache[Snapshot[InstanceSummary]]
    deployments: ResultCache[Snapshot[DeploymentInfo]]
    targets: ResultCache[Snapshot[DeploymentTarget]]
    pages: ResultCache[IdPage]
    applications: ResultCache[Snapshot[ApplicationInfo]]
    groups: ResultCache[Snapshot[DeploymentGroupInfo]]


@dataclass(frozen=True, slots=True)
class GroupStats:
    """A deployment group's deployments created in a window, counted."""

    total: int
    succeeded: int
    failed: int
    stopped: int
    in_progress: int
    """Not finished yet: created, queued, in progress, baking or ready."""
    median_duration_seconds: float | None
    """Of the finished ones that started: start to completion."""
    change_failure_rate: float | None
    """Failed among the finished (succeeded, failed, stopped); None before any finished."""
    complete: bool
    """False when the window held more than ``MAX_STATS_DEPLOYMENTS``: the newest counted."""


@dataclass(frozen=True, slots=True)
class Window:
    """Up to ``count`` ids from a paged list, each with the position a cursor can resume at."""

    items: list[tuple[str | None, int, str]]
    has_next: bool


class Resolvers:
    """A resolver per account and region the accounts list, all sharing the caches (whose
    keys name the account and region) and made on first use."""

    def __init__(self, upstreams: Upstreams, caches: Caches, tokens: PageTokens) -> None:
        self.accounts = upstreams.accounts
        self.caches = caches
        self._upstreams = upstreams
        self._tokens = tokens
        self._resolvers: dict[Target, Resolver] = {}

    def at(self, target: Target) -> "Resolver":
        """``target``'s resolver; a ``KeyError`` for one the accounts do not list (a
        replica's message naming it), so what is kept here stays bounded by the file."""
        resolver = self._resolvers.get(target)
        if resolver is None:
            if target not in self.accounts:
                raise KeyError(f"{target} is not read")
            resolver = Resolver(self._upstreams.get(target), self.caches, self._tokens)
            self._resolvers[target] = resolver
        return resolver

    def of(
        self,
        account: str | None,
        region: str | None,
        grants: Grants = EVERY_ACCOUNT,
        *,
        caller: str | None = None,
    ) -> "Resolver":
        """The resolver of ``account`` in ``region`` (the default account, the account's
        first region, when not named), before anything is read: ``Forbidden`` (logged with
        ``caller``) for an account ``grants`` leaves out, then ``NotFound`` for one not
        configured."""
        try:
            return self._find(account, region, grants)
        except Forbidden:
            alias = account if account is not None else self.accounts.default.account
            logger.warning("%s may not read account %s", caller, echo(alias))
            raise

    def peek(self, account: str | None, region: str | None, grants: Grants) -> "Resolver | None":
        """``of``'s resolver without its errors: None where ``of`` would raise."""
        try:
            return self._find(account, region, grants)
        except GatewayError:
            return None

    def _find(self, account: str | None, region: str | None, grants: Grants) -> "Resolver":
        alias = account if account is not None else self.accounts.default.account
        grants.check(alias, named=account is not None)
        return self.at(self.accounts.target(account, region))


class Resolver:
    """Answers both faces' questions from the cache, or from CodeDeploy on a miss.

    Batch and list reads fill the same per-instance entries single reads use.
    """

    def __init__(self, codedeploy: CodeDeploy, caches: Caches, tokens: PageTokens) -> None:
        self._codedeploy = codedeploy
        self.target = codedeploy.target
        self.caches = caches
        self._tokens = tokens.scoped(str(self.target))

    def _key(self, *parts: object) -> Key:
        return (self.target.account, self.target.region, *parts)

    async def deployment_instance(
        self, deployment_id: str, instance_id: str, *, refresh: bool = False
    ) -> Cached[Snapshot[InstanceSummary]]:
        _require(deployment_id=deployment_id, instance_id=instance_id)

        async def load() -> Snapshot[InstanceSummary]:
            return Snapshot(await self._codedeploy.get_instance(deployment_id, instance_id))

        return await self.caches.instances.get(
            self._key(deployment_id, instance_id), load, refresh=refresh
        )

    def stored_instance(
        self, deployment_id: str, instance_id: str
    ) -> Cached[Snapshot[InstanceSummary]] | None:
        """The cached answer for an instance, if any, without a call or an await."""
        return self.caches.instances.peek(self._key(deployment_id, instance_id))

    async def deployment_instances(
        self, deployment_id: str, instance_ids: Sequence[str], *, refresh: bool = False
    ) -> list[Outcome]:
        """Each id's summary or error, in order; misses go upstream in batches of 25."""
        _require(deployment_id=deployment_id)
        keys = {self._key(deployment_id, instance_id): instance_id for instance_id in instance_ids}

        async def load(missing: list[Key]) -> dict[Key, Snapshot[InstanceSummary] | GatewayError]:
            ids = [keys[key] for key in missing]
            outcomes: dict[str, InstanceSummary | GatewayError] = {
                instance_id: error
                for instance_id in ids
                if (error := _instance_id_error(instance_id)) is not None
            }
            asked = [instance_id for instance_id in ids if instance_id not in outcomes]
            if asked:
                outcomes.update(await self._codedeploy.batch_get_instances(deployment_id, asked))
            return {
                self._key(deployment_id, instance_id): _freeze(outcomes[instance_id])
                for instance_id in ids
            }

        return await self.caches.instances.get_many(list(keys), load, refresh=refresh)

    async def instance_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
        refresh: bool = False,
    ) -> Cached[IdPage]:
        _require(deployment_id=deployment_id)
        token = self._tokens.open(next_token)
        # Filters are sets: every order and repeat of them shares one entry and one call.
        statuses, instance_types = filters(statuses), filters(instance_types)
        key = self._key("instance-ids", deployment_id, statuses, instance_types, token)
        page = await self.caches.pages.get(
            key,
            lambda: self._codedeploy.list_instance_ids(
                deployment_id,
                statuses=statuses,
                instance_types=instance_types,
                next_token=token,
            ),
            refresh=refresh,
        )
        return self._sealed(page)

    def _sealed(self, page: Cached[IdPage]) -> Cached[IdPage]:
        """The page as callers see it: its ``next_token`` one of the gateway's own."""
        if page.value.next_token is None:
            return page
        sealed = self._tokens.seal(page.value.next_token)
        return Cached(IdPage.model_construct(ids=page.value.ids, next_token=sealed), page.cache)

    async def deployment(
        self, deployment_id: str, *, refresh: bool = False
    ) -> Cached[Snapshot[DeploymentInfo]]:
        _require(deployment_id=deployment_id)

        async def load() -> Snapshot[DeploymentInfo]:
            return Snapshot(await self._codedeploy.get_deployment(deployment_id))

        return await self.caches.deployments.get(self._key(deployment_id), load, refresh=refresh)

    async def deployment_target(
        self, deployment_id: str, target_id: str, *, refresh: bool = False
    ) -> Cached[Snapshot[DeploymentTarget]]:
        _require(deployment_id=deployment_id, target_id=target_id)

        async def load() -> Snapshot[DeploymentTarget]:
            return Snapshot(await self._codedeploy.get_target(deployment_id, target_id))

        return await self.caches.targets.get(
            self._key(deployment_id, target_id), load, refresh=refresh
        )

    async def deployment_targets(
        self, deployment_id: str, target_ids: Sequence[str], *, refresh: bool = False
    ) -> list[Cached[Snapshot[DeploymentTarget]] | GatewayError]:
        _require(deployment_id=deployment_id)
        keys = {self._key(deployment_id, target_id): target_id for target_id in target_ids}

        async def load(missing: list[Key]) -> dict[Key, Snapshot[DeploymentTarget] | GatewayError]:
            ids = [keys[key] for key in missing]
            outcomes = await self._codedeploy.batch_get_targets(deployment_id, ids)
            return {
                self._key(deployment_id, target_id): _freeze(outcomes[target_id])
                for target_id in ids
            }

        return await self.caches.targets.get_many(list(keys), load, refresh=refresh)

    async def target_ids(
        self, deployment_id: str, *, next_token: str | None = None, refresh: bool = False
    ) -> Cached[IdPage]:
        _require(deployment_id=deployment_id)
        token = self._tokens.open(next_token)
        page = await self.caches.pages.get(
            self._key("target-ids", deployment_id, token),
            lambda: self._codedeploy.list_target_ids(deployment_id, next_token=token),
            refresh=refresh,
        )
        return self._sealed(page)

    # --- discovery -------------------------------------------------------------------

    async def application_names(self, *, next_token: str | None = None) -> Cached[IdPage]:
        token = self._tokens.open(next_token)
        page = await self.caches.pages.get(
            self._key("applications", token),
            lambda: self._codedeploy.list_applications(next_token=token),
        )
        return self._sealed(page)

    async def application(self, name: str) -> Cached[Snapshot[ApplicationInfo]]:
        _require_application(name)

        async def load() -> Snapshot[ApplicationInfo]:
            return Snapshot(await self._codedeploy.get_application(name))

        return await self.caches.applications.get(self._key("application", name), load)

    async def applications(
        self, names: Sequence[str]
    ) -> list[Cached[Snapshot[ApplicationInfo]] | GatewayError]:
        """Each name's application or error, in order; misses batch-read, 100 a call."""
        keys = {self._key("application", name): name for name in names}

        async def load(missing: list[Key]) -> dict[Key, Snapshot[ApplicationInfo] | GatewayError]:
            outcomes = await self._codedeploy.batch_get_applications([keys[k] for k in missing])
            return {key: _freeze(outcomes[keys[key]]) for key in missing}

        return await self.caches.applications.get_many(list(keys), load)

    async def group_names(
        self, application: str, *, next_token: str | None = None
    ) -> Cached[IdPage]:
        _require_application(application)
        token = self._tokens.open(next_token)
        page = await self.caches.pages.get(
            self._key("groups", application, token),
            lambda: self._codedeploy.list_deployment_groups(application, next_token=token),
        )
        return self._sealed(page)

    async def deployment_group(
        self, application: str, group: str
    ) -> Cached[Snapshot[DeploymentGroupInfo]]:
        _require_application(application)
        _require_group(group)

        async def load() -> Snapshot[DeploymentGroupInfo]:
            return Snapshot(await self._codedeploy.get_deployment_group(application, group))

        return await self.caches.groups.get(self._key("group", application, group), load)

    async def deployment_groups(
        self, application: str, groups: Sequence[str]
    ) -> list[Cached[Snapshot[DeploymentGroupInfo]] | GatewayError]:
        """Each group's info or error, in order; misses batch-read, 100 a call."""
        _require_application(application)
        keys = {self._key("group", application, group): group for group in groups}

        async def load(
            missing: list[Key],
        ) -> dict[Key, Snapshot[DeploymentGroupInfo] | GatewayError]:
            asked = [keys[key] for key in missing]
            outcomes = await self._codedeploy.batch_get_deployment_groups(application, asked)
            return {key: _freeze(outcomes[keys[key]]) for key in missing}

        return await self.caches.groups.get_many(list(keys), load)

    async def deployment_ids(
        self,
        *,
        application: str | None = None,
        group: str | None = None,
        statuses: Sequence[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        next_token: str | None = None,
    ) -> Cached[IdPage]:
        """Deployment ids, newest first; filters normalised, so equal lists share a call."""
        if application is not None:
            _require_application(application)
        if group is not None:
            _require_group(group)
        token = self._tokens.open(next_token)
        statuses = filters(statuses)
        after, before = _utc(created_after), _utc(created_before)
        key = self._key("deployment-ids", application, group, statuses, after, before, token)
        page = await self.caches.pages.get(
            key,
            lambda: self._codedeploy.list_deployment_ids(
                application=application,
                group=group,
                statuses=statuses,
                created_after=after,
                created_before=before,
                next_token=token,
            ),
        )
        return self._sealed(page)

    async def deployments(
        self, deployment_ids: Sequence[str]
    ) -> list[Cached[Snapshot[DeploymentInfo]] | GatewayError]:
        """Each id's deployment or error, in order, from the entries ``deployment`` reads
        and fills; misses batch-read, 25 a call, concurrently."""
        keys = {self._key(deployment_id): deployment_id for deployment_id in deployment_ids}

        async def load(missing: list[Key]) -> dict[Key, Snapshot[DeploymentInfo] | GatewayError]:
            outcomes = await self._codedeploy.batch_get_deployments([keys[k] for k in missing])
            return {key: _freeze(outcomes[keys[key]]) for key in missing}

        return await self.caches.deployments.get_many(list(keys), load)

    async def group_stats(self, application: str, group: str, since: datetime) -> GroupStats:
        """The group's deployments created since ``since``, counted: the newest
        ``MAX_STATS_DEPLOYMENTS`` of them, read through the cache."""
        ids: list[str] = []
        token = None
        while len(ids) < MAX_STATS_DEPLOYMENTS:
            page = await self.deployment_ids(
                application=application, group=group, created_after=since, next_token=token
            )
            ids += page.value.ids
            token = page.value.next_token
            if token is None:
                break
        complete = token is None and len(ids) <= MAX_STATS_DEPLOYMENTS
        infos = [
            outcome.value.model
            for outcome in await self.deployments(ids[:MAX_STATS_DEPLOYMENTS])
            if not isinstance(outcome, GatewayError)
        ]
        statuses = Counter(info.status for info in infos)
        durations = sorted(
            (info.complete_time - info.start_time).total_seconds()
            for info in infos
            if info.is_terminal and info.start_time and info.complete_time
        )
        finished = statuses["Succeeded"] + statuses["Failed"] + statuses["Stopped"]
        return GroupStats(
            total=len(infos),
            succeeded=statuses["Succeeded"],
            failed=statuses["Failed"],
            stopped=statuses["Stopped"],
            in_progress=len(infos) - finished,
            median_duration_seconds=statistics.median(durations) if durations else None,
            change_failure_rate=statuses["Failed"] / finished if finished else None,
            complete=complete,
        )

    def reads_targets(self, compute_platform: str | None) -> bool:
        """Whether a deployment's fleet is read as targets: any platform but EC2/on-premises
        (``Server``), and every platform when the gateway reads the targets API."""
        return compute_platform != "Server" or self._codedeploy.api == "targets"

    def forget(
        self, deployment_id: str, item_id: str | None = None, *, shared: bool = False
    ) -> None:
        """Drops what is stored of a deployment (and of one of its instances or targets),
        so the next read of it asks CodeDeploy: told that it changed. ``shared``: from
        the fleet's store too (once, by the replica told first)."""
        self.caches.deployments.forget(self._key(deployment_id), shared=shared)
        if item_id is not None:
            self.caches.instances.forget(self._key(deployment_id, item_id), shared=shared)
            self.caches.targets.forget(self._key(deployment_id, item_id), shared=shared)


def filters(values: Iterable[str]) -> tuple[str, ...]:
    """A list filter in its one canonical form: sorted, each value once."""
    return tuple(sorted(set(values)))


def batch_calls(ids: int) -> int:
    """Upstream calls a batch read of ``ids`` uncached ids makes."""
    return -(-ids // BATCH_LIMIT)


async def window(
    page: ListPage,
    *,
    token: str | None,
    start: int,
    count: int,
) -> Window:
    """``count`` ids from position ``start`` of the page at ``token`` onwards, read from
    at most ``list_pages(count, token)`` pages, what the GraphQL estimate counts: when
    CodeDeploy answers with smaller pages than its usual 100, the window is shorter and
    says there is more, rather than cost more than the caller was charged."""
    items: list[tuple[str | None, int, str]] = []
    for _ in range(list_pages(count, after=token is not None or start > 0)):
        ids = (await page(token)).value
        taken = ids.ids[start : start + count - len(items)]
        items.extend((token, start + offset, id_) for offset, id_ in enumerate(taken))
        if start + len(taken) < len(ids.ids):
            return Window(items, has_next=True)
        if ids.next_token is None:
            return Window(items, has_next=False)
        if len(items) == count:
            return Window(items, has_next=True)
        token, start = ids.next_token, 0
    return Window(items, has_next=True)


def list_pages(count: int, *, after: bool) -> int:
    """List pages a window of ``count`` ids reads at most: ⌈count / page⌉ from the
    first page; from a cursor, which may sit anywhere in its page, one more."""
    return max(1, -(-count // LIST_PAGE_SIZE) + after)


M = TypeVar("M", bound=BaseModel)


def _freeze(outcome: M | GatewayError) -> Snapshot[M] | GatewayError:
    return outcome if isinstance(outcome, GatewayError) else Snapshot(outcome)


# What an id CodeDeploy issues or accepts can hold: EC2 ids, on-premises names, ARNs,
# Lambda function:alias, ECS cluster:service. Anything else is refused before a call.
ID_PATTERN = r"[A-Za-z0-9._:/@+=,-]{1,256}"
_ID = re.compile(ID_PATTERN)


def _id_error(value: str, what: str, required: str, invalid: str) -> GatewayError | None:
    """CodeDeploy's own answer for an empty or malformed id, given without a call."""
    if not value:
        return InvalidRequest(f"{what} is required.", code=required)
    if not _ID.fullmatch(value):
        return InvalidRequest(
            f"{what} must be 1 to 256 letters, digits or . _ : / @ + = , - characters.",
            code=invalid,
        )
    return None


def _instance_id_error(instance_id: str) -> GatewayError | None:
    return _id_error(
        instance_id, "Instance ID", "InstanceIdRequiredException", "InvalidInstanceNameException"
    )


# Application and deployment group names: 1 to 100 characters, as CodeDeploy takes them.
NAME_PATTERN = r"[A-Za-z0-9._+=,@ -]{1,100}"
_NAME = re.compile(NAME_PATTERN)


def _utc(moment: datetime | None) -> datetime | None:
    """An instant in UTC, one key for every offset it can be written in."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # year 1 at +14:00 has no UTC year
        raise InvalidRequest(
            "A time is outside the years CodeDeploy can store.", code="InvalidTimeRangeException"
        ) from exc


def _require_application(name: str) -> None:
    _require_name(
        name,
        "Application name",
        "ApplicationNameRequiredException",
        "InvalidApplicationNameException",
    )


def _require_group(name: str) -> None:
    _require_name(
        name,
        "Deployment group name",
        "DeploymentGroupNameRequiredException",
        "InvalidDeploymentGroupNameException",
    )


def _require_name(value: str, what: str, required: str, invalid: str) -> None:
    """CodeDeploy's own answer for an empty or malformed name, given without a call."""
    if not value:
        raise InvalidRequest(f"{what} is required.", code=required)
    if not _NAME.fullmatch(value):
        raise InvalidRequest(
            f"{what} must be 1 to 100 letters, digits, spaces or . _ + = , @ - characters.",
            code=invalid,
        )


def _require(
    *, deployment_id: str, instance_id: str | None = None, target_id: str | None = None
) -> None:
    error = _id_error(
        deployment_id,
        "Deployment ID",
        "DeploymentIdRequiredException",
        "InvalidDeploymentIdException",
    )
    if error is None and instance_id is not None:
        error = _instance_id_error(instance_id)
    if error is None and target_id is not None:
        error = _id_error(
            target_id,
            "Target ID",
            "DeploymentTargetIdRequiredException",
            "InvalidDeploymentTargetIdException",
        )
    if error is not None:
        raise error


V = TypeVar("V")


def make_caches(
    settings: Settings,
    metrics: Metrics,
    clock: Callable[[], float] = time.monotonic,
    store: Store | None = None,
) -> Caches:
    """The caches with the gateway's status-aware lifetimes, reporting to ``metrics``;
    with a ``store``, each has the fleet's shared second level behind it."""

    def by_status(value: Snapshot[Any]) -> float:
        if value.terminal:
            return settings.cache_terminal_ttl_seconds
        return settings.cache_ttl_seconds

    def error_ttl(error: GatewayError) -> float:
        return settings.cache_negative_ttl_seconds if isinstance(error, NotFound) else 0.0

    def new(
        name: str, value_ttl: Callable[[V], float], size: Callable[[V], int], codec: Codec[V]
    ) -> ResultCache[V]:
        shared = None
        if store is not None:

            def ttl(outcome: V | GatewayError) -> float:
                if isinstance(outcome, GatewayError):
                    return error_ttl(outcome)
                return value_ttl(outcome)

            # A holder whose call runs to the deadline still answers within its lease.
            lease = settings.upstream_timeout_seconds + 1
            shared = SharedTier(store, name, codec, ttl=ttl, lease_seconds=lease)
        cache: ResultCache[V] = ResultCache(
            max_entries=settings.cache_max_entries,
            max_bytes=settings.cache_max_bytes,
            size=size,
            value_ttl=value_ttl,
            error_ttl=error_ttl,
            clock=clock,
            observe=partial(metrics.cache_event, name),
            shared=shared,
        )
        metrics.cache_entries.labels(name).set_function(cache.__len__)
        return cache

    def body(snapshot: Snapshot[Any]) -> int:
        return len(snapshot.body)

    def ids(page: IdPage) -> int:
        # A str object is ~49 bytes before its characters.
        return sum(49 + len(id_) for id_ in page.ids) + len(page.next_token or "")

    instances: ResultCache[Snapshot[InstanceSummary]] = new(
        "instances", by_status, body, SnapshotCodec(InstanceSummary)
    )
    deployments: ResultCache[Snapshot[DeploymentInfo]] = new(
        "deployments", by_status, body, SnapshotCodec(DeploymentInfo)
    )
    targets: ResultCache[Snapshot[DeploymentTarget]] = new(
        "targets", by_status, body, SnapshotCodec(DeploymentTarget)
    )
    # A page lists a fleet whose statuses move: the short lifetime.
    pages: ResultCache[IdPage] = new(
        "pages", lambda _: settings.cache_ttl_seconds, ids, ModelCodec(IdPage)
    )
    # An application or group has no final state: its last deployments move.
    applications: ResultCache[Snapshot[ApplicationInfo]] = new(
        "applications", by_status, body, SnapshotCodec(ApplicationInfo)
    )
    groups: ResultCache[Snapshot[DeploymentGroupInfo]] = new(
        "groups", by_status, body, SnapshotCodec(DeploymentGroupInfo)
    )
    return Caches(instances, deployments, targets, pages, applications, groups)
