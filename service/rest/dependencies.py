"""The routes' dependencies: what the lifespan's state and the request's context hold."""

from typing import Annotated

from fastapi import Depends, Request

from service.guard.ratelimit import Budget
from service.health import Health
from service.live import Watchers
from service.live.follow import Follows
from service.metrics import Metrics
from service.reads import Resolver, Resolvers
from service.request import caller_key, context_of


async def get_resolver(request: Request) -> Resolver:
    """The resolver of the account and region the path names (an account route), else
    of the default ones; 404 or 403 before anything is read."""
    # async: FastAPI runs a sync dependency in a worker thread, a hop on every request.
    resolvers: Resolvers = request.state.resolvers
    params = request.path_params
    return resolvers.of(
        params.get("account"),
        params.get("region"),
        context_of(request.scope).grants,
        caller=caller_key(request.scope),
    )


ResolverDep = Annotated[Resolver, Depends(get_resolver)]


async def get_health(request: Request) -> Health:
    health: Health = request.state.health
    return health


HealthDep = Annotated[Health, Depends(get_health)]


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_budget(request: Request) -> Budget:
    return context_of(request.scope).budget


BudgetDep = Annotated[Budget, Depends(get_budget)]


async def get_watchers(request: Request) -> Watchers:
    watchers: Watchers = request.state.watchers
    return watchers


WatchersDep = Annotated[Watchers, Depends(get_watchers)]


async def get_follows(request: Request) -> Follows:
    follows: Follows = request.state.follows
    return follows


FollowsDep = Annotated[Follows, Depends(get_follows)]
