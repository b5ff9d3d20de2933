"""A server span for each request (HTTP's semantic conventions), continuing the caller's
W3C ``traceparent``: the edge's outermost layer, there only when tracing is on, so a
gateway without traces pays nothing for it."""

from typing import Any

from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import tracing
from service.edge.paths import path_of
from service.request import context_of

PROPAGATED = (b"traceparent", b"tracestate")


class Traced:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carried = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in PROPAGATED
        }  # usually none: then no propagator runs
        method = scope["method"]
        status = 0

        async def respond(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path_of(scope),
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        parent = tracing.incoming(carried)
        with tracing.span(method, SpanKind.SERVER, attributes, parent=parent) as span:
            try:
                await self.app(scope, receive, respond)
            finally:
                if span is not None:
                    route = getattr(scope.get("route"), "path", None) or context_of(scope).route
                    span.set_attribute("http.response.status_code", status or 500)
                    if route:
                        span.set_attribute("http.route", route)
                        span.update_name(f"{method} {route}")
                    if not status or status >= 500:
                        span.set_status(StatusCode.ERROR)
