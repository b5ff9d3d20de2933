"""Per-request GraphQL context: the shared resolver and this request's DataLoaders."""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import strawberry
from pydantic import BaseModel
from strawberry.dataloader import DataLoader

from service import models
from service.cache import Cached
from service.errors import GatewayError
from service.live import Watchers
from service.models import Snapshot
from service.resolver import Resolver

Key = tuple[str, str]
"""(deploymentId, instanceId or targetId)"""

M = TypeVar("M", bound=BaseModel)


def _loader(
    read: Callable[[str, Sequence[str]], Awaitable[Sequence[Cached[Snapshot[M]] | GatewayError]]],
) -> DataLoader[Key, M]:
    """Collects one operation's reads; each deployment's ids go to ``read`` together."""

    async def load(keys: list[Key]) -> list[M | BaseException]:
        by_deployment: dict[str, list[str]] = defaultdict(list)
        for deployment_id, item_id in keys:
            by_deployment[deployment_id].append(item_id)
        answers = await asyncio.gather(
            *(read(deployment_id, ids) for deployment_id, ids in by_deployment.items())
        )
        found: dict[Key, M | BaseException] = {}
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
    caller: str


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


class Context:
    """Made fresh for every operation, so a DataLoader never outlives it (a subscription's
    is emptied before each event)."""

    def __init__(self, resolver: Resolver, live: Live | None = None) -> None:
        self.resolver = resolver
        self.live = live
        self.instances: DataLoader[Key, models.InstanceSummary] = _loader(
            resolver.deployment_instances
        )
        self.targets: DataLoader[Key, models.DeploymentTarget] = _loader(
            resolver.deployment_targets
        )

        self.groups: DataLoader[Key, models.DeploymentGroupInfo] = _loader(
            resolver.deployment_groups
        )
        self.applications: DataLoader[str, models.ApplicationInfo] = DataLoader(
            load_fn=partial(_models, resolver.applications)
        )
        self.deployments: DataLoader[str, Snapshot[models.DeploymentInfo]] = DataLoader(
            load_fn=partial(_snapshots, resolver.deployments)
        )

    def forget(self) -> None:
        """Empties the loaders: a subscription's context outlives each event it runs."""
        for loader in (self.instances, self.targets, self.groups, self.applications):
            loader.clear_all()
        self.deployments.clear_all()


Info = strawberry.Info[Context, None]
