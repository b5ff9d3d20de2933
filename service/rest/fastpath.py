"""The hottest route, in any account, answered before FastAPI's routing.

A status page polls ``GET /v1/deployments/{d}/instances/{i}`` far more often than the
instance changes. Answered here, a hit costs a dictionary lookup instead of FastAPI's
per-request machinery (routing, dependencies, exception middleware), and a miss spares
the same ~0.4 ms beside botocore's call (``make bench``). An account or region the
path names but the caller may not read, or the gateway does not, goes on to the route,
which answers why; so does every other route. The route's path pattern picks the
requests; its resolver reads, its renderer answers, and a read's error is the problem
its exception handler would make of it.
"""

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.edge.headers import request_headers
from service.edge.paths import path_of
from service.errors import GatewayError
from service.freshness import refresh_requested
from service.reads import Resolvers
from service.request import context_of
from service.rest.problems import problem_response
from service.rest.render import instance_body, render_json


class InstanceFastPath:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self.routes = [(route.path_regex, route.path) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = path_of(scope)
            for pattern, template in self.routes:
                match = pattern.match(path)
                if match is not None:
                    if await self._answer(scope, receive, send, template, match.groupdict()):
                        return
                    break
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, template: str, params: dict[str, str]
    ) -> bool:
        resolvers: Resolvers | None = scope.get("state", {}).get("resolvers")
        if resolvers is None:
            return False
        context = context_of(scope)
        resolver = resolvers.peek(params.get("account"), params.get("region"), context.grants)
        if resolver is None:
            return False
        context.route = template
        cache_control, if_none_match = request_headers(scope, b"cache-control", b"if-none-match")
        refresh = refresh_requested(cache_control)
        deployment_id, instance_id = params["deploymentId"], params["instanceId"]
        hit = None if refresh else resolver.stored_instance(deployment_id, instance_id)
        try:
            read = hit or await resolver.deployment_instance(
                deployment_id, instance_id, refresh=refresh
            )
        except GatewayError as error:
            await problem_response(error)(scope, receive, send)
            return True
        answer = render_json(instance_body(read.value), read.cache, if_none_match, read.value.etag)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
        return True
