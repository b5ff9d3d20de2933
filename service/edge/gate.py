"""The gate every request passes before routing: credentials, then the caller's rate."""

import hmac
from collections.abc import Callable
from enum import Enum, auto
from functools import partial

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from service.accounts import EVERY_ACCOUNT
from service.edge.headers import request_headers
from service.edge.paths import GRAPHQL, METRICS, OPERATIONS, PROBES, PUBLIC, path_of
from service.edge.refusal import Refuse
from service.errors import ErrorCode, GatewayError, RateLimited, Unauthorized
from service.freshness import forbids_stale, stale_allowed
from service.guard.authenticator import Authenticator, presented
from service.guard.ratelimit import (
    FAILURE_BURST,
    FAILURE_RATE_PER_SECOND,
    Buckets,
    Budget,
    TokenBuckets,
)
from service.metrics import Metrics
from service.request import address_key, caller_key, context_of

# Where a caller's credential may come: ``Authorization: Bearer``, else ``X-API-Key``.
CREDENTIALS = (b"authorization", b"x-api-key")


class Admission(Enum):
    """What a request needs to get in: nothing, the metrics key, or a caller's credential."""

    PUBLIC = auto()
    METRICS_KEY = auto()
    CALLER = auto()


def admission(scope: Scope) -> Admission:
    path = path_of(scope)
    if path in PROBES or path.startswith(PUBLIC):
        return Admission.PUBLIC
    if path == METRICS or path.startswith(OPERATIONS + "/"):
        return Admission.METRICS_KEY
    # GraphiQL's page is a GET with no parameters; every query, by text or by hash, is
    # guarded (and every WebSocket).
    if path == GRAPHQL and scope.get("method") == "GET" and not scope["query_string"]:
        return Admission.PUBLIC
    return Admission.CALLER


class Gate:
    """Admits a request as its caller's (``RequestContext``: the caller, None when auth is
    off, and the accounts it may read), or answers 401/429 itself; with a rate limit,
    anonymous callers count per client IP."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        buckets: Buckets | None,
        failures: TokenBuckets | None,
        metrics_key: SecretStr | None,
        metrics: Metrics,
        clock: Callable[[], float],
        refuse: Refuse,
    ) -> None:
        self.app = app
        self.refuse = refuse
        self.authenticator = authenticator
        self.buckets = buckets
        self.metrics_key = metrics_key.get_secret_value().encode() if metrics_key else None
        self.metrics = metrics
        # Failed authentications count per address, in this process: against the rate
        # limit's buckets when one is set, else against buckets of their own.
        self.failures = failures or TokenBuckets(FAILURE_RATE_PER_SECOND, FAILURE_BURST, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] == "http":
            try:
                await self._check(scope)
            except GatewayError as error:
                self._refused(error.code)
                await self.refuse(scope, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Only ``/graphql`` takes WebSockets. Credentials in the handshake's headers are
        checked now, as for any request; a browser cannot send those, so without them
        the socket's ``connection_init`` brings them, checked by ``RequestContext.
        authenticate``. A refused handshake is closed before it is accepted: HTTP 403."""
        if path_of(scope) != GRAPHQL:
            await send({"type": "websocket.close", "code": 1008})
            return
        presented_now = any(value for value in request_headers(scope, *CREDENTIALS))
        if self.authenticator.enabled and not presented_now:
            context_of(scope).authenticate = partial(self._check, scope)
        else:
            try:
                await self._check(scope)
            except GatewayError as error:
                # Not ASGI's denial response with the error's status: uvicorn logs every
                # one of those as an application error.
                self._refused(error.code)
                await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)

    def _refused(self, code: str) -> None:
        self.metrics.refusals.labels(code).inc()

    async def _check(
        self, scope: Scope, credentials: tuple[str | None, str | None] | None = None
    ) -> None:
        """Admits the request (its ``RequestContext`` filled in) or raises why not.
        ``credentials``: Authorization and X-API-Key, when not from the headers."""
        kind = admission(scope)
        if kind is Admission.PUBLIC:
            return
        if kind is Admission.METRICS_KEY:
            if self.metrics_key is not None:
                given = (presented(*request_headers(scope, *CREDENTIALS)) or "").encode()
                if not hmac.compare_digest(given, self.metrics_key):
                    raise Unauthorized(
                        "/metrics wants its own key.", code=ErrorCode.INVALID_API_KEY
                    )
                context_of(scope).grants = EVERY_ACCOUNT  # an operator's, on these paths
                return
            if path_of(scope) == METRICS:  # open without a key, as scrapers expect
                return
            # An operator's route without a metrics key: a caller's credential, as any.
        caller, grants = None, EVERY_ACCOUNT
        address = address_key(scope)
        if self.authenticator.enabled:
            try:
                caller, grants = await self.authenticator.caller(
                    *(credentials or request_headers(scope, *CREDENTIALS))
                )
            except Unauthorized:
                # Only failures are slowed: behind one ingress every caller shares an
                # address, and a valid credential must pass whatever others got wrong.
                if wait := self.failures.waiting(address):
                    raise RateLimited(
                        "Too many failed authentications from this address; see Retry-After.",
                        retry_after_seconds=wait,
                        code=ErrorCode.AUTHENTICATION_RATE_LIMITED,
                    ) from None
                self.failures.take(address)
                raise
        context = context_of(scope)
        context.admitted, context.caller, context.grants = True, caller, grants
        # For the reads this request makes; set either way, so nothing carries over to
        # a next request run in the same task (an in-process client's).
        stale_allowed.set(not forbids_stale(request_headers(scope, b"cache-control")[0]))
        if self.buckets is not None:
            key = caller_key(scope)
            context.budget = Budget(self.buckets, key, self._refused)
            wait = await self.buckets.charge(key)
            if wait:
                raise RateLimited(
                    "This caller is over its rate limit; see Retry-After.",
                    retry_after_seconds=wait,
                )
