"""Per request: an X-Request-ID, the HTTP metrics, and one access-log line."""

import logging
import re
import time
import uuid
from contextvars import ContextVar

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


class AccessMiddleware:
    """Outermost: times everything, the instance fast path included."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
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
            method = scope["method"]
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
    return uuid.uuid4().hex
