"""The edge, declared once in the order a request meets it.

Before any of this, the connection (``connections.py``) bounded what the client could
make the process hold: header bytes and time, idle keep-alive, connections at once.
Then, as ASGI layers, each a plain ``(scope, receive, send)`` callable:

0. ``Traced`` (only when the ``OTEL_*`` variables name an endpoint): a server span for
   the request, the caller's ``traceparent`` continued.
1. ``Access``: the client's address, a request id, timing, metrics, the log line;
   the headers every answer carries (``headers.py``: security, ``private`` for a
   caller's), refusals included; HEAD answered as its GET, without the body; a 500 for
   any failure nothing further in answered.
2. ``CORSMiddleware`` (when origins are configured): preflights need no credentials.
3. ``Gate``: credentials, then the caller's rate; refusals answered here.
4. ``BodyLimit``: a body is read only for a caller who got this far, and only so far.
5. The faces' own layers, which the factory hands in (the edge knows neither face):
   ``GraphQLEndpoint`` for ``/graphql`` (no FastAPI route, so no REST tool trips on it),
   then ``InstanceFastPath``, the hottest REST route without FastAPI's machinery.

Then FastAPI's routing, dependencies and REST routes. Refusals, here and in every layer,
are answered by the factory's renderer, in the shape of the face the path is.
"""

from collections.abc import Callable
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service import tracing
from service.edge.access import Access, ClientAddress
from service.edge.body import BodyLimit
from service.edge.gate import Gate
from service.edge.refusal import Refuse
from service.edge.traced import Traced
from service.guard import Authenticator, TokenBuckets
from service.guard.ratelimit import Buckets
from service.metrics import Metrics
from service.settings import Settings

Layer = Callable[[ASGIApp], ASGIApp]

# What a browser on an allowed origin may send and read.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Cache-Control",
    "Content-Type",
    "If-None-Match",
    "Last-Event-ID",
    "traceparent",
    "tracestate",
    "X-API-Key",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = [
    "Age",
    "ETag",
    "Retry-After",
    "WWW-Authenticate",
    "X-Cache",
    "X-Request-ID",
    "X-Stale-Reason",
]


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
    buckets: Buckets | None,
    failures: TokenBuckets | None,
    metrics: Metrics,
    clock: Callable[[], float],
    refuse: Refuse,
    faces: list[Layer],
) -> Gateway:
    """The stack for ``api``: ``buckets`` count callers' requests (``failures`` their
    failed authentications, else buckets of the gate's own); ``faces`` go innermost."""
    layers: list[Layer] = [Traced] if tracing.on() else []
    layers += [
        partial(
            Access,
            metrics=metrics,
            client_address=ClientAddress(settings.trusted_proxies, settings.forwarded_header),
            refuse=refuse,
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
            Gate,
            authenticator=authenticator,
            buckets=buckets,
            failures=failures,
            metrics_key=settings.metrics_api_key,
            metrics=metrics,
            clock=clock,
            refuse=refuse,
        ),
        partial(
            BodyLimit,
            max_body_bytes=settings.max_body_bytes,
            timeout=settings.body_timeout_seconds,
            refuse=refuse,
        ),
        *faces,
    ]
    return Gateway(api, layers)
