"""Cache hits of the hottest route, answered before FastAPI's routing and dependencies.

A status page polls ``GET /v1/deployments/{d}/instances/{i}`` far more often than the
instance changes. Served from the cache here, a hit costs a dictionary lookup instead of
FastAPI's per-request machinery (about 170 µs); anything else — a miss, a stored 404, a
``Cache-Control: no-cache`` refresh, every other route — goes on to the app unchanged.
The answer is the route's own: same body, same headers (tests compare them).
"""

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from service.resolver import Resolver
from service.rest.routes import cache_headers, instance_body, not_modified

INSTANCE_PATH = re.compile(r"/v1/deployments/([^/]+)/instances/([^/]+)")
# The route's template, for the metrics of the requests answered here.
ROUTE = "/v1/deployments/{deploymentId}/instances/{instanceId}"


class InstanceHits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"][len(scope.get("root_path", "")) :]
            match = INSTANCE_PATH.fullmatch(path)
            if match is not None and await self._answer(scope, match, send):
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, match: re.Match[str], send: Send) -> bool:
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"cache-control" and b"no-cache" in value.lower():
                return False
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        resolver: Resolver | None = scope.get("state", {}).get("resolver")
        hit = resolver.stored_instance(*match.groups()) if resolver else None
        if hit is None:
            return False
        scope["gateway.route"] = ROUTE
        etag = '"' + hit.value.digest + '"'
        headers = [(k.encode(), v.encode()) for k, v in cache_headers(hit.cache, etag).items()]
        if not_modified(if_none_match, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return True
        body = instance_body(hit.value)
        headers += [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
