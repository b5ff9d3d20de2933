"""Errors answered before routing, in the shape each face's clients read."""

from starlette.responses import Response
from starlette.types import Scope

from service.edge.paths import GRAPHQL, path_of
from service.errors import GatewayError
from service.graphql.errors import refusal_response
from service.rest.problems import problem_response


def error_response(scope: Scope, error: GatewayError) -> Response:
    if path_of(scope) == GRAPHQL:
        return refusal_response(error)
    return problem_response(error)
