"""Errors answered by middleware, before routing, in the shape each face's clients read."""

from starlette.responses import Response
from starlette.types import Scope

from service.errors import GatewayError
from service.graphql.errors import refusal_response
from service.rest.problems import problem_response

GRAPHQL_PATH = "/graphql"


def path_of(scope: Scope) -> str:
    path: str = scope["path"]
    return path[len(scope.get("root_path", "")) :]


def refusal(scope: Scope, error: GatewayError) -> Response:
    if path_of(scope) == GRAPHQL_PATH:
        return refusal_response(error)
    return problem_response(error)
