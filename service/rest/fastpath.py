"""Cache hits of the hottest route, in any account, answered before FastAPI's routing.

A status page polls ``GET /v1/deployments/{d}/instances/{i}`` far more often than the
instance changes. Served from the cache here, a hit costs a dictionary lookup instead of
FastAPI's per-request machinery; anything else — a miss, a stored 404, a
``Cache-Control: no-cache`` refresh, every other route — goes on to the app unchanged.
The route's own path pattern picks the requests, and its renderer makes the answer.
"""

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.edge.headers import request_headers
from service.edge.paths import path_of
from service.freshness import refresh_requested
from service.reads import Resolvers
from service.request import context_of
from service.rest.render import instance_body, render_json


class InstanceHitFastPath:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self.routes = [(route.path_regex, route.path) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = path_of(scope)
            for pattern, template in self.routes:
                match = pattern.match(path)
                if match is not None:
                    if await self._answer(scope, send, template, match.groupdict()):
                        return
                    break
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, send: Send, template: str, params: dict[str, str]
    ) -> bool:
        cache_control, if_none_match = request_headers(scope, b"cache-control", b"if-none-match")
        if refresh_requested(cache_control):
            return False
        resolvers: Resolvers | None = scope.get("state", {}).get("resolvers")
        if resolvers is None:
            return False
        # An account or region not configured, or not granted: the route answers why.
        context = context_of(scope)
        resolver = resolvers.peek(params.get("account"), params.get("region"), context.grants)
        if resolver is None:
            return False
        hit = resolver.stored_instance(params["deploymentId"], params["instanceId"])
        if hit is None:
            return False
        context.route = template
        answer = render_json(instance_body(hit.value), hit.cache, if_none_match, hit.value.etag)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
        return True
