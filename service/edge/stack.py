"""The edge, declared once in the order a request meets it.

Before any of this, the connection (``connections.py``) bounded what the client could
make the process hold: header bytes and time, idle keep-alive, connections at once.
Then, as ASGI layers, each a plain ``(scope, receive, send)`` callable:

1. ``Access``: the client's address, a request id, timing, metrics, the log line;
   the headers every answer carries (``headers.py``: security, ``private`` for a
   caller's), refusals included; HEAD answered as its GET, without the body; a 500 for
   any failure nothing further in answered.
2. ``CORSMiddleware`` (when origins are configured): preflights need no credentials.
3. ``Guard``: credentials, then the caller's rate; refusals answered here.
4. ``BodyLimit``: a body is read only for a caller who got this far, and only so far.
5. ``GraphQLEndpoint``: ``/graphql`` (no FastAPI route, so no REST tool trips on it).
6. ``InstanceHitFastPath``: the hottest route's cache hits, without FastAPI's machinery.

Then FastAPI's routing, dependencies and REST routes.
"""

import math
from collections.abc import Callable
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.edge.access import Access, ClientAddress
from service.edge.body import BodyLimit
from service.edge.guard import Guard
from service.edge.hits import InstanceHitFastPath
from service.fleet.buckets import SharedBuckets
from service.fleet.store import Store
from service.graphql.http import GraphQLEndpoint
from service.guard import Authenticator, TokenBuckets
from service.guard.ratelimit import Buckets
from service.metrics import Metrics
from service.rest.api import addressed_routes
from service.settings import Settings

Layer = Callable[[ASGIApp], ASGIApp]

# What a browser on an allowed origin may send and read.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Cache-Control",
    "Content-Type",
    "If-None-Match",
    "Last-Event-ID",
    "X-API-Key",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = ["ETag", "Retry-After", "WWW-Authenticate", "X-Cache", "X-Request-ID"]


class Gateway:
    """The ASGI app the server runs: the edge, with ``api`` (the FastAPI app) innermost."""

    def __init__(self, api: FastAPI, layers: list[Layer]) -> None:
        self.api = api
        app: ASGIApp = api
        for layer in reversed(layers):
            app = layer(app)
        self._edge = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._edge(scope, receive, send)


def edge(
    api: FastAPI,
    settings: Settings,
    *,
    authenticator: Authenticator,
    metrics: Metrics,
    clock: Callable[[], float],
    store: Store | None,
) -> Gateway:
    local: TokenBuckets | None = None
    buckets: Buckets | None = None
    if rate := settings.rate_limit_per_second:
        burst = settings.rate_limit_burst or max(1, math.ceil(rate))
        local = buckets = TokenBuckets(rate, burst, clock)
        if store is not None:
            buckets = SharedBuckets(store, local, rate=rate, burst=burst)
    layers: list[Layer] = [
        partial(
            Access,
            metrics=metrics,
            client_address=ClientAddress(settings.trusted_proxies, settings.forwarded_header),
        ),
    ]
    if settings.cors_origins:
        layers.append(
            partial(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=CORS_REQUEST_HEADERS,
                expose_headers=CORS_RESPONSE_HEADERS,
            )
        )
    layers += [
        partial(
            Guard,
            authenticator=authenticator,
            buckets=buckets,
            failures=local,
            metrics_key=settings.metrics_api_key,
            metrics=metrics,
            clock=clock,
        ),
        partial(
            BodyLimit,
            max_body_bytes=settings.max_body_bytes,
            timeout=settings.body_timeout_seconds,
        ),
        partial(
            GraphQLEndpoint,
            graphiql=settings.docs,
            ws_send_timeout=settings.ws_send_timeout_seconds,
        ),
        partial(InstanceHitFastPath, routes=addressed_routes("GetDeploymentInstance")),
    ]
    return Gateway(api, layers)
