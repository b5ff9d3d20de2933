"""Where the REST routes stand: under ``/v1`` for the default account in its default
region, and each of them again under ``/v1/accounts/{account}/regions/{region}``."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path
from fastapi.routing import APIRoute

from service.edge.paths import ACCOUNT_API, API
from service.rest import accounts, discovery, events, routes
from service.rest.problems import problem_responses

ROUTERS = (routes.router, events.router, discovery.router)
# An account route's operation id: the default route's, then this.
IN_ACCOUNT = "InAccount"


async def addressed(
    account: Annotated[
        str,
        Path(
            description="An account's alias, as GATEWAY_ACCOUNTS_FILE names it.",
            openapi_examples={"staging": {"summary": "Demo account", "value": "staging"}},
        ),
    ],
    region: Annotated[
        str,
        Path(
            description="One of the regions the accounts file lists for the account.",
            openapi_examples={"us": {"summary": "Demo region", "value": "us-east-1"}},
        ),
    ],
) -> None:
    """Declares the account routes' parameters; the resolver dependency reads them."""


def _mirrored() -> APIRouter:
    """Every ``/v1`` route again under its account and region."""
    router = APIRouter(
        prefix=ACCOUNT_API,
        tags=["by account and region"],
        dependencies=[Depends(addressed)],
        responses=problem_responses(403, 404),
    )
    for source in ROUTERS:
        for route in source.routes:
            assert isinstance(route, APIRoute)
            copied: dict[str, Any] = {
                name: getattr(route, name)
                for name in (
                    "endpoint",
                    "response_model",
                    "status_code",
                    "description",
                    "response_description",
                    "responses",
                    "methods",
                    "response_class",
                    "include_in_schema",
                    "openapi_extra",
                )
            }
            router.add_api_route(
                route.path.removeprefix(API),
                summary=f"{route.summary} (by account and region)",
                operation_id=f"{route.operation_id}{IN_ACCOUNT}",
                name=f"{route.name}_in_account",
                **copied,
            )
    return router


mirrored = _mirrored()


def include(app: FastAPI) -> None:
    for router in (*ROUTERS, mirrored):
        app.include_router(router, responses=problem_responses(403))
    app.include_router(accounts.router)  # about the accounts: not under one


def addressed_routes(operation_id: str) -> list[APIRoute]:
    """The route of ``operation_id`` and its account route, for the edge to match
    requests with their patterns."""
    wanted = {operation_id, operation_id + IN_ACCOUNT}
    return [
        candidate
        for router in (*ROUTERS, mirrored)
        for candidate in router.routes
        if isinstance(candidate, APIRoute) and candidate.operation_id in wanted
    ]
