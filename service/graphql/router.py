"""``/graphql``: the Strawberry router, with a GraphiQL page that needs no CDN."""

import json
from functools import cache

from fastapi import Request
from fastapi.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.ides import get_graphql_ide_html
from strawberry.types import ExecutionResult

from service.graphql.context import Context
from service.graphql.schema import GatewaySchema, format_error
from service.state import MetricsDep, ResolverDep

CDN = "https://unpkg.com/"
VENDOR_PATH = "/static/vendor/"

EXAMPLE_QUERY = """\
# The demo deployment's failed instance (make run serves it).
# Ctrl-Enter runs it. Also try instanceId i-0a1b2c3d4e5f60003
# (in progress), or d-EXAMPLE02 with i-0c1d2e3f4a5b60001 (blue/green).
# Gateway wants credentials? Under Headers below, add
# {"Authorization": "Bearer <API key or token>"}
query FailedInstance {
  deploymentInstance(
    deploymentId: "d-EXAMPLE01"
    instanceId: "i-0a1b2c3d4e5f60002"
  ) {
    instanceId
    status
    lastUpdatedAt
    instanceType
    lifecycleEvents {
      lifecycleEventName
      status
      startTime
      endTime
      diagnostics { errorCode scriptName message logTail }
    }
  }
}
"""


@cache
def graphiql_html(root_path: str) -> str:
    """Strawberry's own page with its assets served by the gateway.

    The files are byte-identical to the CDN's, so the page's SRI hashes still hold.
    """
    html = get_graphql_ide_html("graphiql").replace(CDN, root_path + VENDOR_PATH)
    start = html.index("const EXAMPLE_QUERY = `") + len("const EXAMPLE_QUERY = ")
    end = html.index("`;", start) + 1
    # A JSON string is a valid JavaScript string literal.
    return html[:start] + json.dumps(EXAMPLE_QUERY) + html[end:]


async def get_context(resolver: ResolverDep, metrics: MetricsDep) -> Context:
    return Context(resolver, metrics)


class GatewayGraphQLRouter(GraphQLRouter[Context, None]):
    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(request.scope.get("root_path", "")))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = [format_error(error) for error in result.errors]
        return await super().process_result(request, result)


def graphql_router(schema: GatewaySchema, *, graphiql: bool) -> GatewayGraphQLRouter:
    # Kept out of the OpenAPI document: it is not a REST route, and REST tooling trips on it.
    return GatewayGraphQLRouter(
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if graphiql else None,
        subscription_protocols=(),  # no subscriptions; the guard closes WebSockets
        include_in_schema=False,
    )
