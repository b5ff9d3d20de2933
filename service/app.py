"""The application factory: one lifespan owns the CodeDeploy client and the cache."""

import gc
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from service.accounts import Accounts
from service.codedeploy import UpstreamConfig, Upstreams, resolve_region
from service.codedeploy.budget import LocalBudget, UpstreamBudget
from service.codedeploy.notifications import queue_region, read_queue
from service.edge import access
from service.edge.connections import TOO_LARGE
from service.edge.paths import GRAPHQL, OPENAPI, PROBES, STATIC, path_of
from service.edge.stack import Gateway, Layer, edge
from service.emulator import DEMO_ACCOUNTS, Emulator, EmulatorData, load_data, serve_emulator
from service.errors import GatewayError
from service.fleet.buckets import SharedBuckets
from service.fleet.budget import StoreBudget
from service.fleet.cache import StoreTiers
from service.fleet.live import LiveFleet
from service.fleet.outbox import StoreOutbox
from service.fleet.store import Store
from service.graphql.documents import Documents, load_trusted
from service.graphql.engine import GraphQLEngine
from service.graphql.errors import refusal_response
from service.graphql.federation import federated_schema
from service.graphql.http import GraphQLEndpoint
from service.graphql.limits import Limits
from service.graphql.responses import Responses
from service.graphql.schema import schema
from service.guard import Authenticator, TokenBuckets
from service.guard.ratelimit import Buckets
from service.health import Health
from service.live import Watchers
from service.live.follow import Follows
from service.metrics import Metrics
from service.reads import Resolvers, costs, make_caches
from service.rest import api, docs, operations, webhooks
from service.rest.api import addressed_routes
from service.rest.fastpath import InstanceFastPath
from service.rest.problems import (
    PROBLEM_JSON,
    add_exception_handlers,
    problem_response,
    problem_responses,
)
from service.rest.routes import FILTER_ENUMS
from service.settings import Settings
from service.tokens import Cursors
from service.version import __version__
from service.webhooks import Outbox, SqliteOutbox, Webhooking, Webhooks

logger = logging.getLogger(__name__)

STATIC_FILES = Path(__file__).with_name("static")
# Local mode needs a region and a signature, not a real identity.
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("local", "local")


class State(TypedDict):
    """What the lifespan hands to every request (``request.state``, ``scope["state"]``)."""

    resolvers: Resolvers
    graphql: GraphQLEngine
    health: Health
    metrics: Metrics
    watchers: Watchers
    follows: Follows
    webhooks: Webhooking | None


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    local_data: EmulatorData | None = None,
    health: Health | None = None,
) -> Gateway:
    """The gateway for ``settings``; ``local_data`` spares local mode a second file read,
    and ``health`` lets the server that runs the app mark it draining.

    Raises ``ConfigurationError`` for API keys, a JWKS or accounts file that cannot be used.
    """
    health = health or Health()
    accounts = load_accounts(settings)
    metrics = Metrics()
    authenticator = Authenticator.from_settings(settings, clock, accounts.accounts)
    store = Store.from_settings(settings, metrics)
    if settings.cursor_secret is None:
        if not settings.local:
            logger.warning(
                "GATEWAY_CURSOR_SECRET is not set: page tokens from this process are "
                "refused by any other replica"
            )
        cursors = Cursors(os.urandom(32))
    else:
        cursors = Cursors(settings.cursor_secret.get_secret_value().encode())
    trusted = None
    if settings.graphql_trusted_documents is not None:
        trusted = load_trusted(settings.graphql_trusted_documents)
    hooks = None
    if settings.webhooks_file is not None:
        hooks = Webhooks.load(settings.webhooks_file, accounts)
        if settings.redis_url is None and settings.webhooks_db is not None:
            SqliteOutbox.check(settings.webhooks_db)
    if not authenticator.enabled and not settings.local:
        logger.warning("GATEWAY_AUTH=none: anyone who can reach the gateway can read everything")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:
            config = UpstreamConfig(
                max_attempts=settings.upstream_max_attempts,
                timeout_seconds=settings.upstream_timeout_seconds,
                max_connections=settings.upstream_max_connections,
                max_concurrency=settings.upstream_max_concurrency,
                api=settings.upstream_api,
            )
            if settings.local:
                emulator = Emulator(local_data or load_data(settings.local_data))
                endpoint = await stack.enter_async_context(serve_emulator(emulator))
                health.emulator = endpoint
                config = replace(
                    config, endpoint_url=endpoint, static_credentials=LOCAL_CREDENTIALS
                )
            rate = settings.upstream_rate_per_second
            budget: UpstreamBudget | None = None
            if rate is not None:
                budget = LocalBudget(rate, clock)
                if store is not None:  # the fleet's rate, kept in the store
                    budget = StoreBudget(store, budget)
            upstreams = await stack.enter_async_context(
                Upstreams(config, accounts, metrics, clock, budget=budget)
            )
            await stack.enter_async_context(authenticator)
            logger.info("%d account(s) to read", len(accounts.accounts))
            await upstreams.open_default()
            coordinator, tiers, observe = None, None, None
            if store is not None:
                await stack.enter_async_context(store)
                logger.info("Sharing with the fleet through the store at %s", store.address)
                coordinator = LiveFleet(
                    store,
                    interval=settings.watch_interval_seconds,
                    upstream_timeout=settings.upstream_timeout_seconds,
                )
                # A holder whose call runs to the deadline still answers within its lease.
                lease = settings.upstream_timeout_seconds + 1
                tiers = StoreTiers(store, lease_seconds=lease)
                observe = access.cache_event  # the access log's cache_level=shared
            caches = make_caches(settings, metrics, clock=clock, tiers=tiers, observe=observe)
            resolvers = Resolvers(upstreams, caches, cursors)
            engine = make_engine(settings, resolvers, metrics, clock, trusted)
            stack.callback(engine.close)
            watchers = Watchers(
                resolvers,
                metrics,
                interval=settings.watch_interval_seconds,
                max_watched=settings.max_watched_deployments,
                max_per_caller=settings.max_subscriptions_per_caller,
                max_wait=settings.max_wait_seconds,
                coordinator=coordinator,
            )
            stack.push_async_callback(watchers.close)
            follows = Follows(
                watchers,
                interval=settings.watch_interval_seconds,
                max_followed=settings.max_followed_groups,
            )
            stack.push_async_callback(follows.close)
            # The feeds end first: their viewers are the watchers' too, and would hold
            # the watchers' close for its whole grace.
            health.on_stop += [follows.close, watchers.close]
            webhooking = None
            if hooks is not None:
                outbox: Outbox
                if store is not None:
                    outbox = StoreOutbox(store)
                else:
                    assert settings.webhooks_db is not None  # the settings require one
                    outbox = await SqliteOutbox(settings.webhooks_db).open()
                stack.push_async_callback(outbox.close)
                webhooking = Webhooking(
                    hooks,
                    outbox,
                    resolvers,
                    follows,
                    metrics,
                    interval=settings.watch_interval_seconds,
                    retry_base_seconds=settings.webhooks_retry_base_seconds,
                )
                stack.push_async_callback(webhooking.close)
                health.on_stop.insert(0, webhooking.close)  # it follows feeds: before them
                webhooking.start()
                logger.info("%d webhook(s) to call", len(hooks))
            if settings.events_queue_url is not None:
                queue = str(settings.events_queue_url)
                region = queue_region(queue, settings.aws_region or accounts.default.region)
                await stack.enter_async_context(read_queue(queue, region, watchers.on_notification))
                logger.info("CodeDeploy notifications from %s", queue)
            # Everything start-up made (botocore's service models, the app) leaves the
            # collector's sight: a full collection then walks only what requests made. It
            # walked it all, ~100 ms each time on 2 cores, every ~0.3 s while documents
            # were being parsed: a pause for every request in flight.
            gc.freeze()
            health.started = True
            try:
                yield {
                    "resolvers": resolvers,
                    "graphql": engine,
                    "health": health,
                    "metrics": metrics,
                    "watchers": watchers,
                    "follows": follows,
                    "webhooks": webhooking,
                }
            finally:
                health.started = False

    app = FastAPI(
        title="codedeploy-gateway",
        version=__version__,
        description=(
            "AWS CodeDeploy deployment-instance status over REST and GraphQL "
            "(GraphiQL at [/graphql](/graphql)). Every error is `application/problem+json`."
        ),
        # Catalogues and linters look for both; the document describes this deployment,
        # so who answers for it is whoever runs it.
        contact={"name": "The team that runs this gateway (see GET /v1/accounts for its scope)"},
        license_info={
            "name": "Proprietary: the code is not licensed for redistribution",
            "identifier": "LicenseRef-Proprietary",
        },
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI if settings.docs else None,
    )
    add_exception_handlers(app)
    api.include(app)
    app.include_router(operations.router)
    app.include_router(webhooks.router)
    if settings.docs:
        app.include_router(docs.router)
    app.include_router(docs.board_router(bool(settings.auth_schemes)))
    app.mount(STATIC, StaticFiles(directory=STATIC_FILES), name="static")
    app.openapi = lambda: _openapi(app, authenticator.openapi_schemes())  # type: ignore[method-assign]
    local: TokenBuckets | None = None
    buckets: Buckets | None = None
    if rate := settings.rate_limit_per_second:
        burst = settings.rate_limit_burst or max(1, math.ceil(rate))
        local = buckets = TokenBuckets(rate, burst, clock)
        if store is not None:
            buckets = SharedBuckets(store, local, rate=rate, burst=burst)
    faces: list[Layer] = [
        partial(
            GraphQLEndpoint,
            graphiql=settings.docs,
            ws_send_timeout=settings.ws_send_timeout_seconds,
        ),
        partial(InstanceFastPath, routes=addressed_routes("GetDeploymentInstance")),
    ]
    return edge(
        app,
        settings,
        authenticator=authenticator,
        buckets=buckets,
        failures=local,
        metrics=metrics,
        clock=clock,
        refuse=refusal,
        faces=faces,
    )


def refusal(scope: Scope, error: GatewayError) -> Response:
    """An error answered before routing, in the shape of the face the path is."""
    if path_of(scope) == GRAPHQL:
        return refusal_response(error)
    return problem_response(error)


def load_accounts(settings: Settings) -> Accounts:
    """The accounts file's; in local mode with the demo data, the demo's three accounts;
    else the gateway's own identity in its region, as ``default``."""
    if settings.accounts_file is not None:
        return Accounts.load(settings.accounts_file)
    if settings.local and settings.local_data is None:
        return Accounts.load(DEMO_ACCOUNTS, "the demo accounts")
    if settings.local:
        return Accounts.alone(settings.aws_region or LOCAL_REGION)
    return Accounts.alone(resolve_region(settings.aws_region))


def make_engine(
    settings: Settings,
    resolvers: Resolvers,
    metrics: Metrics,
    clock: Callable[[], float],
    trusted: dict[str, str] | None,
) -> GraphQLEngine:
    documents = Documents(settings.graphql_document_cache_bytes)
    responses = Responses(
        max_entries=settings.cache_max_entries,
        max_bytes=settings.graphql_response_cache_bytes,
        clock=clock,
    )
    metrics.cache_entries.labels("documents").set_function(documents.__len__)
    metrics.cache_entries.labels("responses").set_function(responses.__len__)
    served = federated_schema() if settings.graphql_federation else schema
    return GraphQLEngine(
        served._schema,
        Limits.from_settings(settings),
        resolvers=resolvers,
        documents=documents,
        responses=responses,
        metrics=metrics,
        persisted_queries=settings.graphql_persisted_queries,
        trusted=trusted,
        alone=costs.read_alone(settings.upstream_api),
    )


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# What each tag holds, as API catalogues and linters look for it.
TAGS = [
    {"name": "deployments", "description": "Deployments, their instances and targets, live."},
    {"name": "discovery", "description": "Applications, deployment groups, deployment lists."},
    {"name": "accounts", "description": "The accounts and regions the gateway reads."},
    {"name": "operations", "description": "Health and readiness probes."},
    {"name": "by account and region", "description": "Every read again, for one account."},
]


def _openapi(app: FastAPI, security_schemes: dict[str, dict[str, str]]) -> dict[str, Any]:
    """FastAPI files every response model under application/json; errors are problem+json.

    FastAPI's own 422 for request validation is dropped: the gateway answers those 400.
    With authentication on, every route but the probes lists the schemes and its 401.
    """
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            contact=app.contact,
            license_info=app.license_info,
            routes=app.routes,
            servers=[{"url": "/", "description": "this gateway"}],
        )
        for path in schema["paths"].values():
            for operation in path.values():
                responses = operation.get("responses", {})
                for status, response in list(responses.items()):
                    content = response.get("content", {})
                    if PROBLEM_JSON in content:
                        content[PROBLEM_JSON]["schema"] = content.pop("application/json")["schema"]
                    elif status == "422":
                        del responses[status]
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        schema["components"]["schemas"].update(FILTER_ENUMS)
        schema["tags"] = TAGS
        # Anyone may call, unless an operation says otherwise: said, so tools need not guess.
        # Without authentication a credential is taken and ignored, so a client generated
        # here may send one and works against a gateway that requires it.
        optional = [] if security_schemes else list(Authenticator.unrequired_schemes())
        schema["security"] = [{}, *({name: []} for name in optional)]
        # The edge answers before routing, for any path: every operation may hear it.
        too_large = {
            "description": "The request line and headers are larger than "
            "GATEWAY_MAX_HEADER_BYTES; the edge answers before routing.",
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF, "example": json.loads(TOO_LARGE)}},
        }
        for path in schema["paths"].values():
            for operation in path.values():
                operation["responses"].setdefault("431", too_large)
        schema["components"]["securitySchemes"] = (
            security_schemes or Authenticator.unrequired_schemes()
        )
        if security_schemes:
            unauthorized = problem_responses(401)[401]
            unauthorized["content"][PROBLEM_JSON]["schema"] = PROBLEM_REF
            del unauthorized["model"]
            for path_name, path in schema["paths"].items():
                if path_name in PROBES:
                    continue
                for operation in path.values():
                    operation["security"] = [{name: []} for name in security_schemes]
                    operation["responses"]["401"] = unauthorized
        app.openapi_schema = schema
    return app.openapi_schema
