"""Per request: an X-Request-ID, the HTTP metrics, and one access-log line."""

import logging
import os
import re
import time
from collections.abc import Sequence
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

logger = logging.getLogger("service.access")

# A caller's id is echoed only when it is short and plain; anything else gets a new one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

upstream_request_ids: ContextVar[list[str] | None] = ContextVar(
    "upstream_request_ids", default=None
)
"""CodeDeploy request ids of the calls made for the current request."""


def note_upstream_request(request_id: str | None) -> None:
    ids = upstream_request_ids.get()
    if ids is not None and request_id:
        ids.append(request_id)


class ClientAddress:
    """Who is calling: the connection's peer, unless the peer is a trusted proxy; then the
    nearest address its forwarding headers name that is not one (RFC 7239 ``Forwarded``
    first, else ``X-Forwarded-For``, read from the right, at most 32 hops)."""

    def __init__(self, trusted: Sequence[IPv4Network | IPv6Network]) -> None:
        self.trusted = tuple(trusted)

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
        hops = _forwarded_hops(scope["headers"])
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


def _forwarded_hops(headers: Sequence[tuple[bytes, bytes]]) -> list[str]:
    forwarded = [v.decode("latin-1") for n, v in headers if n == b"forwarded"]
    if forwarded:
        return [_forwarded_for(element) for element in ",".join(forwarded).split(",")]
    forwarded_for = [v.decode("latin-1") for n, v in headers if n == b"x-forwarded-for"]
    return [hop.strip() for hop in ",".join(forwarded_for).split(",") if hop.strip()]


def _forwarded_for(element: str) -> str:
    """The address of one ``Forwarded`` element, its port dropped; "" when it names none
    (``for=unknown``, an obfuscated name), which ends the walk there."""
    match = _FORWARDED_FOR.search(element)
    if match is None:
        return ""
    address = match.group(1)
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


class AccessMiddleware:
    """Outermost: decides the client's address, and times everything, the instance fast
    path included."""

    def __init__(self, app: ASGIApp, metrics: Metrics, client_address: ClientAddress) -> None:
        self.app = app
        self.metrics = metrics
        self.client_address = client_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"]  # as sent: HEAD is answered as a GET further in
        self.client_address(scope)
        request_id = _request_id(scope)
        status, cache = 500, None
        ids: list[str] = []
        token = upstream_request_ids.set(ids)

        async def respond(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                for name, value in headers:
                    if name == b"x-cache":
                        cache = value.decode()
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, respond)
        finally:
            upstream_request_ids.reset(token)
            seconds = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None)
            template = route or scope.get("gateway.route", "unmatched")
            self.metrics.http_requests.labels(template, method, str(status)).inc()
            self.metrics.http_duration.labels(template, method).observe(seconds)
            caller = scope.get("gateway.caller")
            if "gateway.caller" in scope:
                self.metrics.caller_request(caller, status)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "method": method,
                        "route": template,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "request_id": request_id,
                        "caller": caller,
                        "client": (scope.get("client") or (None,))[0],
                        "cache": cache,
                        "upstream_request_ids": ids,
                    },
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if REQUEST_ID.fullmatch(given):
                return given
    # 128 random bits as 32 hex digits, as uuid4().hex gave, at a fifth of its cost.
    return os.urandom(16).hex()
