"""How a ``GatewayError`` reads to a GraphQL client: ``extensions.code`` and ``status``."""

from typing import Any

from fastapi.responses import JSONResponse

from service.errors import GatewayError


def gateway_extensions(error: GatewayError) -> dict[str, Any]:
    """The same code and status REST would answer."""
    extensions: dict[str, Any] = {"code": error.code, "status": error.status, "type": error.type}
    if error.request_id:
        extensions["requestId"] = error.request_id
    return extensions


def refusal_response(error: GatewayError) -> JSONResponse:
    """A request refused before GraphQL ran (credentials, rate, size): the HTTP status says
    so, and the body is still the GraphQL response shape clients parse."""
    return JSONResponse(
        {"errors": [{"message": error.detail, "extensions": gateway_extensions(error)}]},
        status_code=error.status,
        headers={**error.headers(), "Cache-Control": "no-store"},
    )
