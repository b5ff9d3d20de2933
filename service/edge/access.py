"""Per request, outermost: the client's address, an X-Request-ID, what every answer
carries, the HTTP metrics, one access-log line."""

import logging
import random
import re
import time
from collections.abc import Sequence
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import tracing
from service.codedeploy import request_ids
from service.edge.headers import answer_headers, private, relative_location
from service.edge.refusal import Refuse
from service.errors import GatewayError
from service.logs import AccessLog
from service.metrics import CacheEvent, Metrics
from service.request import context_of

logger = logging.getLogger(__name__)
_ids = random.Random()  # its own state: a random.seed() elsewhere cannot make ids repeat

# A caller's id is echoed only when it is short and plain; anything else gets a new one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class ClientAddress:
    """Who is calling: the connection's peer, unless the peer is a trusted proxy; then the
    nearest address the proxy's forwarding header names that is not one, read from the
    right, at most 32 hops. Only ``header`` is read (``x-forwarded-for`` or ``forwarded``,
    RFC 7239), the one the proxy writes: nginx and ALB append to ``X-Forwarded-For`` and
    pass a client's own ``Forwarded`` through, so reading both let a client pick its
    address."""

    def __init__(
        self,
        trusted: Sequence[IPv4Network | IPv6Network],
        header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for",
    ) -> None:
        self.trusted = tuple(trusted)
        self.header = header.encode()

    def _is_trusted(self, address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.trusted)

    def __call__(self, scope: Scope) -> None:
        """Sets ``scope["client"]`` to the address decided on."""
        client = scope.get("client")
        if not self.trusted or client is None or not self._is_trusted(client[0]):
            return
        hops = _hops(scope["headers"], self.header)
        address = client[0]
        for hop in reversed(hops[-MAX_HOPS:]):
            if not self._is_trusted(address):
                break
            try:
                address = str(ip_address(hop))
            except ValueError:  # garbage from the client's side of the proxy: stop here
                break
        scope["client"] = (address, 0 if address != client[0] else client[1])


MAX_HOPS = 32
_FORWARDED_FOR = re.compile(r'for="?\[?([0-9A-Fa-f.:]+)', re.IGNORECASE)


def _hops(headers: Sequence[tuple[bytes, bytes]], header: bytes) -> list[str]:
    values = ",".join(v.decode("latin-1") for n, v in headers if n == header)
    if header == b"forwarded":
        return [_forwarded_for(element) for element in values.split(",")]
    return [hop.strip() for hop in values.split(",") if hop.strip()]


def _forwarded_for(element: str) -> str:
    """The address of one ``Forwarded`` element, its port dropped; "" when it names none
    (``for=unknown``, an obfuscated name), which ends the walk there."""
    match = _FORWARDED_FOR.search(element)
    if match is None:
        return ""
    address = match.group(1)
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


class Access:
    """Decides the client's address; times everything the edge and the app do, counts it
    and logs it; dresses every answer, refusals included, with the headers of
    ``headers.py`` and the request id (one wrapper of ``send`` for all of it); answers
    ``HEAD`` as the ``GET`` it stands for, without the body; and answers 500 for a
    failure nothing further in answered."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, client_address: ClientAddress, refuse: Refuse
    ) -> None:
        self.app = app
        self.refuse = refuse
        self.metrics = metrics
        self.log = AccessLog(logging.getLogger("service.access"))
        self.client_address = client_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"]  # as sent, for the log
        context = context_of(scope)
        head = context.head = method == "HEAD"
        if head:  # the server's own scope keeps HEAD: it then sends no body bytes
            scope = {**scope, "method": "GET"}
        self.client_address(scope)
        request_id = _request_id(scope)
        carried = [*answer_headers(scope), (b"x-request-id", request_id.encode())]
        status, cache = 0, None
        ids: list[str] = []
        token = request_ids.set(ids)
        shared: list[str] = []
        shared_token = _shared.set(shared)

        async def respond(message: Message) -> None:
            nonlocal status, cache
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = message["headers"] = [*message.get("headers", ()), *carried]
                if 300 <= status < 400:
                    relative_location(headers)
                for name, value in headers:
                    if name == b"x-cache":
                        cache = value.decode()
                if context.caller is not None:
                    private(headers)
            elif head and kind == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, respond)
        except Exception:
            if status:  # the answer is under way: only the server can cut it off
                raise
            logger.exception("unhandled error")
            await self.refuse(scope, GatewayError("The gateway failed unexpectedly."))(
                scope, receive, respond
            )
        finally:
            request_ids.reset(token)
            _shared.reset(shared_token)
            # Which level answered a hit: this replica's cache, or the fleet's store.
            level = "shared" if shared else "local" if cache == "HIT" else None
            self._done(scope, method, status or 500, start, request_id, cache, ids, level)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket's session, logged once it closes: 101 when it was accepted, 403
        when refused at the handshake; its time is the session's."""
        start = time.perf_counter()
        self.client_address(scope)
        request_id = _request_id(scope)
        status = 0

        async def respond(message: Message) -> None:
            nonlocal status
            if message["type"] == "websocket.accept":
                status = 101
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            elif message["type"] == "websocket.close" and not status:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, respond)
        finally:
            self._done(scope, "WEBSOCKET", status or 500, start, request_id, None, [])

    def _done(
        self,
        scope: Scope,
        method: str,
        status: int,
        start: float,
        request_id: str,
        cache: str | None,
        ids: list[str],
        level: str | None = None,
    ) -> None:
        """The request's metrics and its log line."""
        seconds = time.perf_counter() - start
        context = context_of(scope)
        route = getattr(scope.get("route"), "path", None)
        template = route or context.route or "unmatched"
        caller = context.caller
        self.metrics.http_request(template, method, status, seconds)
        if context.admitted:
            self.metrics.caller_request(caller, status)
        path = scope["path"]
        self.log(
            f"{method} {path} {status}",
            {
                "method": method,
                "route": template,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "request_id": request_id,
                "caller": caller,
                "client": (scope.get("client") or (None,))[0],
                "cache": cache,
                "cache_level": level,
                "upstream_request_ids": ids,
                **({"trace_id": trace} if (trace := tracing.current_trace_id()) else {}),
            },
        )


_shared: ContextVar[list[str] | None] = ContextVar("shared_answers", default=None)
"""Where a request's access line learns that the fleet's store answered it: a list the
request sets, which the loads it starts (tasks of their own) append to."""


def cache_event(event: CacheEvent) -> None:
    """The caches' ``observe`` hook: a hit from the fleet's store marks the request."""
    if event in ("shared_hit", "shared_join") and (shared := _shared.get()) is not None:
        shared.append(event)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if REQUEST_ID.fullmatch(given):
                return given
    # 128 random bits as 32 hex digits, as uuid4().hex gave: an id to correlate by, not a
    # secret, so a generator of the gateway's own rather than a system call per request.
    return f"{_ids.getrandbits(128):032x}"
