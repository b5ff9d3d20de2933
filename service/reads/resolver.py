"""The reads both faces make: from the cache, or from CodeDeploy on a miss.

Batch and list reads fill the same per-item entries single reads use; every read checks
its input as CodeDeploy would first, so a malformed id costs no call.
"""

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, replace
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

from service.cache import Cached, ResultCache
from service.codedeploy import CodeDeploy, DeploymentFilter
from service.codedeploy.inputs import (
    instance_id_error,
    require_application,
    require_group,
    require_ids,
    utc,
)
from service.errors import GatewayError, NotFound, UnsupportedComputePlatform
from service.models import (
    ApplicationInfo,
    DeploymentGroupInfo,
    DeploymentInfo,
    DeploymentTarget,
    IdPage,
    InstanceSummary,
)
from service.reads import costs
from service.reads.caches import Caches
from service.reads.pages import Listing, ListPage
from service.snapshot import Snapshot
from service.tokens import Cursors

InstanceOutcome = Cached[Snapshot[InstanceSummary]] | GatewayError
CacheKey = tuple[object, ...]
ItemKind = Literal["instance", "target"]
M = TypeVar("M", bound=BaseModel)

# Ids one batch read may ask for, on either face: four upstream calls at most.
MAX_BATCH_IDS = 100


class IdPages(Protocol):
    """One page of a deployment's item ids."""

    def __call__(
        self,
        deployment_id: str,
        /,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
        refresh: bool = False,
    ) -> Awaitable[Cached[IdPage]]: ...


class ItemReads(Protocol):
    """Each item's answer or error, in order."""

    def __call__(
        self, deployment_id: str, ids: Sequence[str], /, *, refresh: bool = False
    ) -> Awaitable[Sequence[Cached[Snapshot[Any]] | GatewayError]]: ...


@dataclass(frozen=True, slots=True)
class FleetReads:
    """A deployment's fleet, read one way: its instances or its targets (``Resolver.fleet``
    chooses), so a caller that follows a fleet need not know which."""

    kind: ItemKind
    ids: IdPages
    items: ItemReads


class Resolver:
    """Answers both faces' questions from the cache, or from CodeDeploy on a miss."""

    def __init__(self, codedeploy: CodeDeploy, caches: Caches, cursors: Cursors) -> None:
        self._codedeploy = codedeploy
        self.where = codedeploy.where
        self.caches = caches
        self._cursors = cursors.scoped(str(self.where))
        self._instances = FleetReads("instance", self.instance_ids, self.deployment_instances)
        self._targets = FleetReads("target", self.target_ids, self.deployment_targets)

    def _key(self, *parts: object) -> CacheKey:
        return (self.where.account, self.where.region, *parts)

    def fleet(self, compute_platform: str | None) -> "FleetReads":
        """How a deployment's fleet is read: as targets on any platform but EC2/on-premises
        (``Server``), and on every platform when the gateway reads the targets API."""
        if compute_platform != "Server" or self._codedeploy.api == "targets":
            return self._targets
        return self._instances

    def reads_alone(self, kind: str) -> bool:
        """Whether a batch of ``kind`` (``application``, ``instance``, ``target``) a caller
        chose may be read one id at a time (``costs.read_alone``)."""
        return kind in costs.read_alone(self._codedeploy.api)

    def fleet_of(self, kind: ItemKind) -> "FleetReads":
        """A fleet read as the caller asked: its instances, or its targets."""
        return self._instances if kind == "instance" else self._targets

    async def deployment_instance(
        self, deployment_id: str, instance_id: str, *, refresh: bool = False
    ) -> Cached[Snapshot[InstanceSummary]]:
        require_ids(deployment_id=deployment_id, instance_id=instance_id)

        async def load() -> Snapshot[InstanceSummary]:
            try:
                return Snapshot(await self._codedeploy.instances.get(deployment_id, instance_id))
            except NotFound:
                await self._require_server(deployment_id)
                raise

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
    ) -> list[InstanceOutcome]:
        """Each id's summary or error, in order; misses go upstream in batches."""
        require_ids(deployment_id=deployment_id)

        async def read(ids: list[str]) -> Mapping[str, InstanceSummary | GatewayError]:
            # A malformed id fails alone, without a call; the others are asked together.
            outcomes: dict[str, InstanceSummary | GatewayError] = {
                id_: error for id_ in ids if (error := instance_id_error(id_)) is not None
            }
            asked = [id_ for id_ in ids if id_ not in outcomes]
            if asked:
                outcomes.update(await self._codedeploy.instances.batch_get(deployment_id, asked))
            if any(isinstance(outcome, NotFound) for outcome in outcomes.values()):
                await self._require_server(deployment_id)
            return outcomes

        return await self._many(
            self.caches.instances, (deployment_id,), instance_ids, read, refresh=refresh
        )

    async def instance_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
        refresh: bool = False,
    ) -> Cached[IdPage]:
        require_ids(deployment_id=deployment_id)
        # Filters are sets: every order and repeat of them shares one entry and one call.
        statuses, instance_types = filters(statuses), filters(instance_types)
        key = self._key("instance-ids", deployment_id, statuses, instance_types, next_token)

        async def load() -> IdPage:
            if next_token is None:
                await self._require_server(deployment_id)
            return await self._codedeploy.instances.list_ids(
                deployment_id,
                statuses=statuses,
                instance_types=instance_types,
                next_token=next_token,
            )

        return await self.caches.pages.get(key, load, refresh=refresh)

    async def _require_server(self, deployment_id: str) -> None:
        """In targets mode, an instance read of a Lambda or ECS deployment is refused as
        the instance calls refuse it (422), not answered with target ids or a 404: one
        GetDeployment (cached), on a first list page or a missing instance only."""
        if self._codedeploy.api != "targets":
            return
        platform = (await self.deployment(deployment_id)).value.model.compute_platform
        if platform not in (None, "Server"):
            raise UnsupportedComputePlatform(
                "The deployment is not EC2/on-premises; read its targets instead."
            )

    async def deployment(
        self, deployment_id: str, *, refresh: bool = False
    ) -> Cached[Snapshot[DeploymentInfo]]:
        require_ids(deployment_id=deployment_id)

        async def load() -> Snapshot[DeploymentInfo]:
            return Snapshot(await self._codedeploy.get_deployment(deployment_id))

        return await self.caches.deployments.get(self._key(deployment_id), load, refresh=refresh)

    async def deployment_target(
        self, deployment_id: str, target_id: str, *, refresh: bool = False
    ) -> Cached[Snapshot[DeploymentTarget]]:
        require_ids(deployment_id=deployment_id, target_id=target_id)

        async def load() -> Snapshot[DeploymentTarget]:
            return Snapshot(await self._codedeploy.get_target(deployment_id, target_id))

        return await self.caches.targets.get(
            self._key(deployment_id, target_id), load, refresh=refresh
        )

    async def deployment_targets(
        self, deployment_id: str, target_ids: Sequence[str], *, refresh: bool = False
    ) -> list[Cached[Snapshot[DeploymentTarget]] | GatewayError]:
        require_ids(deployment_id=deployment_id)
        read = partial(self._codedeploy.batch_get_targets, deployment_id)
        return await self._many(
            self.caches.targets, (deployment_id,), target_ids, read, refresh=refresh
        )

    async def target_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
        refresh: bool = False,
    ) -> Cached[IdPage]:
        require_ids(deployment_id=deployment_id)
        statuses, instance_types = filters(statuses), filters(instance_types)
        return await self.caches.pages.get(
            self._key("target-ids", deployment_id, statuses, instance_types, next_token),
            lambda: self._codedeploy.list_target_ids(
                deployment_id,
                statuses=statuses,
                instance_types=instance_types,
                next_token=next_token,
            ),
            refresh=refresh,
        )

    # --- discovery -------------------------------------------------------------------

    async def application_names(self, *, next_token: str | None = None) -> Cached[IdPage]:
        return await self.caches.pages.get(
            self._key("applications", next_token),
            lambda: self._codedeploy.list_applications(next_token=next_token),
        )

    async def application(self, name: str) -> Cached[Snapshot[ApplicationInfo]]:
        require_application(name)

        async def load() -> Snapshot[ApplicationInfo]:
            return Snapshot(await self._codedeploy.get_application(name))

        return await self.caches.applications.get(self._key("application", name), load)

    async def applications(
        self, names: Sequence[str]
    ) -> list[Cached[Snapshot[ApplicationInfo]] | GatewayError]:
        """Each name's application or error, in order; misses batch-read, 100 a call."""
        read = self._codedeploy.batch_get_applications
        return await self._many(self.caches.applications, ("application",), names, read)

    async def group_names(
        self, application: str, *, next_token: str | None = None
    ) -> Cached[IdPage]:
        require_application(application)
        return await self.caches.pages.get(
            self._key("groups", application, next_token),
            lambda: self._codedeploy.list_deployment_groups(application, next_token=next_token),
        )

    async def deployment_group(
        self, application: str, group: str, *, refresh: bool = False
    ) -> Cached[Snapshot[DeploymentGroupInfo]]:
        require_application(application)
        require_group(group)

        async def load() -> Snapshot[DeploymentGroupInfo]:
            return Snapshot(await self._codedeploy.get_deployment_group(application, group))

        key = self._key("group", application, group)
        return await self.caches.groups.get(key, load, refresh=refresh)

    async def deployment_groups(
        self, application: str, groups: Sequence[str]
    ) -> list[Cached[Snapshot[DeploymentGroupInfo]] | GatewayError]:
        """Each group's info or error, in order; misses batch-read, 100 a call."""
        require_application(application)
        read = partial(self._codedeploy.batch_get_deployment_groups, application)
        return await self._many(self.caches.groups, ("group", application), groups, read)

    async def deployment_ids(
        self, listed: DeploymentFilter, *, next_token: str | None = None, refresh: bool = False
    ) -> Cached[IdPage]:
        """Deployment ids, newest first; filters normalised, so equal lists share a call."""
        listed = _normalised(listed)
        return await self.caches.pages.get(
            self._key("deployment-ids", listed, next_token),
            lambda: self._codedeploy.list_deployment_ids(listed, next_token=next_token),
            refresh=refresh,
        )

    async def deployments(
        self, deployment_ids: Sequence[str]
    ) -> list[Cached[Snapshot[DeploymentInfo]] | GatewayError]:
        """Each id's deployment or error, in order, from the entries ``deployment`` reads
        and fills; misses batch-read, concurrently."""
        read = self._codedeploy.batch_get_deployments
        return await self._many(self.caches.deployments, (), deployment_ids, read)

    # --- lists, as both faces page through them ---------------------------------------

    def _listing(self, list_page: ListPage, *binding: object) -> Listing:
        return Listing(json.dumps(binding, default=str), list_page, self._cursors)

    def fleet_list(
        self,
        kind: ItemKind,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
    ) -> Listing:
        """A deployment's instances or targets, filtered by status and blue/green label."""
        require_ids(deployment_id=deployment_id)
        statuses, instance_types = filters(statuses), filters(instance_types)
        ids = self.fleet_of(kind).ids

        def list_page(token: str | None) -> Awaitable[Cached[IdPage]]:
            return ids(
                deployment_id, statuses=statuses, instance_types=instance_types, next_token=token
            )

        return self._listing(list_page, kind, deployment_id, statuses, instance_types)

    def application_list(self) -> Listing:
        return self._listing(lambda token: self.application_names(next_token=token), "applications")

    def group_list(self, application: str) -> Listing:
        require_application(application)
        return self._listing(
            lambda token: self.group_names(application, next_token=token), "groups", application
        )

    def deployment_list(self, listed: DeploymentFilter) -> Listing:
        listed = _normalised(listed)
        return self._listing(
            lambda token: self.deployment_ids(listed, next_token=token),
            "deployments",
            *astuple(listed),
        )

    async def _many(
        self,
        cache: ResultCache[Snapshot[M]],
        scope: tuple[str, ...],
        ids: Sequence[str],
        read: Callable[[list[str]], Awaitable[Mapping[str, M | GatewayError]]],
        *,
        refresh: bool = False,
    ) -> list[Cached[Snapshot[M]] | GatewayError]:
        """Each id's answer or error, in order, from ``cache`` under ``scope`` (what the
        ids are of); the misses ``read`` together, which answers every id it is given."""
        keys = {self._key(*scope, id_): id_ for id_ in ids}

        async def load(missing: list[CacheKey]) -> dict[CacheKey, Snapshot[M] | GatewayError]:
            outcomes = await read([keys[key] for key in missing])
            return {key: _freeze(outcomes[keys[key]]) for key in missing}

        return await cache.get_many(list(keys), load, refresh=refresh)

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


def _freeze(outcome: M | GatewayError) -> Snapshot[M] | GatewayError:
    return outcome if isinstance(outcome, GatewayError) else Snapshot(outcome)


def _normalised(listed: DeploymentFilter) -> DeploymentFilter:
    """One form of each filter: equal lists share a cache entry, a call and their cursors."""
    if listed.application is not None:
        require_application(listed.application)
    if listed.group is not None:
        require_group(listed.group)
    return replace(
        listed,
        statuses=filters(listed.statuses),
        created_after=utc(listed.created_after),
        created_before=utc(listed.created_before),
    )
