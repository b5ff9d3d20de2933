"""How errors read to a GraphQL client: ``extensions.code`` and ``extensions.status`` on
every one, the same code and status REST would answer for a ``GatewayError``."""

import logging
from typing import Any

from graphql import GraphQLError
from starlette.responses import JSONResponse

from service.errors import ErrorCode, GatewayError

logger = logging.getLogger(__name__)

GraphQLErrorDict = dict[str, Any]


def gateway_extensions(error: GatewayError) -> dict[str, Any]:
    """The same code and status REST would answer."""
    extensions: dict[str, Any] = {"code": error.code, "status": error.status, "type": error.type}
    if error.upstream_code:
        extensions["upstreamCode"] = error.upstream_code
    if error.request_id:
        extensions["requestId"] = error.request_id
    return extensions


def request_error(message: str, code: ErrorCode, status: int = 400) -> GraphQLErrorDict:
    """An error about the request as a whole: nothing was executed."""
    return {"message": message, "extensions": {"code": code, "status": status}}


def gateway_error(error: GatewayError) -> GraphQLErrorDict:
    return {"message": error.detail, "extensions": gateway_extensions(error)}


def formatted(error: GraphQLError, default_code: ErrorCode) -> GraphQLErrorDict:
    """``error`` as the response carries it. A resolver's ``GatewayError`` keeps its
    code; an error about the document or its variables (no path) takes ``default_code``
    unless a limit named its own; a failure at a path that is not a ``GatewayError`` is
    a gateway bug: logged with its traceback, answered 500 with its text hidden."""
    original = error.original_error
    if isinstance(original, GatewayError):
        extensions = gateway_extensions(original)
    elif error.path is None:
        code = (error.extensions or {}).get("code", default_code)
        extensions = {"code": code, "status": 400}
    else:
        logger.error("graphql field failed at %s: %s", error.path, error, exc_info=original)
        return {
            "message": "The gateway failed unexpectedly.",
            "locations": error.formatted.get("locations"),
            "path": error.path,
            "extensions": {"code": ErrorCode.INTERNAL_SERVER_ERROR, "status": 500},
        }
    return {**error.formatted, "extensions": {**(error.extensions or {}), **extensions}}


def refusal_response(error: GatewayError) -> JSONResponse:
    """A request refused before GraphQL ran (credentials, rate, size): the HTTP status says
    so, and the body is still the GraphQL response shape clients parse."""
    return JSONResponse(
        {"errors": [gateway_error(error)]},
        status_code=error.status,
        headers={**error.headers(), "Cache-Control": "no-store"},
    )
