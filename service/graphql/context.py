"""Per-request GraphQL context: the shared resolver and this request's DataLoaders."""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
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

    def forget(self) -> None:
        """Empties the loaders: a subscription's context outlives each event it runs."""
        self.instances.clear_all()
        self.targets.clear_all()


Info = strawberry.Info[Context, None]
