"""Cache hits of the hottest route, answered before FastAPI's routing and dependencies.

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
from service.resolver import Resolver
from service.rest.render import instance_body, refresh_requested, render_json


class InstanceHitFastPath:
    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        self.app = app
        self.pattern = route.path_regex
        self.template = route.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = self.pattern.match(path_of(scope))
            if match is not None and await self._answer(scope, send, *match.groups()):
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, deployment_id: str, instance_id: str) -> bool:
        cache_control, if_none_match = request_headers(scope, b"cache-control", b"if-none-match")
        if refresh_requested(cache_control):
            return False
        resolver: Resolver | None = scope.get("state", {}).get("resolver")
        hit = resolver.stored_instance(deployment_id, instance_id) if resolver else None
        if hit is None:
            return False
        scope["gateway.route"] = self.template
        answer = render_json(instance_body(hit.value), hit.cache, if_none_match, hit.value.etag)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
        return True
