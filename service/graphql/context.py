"""Per-request GraphQL context: the shared resolver and this request's DataLoaders."""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar, cast

import strawberry
from pydantic import BaseModel
from strawberry.dataloader import DataLoader

from service import models
from service.accounts import EVERY_ACCOUNT, AccountRegion, Grants
from service.cache import Cached
from service.errors import GatewayError
from service.guard.ratelimit import FREE, Budget
from service.live import Watchers
from service.live.follow import Follows
from service.reads import Resolver, Resolvers
from service.snapshot import Snapshot

T = TypeVar("T")
ItemKey = tuple[str, str]
"""(deploymentId, instanceId or targetId)"""

M = TypeVar("M", bound=BaseModel)


def _loader(
    read: Callable[[str, Sequence[str]], Awaitable[Sequence[Cached[Snapshot[M]] | GatewayError]]],
) -> DataLoader[ItemKey, M]:
    """Collects one operation's reads; each deployment's ids go to ``read`` together."""

    async def load(keys: list[ItemKey]) -> list[M | BaseException]:
        by_deployment: dict[str, list[str]] = defaultdict(list)
        for deployment_id, item_id in keys:
            by_deployment[deployment_id].append(item_id)
        answers = await asyncio.gather(
            *(read(deployment_id, ids) for deployment_id, ids in by_deployment.items())
        )
        found: dict[ItemKey, M | BaseException] = {}
        for (deployment_id, ids), outcomes in zip(by_deployment.items(), answers, strict=True):
            for item_id, outcome in zip(ids, outcomes, strict=True):
                found[deployment_id, item_id] = (
                    outcome.value.model if isinstance(outcome, Cached) else outcome
                )
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)


@dataclass(frozen=True, slots=True)
class Live:
    """What a subscription needs: the watchers, and whose subscription it is."""

    watchers: Watchers
    follows: Follows
    caller: str
    budget: Budget = FREE
    """Pays the first read of a watcher the subscription starts."""


async def _snapshots(
    read: Callable[[Sequence[str]], Awaitable[Sequence[Cached[Snapshot[M]] | GatewayError]]],
    keys: list[str],
) -> list[Snapshot[M] | BaseException]:
    """One batch of keys read at once: each a snapshot or its error."""
    return [
        outcome.value if isinstance(outcome, Cached) else outcome for outcome in await read(keys)
    ]


async def _models(
    read: Callable[[Sequence[str]], Awaitable[Sequence[Cached[Snapshot[M]] | GatewayError]]],
    keys: list[str],
) -> list[M | BaseException]:
    return [
        outcome if isinstance(outcome, BaseException) else outcome.model
        for outcome in await _snapshots(read, keys)
    ]


async def each_alone(reads: Iterable[Awaitable[T]]) -> list[T | None]:
    """Every read at once, each failing alone: graphql-core answers a ``GatewayError`` in a
    list with null there and the error at its path; any other exception fails the field."""
    outcomes = await asyncio.gather(*reads, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, GatewayError):
            raise outcome
    return cast(list[T | None], outcomes)


class Reads:
    """One account in one region: its resolver, and this operation's loaders for it."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.where = resolver.where
        self.instances: DataLoader[ItemKey, models.InstanceSummary] = _loader(
            resolver.deployment_instances
        )
        self.targets: DataLoader[ItemKey, models.DeploymentTarget] = _loader(
            resolver.deployment_targets
        )
        self.groups: DataLoader[ItemKey, models.DeploymentGroupInfo] = _loader(
            resolver.deployment_groups
        )
        self.applications: DataLoader[str, models.ApplicationInfo] = DataLoader(
            load_fn=partial(_models, resolver.applications)
        )
        self.deployments: DataLoader[str, Snapshot[models.DeploymentInfo]] = DataLoader(
            load_fn=partial(_snapshots, resolver.deployments)
        )

    def forget(self) -> None:
        """Empties the loaders, and lets their last batch go: a loader refers to itself
        (its cache's key function), so what it still holds would wait for the garbage
        collector's full pass instead of going at once."""
        loaders: tuple[DataLoader[Any, Any], ...] = (
            self.instances,
            self.targets,
            self.groups,
            self.applications,
            self.deployments,
        )
        for loader in loaders:
            loader.clear_all()
            loader.batch = None


class Context:
    """Made fresh for every operation, so a DataLoader never outlives it (a subscription's
    is emptied before each event). Root fields pick their account and region with ``at``;
    what they return carries its ``Reads`` down to the fields below."""

    def __init__(
        self,
        resolvers: Resolvers,
        grants: Grants = EVERY_ACCOUNT,
        caller: str | None = None,
        live: Live | None = None,
    ) -> None:
        self.resolvers = resolvers
        self.grants = grants
        self.caller = caller
        self.live = live
        self._reads: dict[AccountRegion, Reads] = {}

    def at(self, account: str | None, region: str | None) -> Reads:
        """The reads of ``account`` in ``region`` (the defaults when None); a coded error
        for an account or region not configured, or not granted, before any call."""
        resolver = self.resolvers.of(account, region, self.grants, caller=self.caller)
        reads = self._reads.get(resolver.where)
        if reads is None:
            reads = self._reads[resolver.where] = Reads(resolver)
        return reads

    def forget(self) -> None:
        """Empties the loaders: a subscription's context outlives each event it runs."""
        for reads in self._reads.values():
            reads.forget()


Info = strawberry.Info[Context, None]

AccountArgument = Annotated[
    str | None,
    strawberry.argument(
        description="The account's alias (GATEWAY_ACCOUNTS_FILE); the default account if "
        "not given. Unknown: ACCOUNT_NOT_FOUND; not granted to the caller: FORBIDDEN."
    ),
]
RegionArgument = Annotated[
    str | None,
    strawberry.argument(
        description="One of the account's regions; its first if not given. Not listed for "
        "the account: REGION_NOT_FOUND."
    ),
]


def account_field() -> Any:
    """An object's ``account`` field: the alias of the account it was read in."""

    def account(parent: strawberry.Parent[Any]) -> str:
        alias: str = parent.reads.where.account
        return alias

    return strawberry.field(
        resolver=account, description="The alias of the account it was read in."
    )


def region_field() -> Any:
    """An object's ``region`` field: the region it was read in."""

    def region(parent: strawberry.Parent[Any]) -> str:
        name: str = parent.reads.where.region
        return name

    return strawberry.field(resolver=region, description="The region it was read in.")


def model_field(
    name: str, shown: Callable[[Any], Any] = lambda value: value, description: str | None = None
) -> Any:
    """A field that is the object's read model's own ``name``, ``shown`` as GraphQL
    types it: the class's annotation says how (``_info`` reads the model, once an
    operation)."""

    async def resolve(root: Any, info: Info) -> Any:
        return shown(getattr(await root._info(info), name))

    return strawberry.field(resolver=resolve, description=description)
