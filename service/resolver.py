"""The shared resolver layer: the one path from REST and GraphQL to CodeDeploy."""

import time
from collections.abc import Callable

from service.cache import Cached, ResultCache
from service.codedeploy import CodeDeploy
from service.errors import GatewayError, NotFound
from service.models import InstanceSummary
from service.settings import Settings


class Resolver:
    """Answers both faces' questions from the cache, or from CodeDeploy on a miss."""

    def __init__(self, codedeploy: CodeDeploy, cache: ResultCache[InstanceSummary]) -> None:
        self._codedeploy = codedeploy
        self._cache = cache

    @property
    def cache(self) -> ResultCache[InstanceSummary]:
        return self._cache

    async def deployment_instance(
        self, deployment_id: str, instance_id: str, *, refresh: bool = False
    ) -> Cached[InstanceSummary]:
        key = (
            self._codedeploy.region,
            self._codedeploy.endpoint,
            deployment_id,
            instance_id,
        )
        return await self._cache.get(
            key,
            lambda: self._codedeploy.get_deployment_instance(deployment_id, instance_id),
            refresh=refresh,
        )


def instance_cache(
    settings: Settings, clock: Callable[[], float] = time.monotonic
) -> ResultCache[InstanceSummary]:
    """The cache with the gateway's status-aware lifetimes."""

    def value_ttl(summary: InstanceSummary) -> float:
        if summary.is_terminal:
            return settings.cache_terminal_ttl_seconds
        return settings.cache_ttl_seconds

    def error_ttl(error: GatewayError) -> float:
        return settings.cache_negative_ttl_seconds if isinstance(error, NotFound) else 0.0

    return ResultCache(
        max_entries=settings.cache_max_entries,
        value_ttl=value_ttl,
        error_ttl=error_ttl,
        clock=clock,
    )
