"""What the lifespan hands to every request, and the dependency that reads it."""

from typing import Annotated, TypedDict

from fastapi import Depends, Request

from service.resolver import Resolver


class State(TypedDict):
    resolver: Resolver


async def get_resolver(request: Request) -> Resolver:
    # async: FastAPI runs a sync dependency in a worker thread, a hop on every request.
    resolver: Resolver = request.state.resolver
    return resolver


ResolverDep = Annotated[Resolver, Depends(get_resolver)]
