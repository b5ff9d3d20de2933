"""RFC 9457 problem details: every REST error, and its OpenAPI description."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    DeploymentNotStarted,
    ErrorCode,
    Forbidden,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    NotReady,
    PayloadTooLarge,
    Throttled,
    Unauthorized,
    UnsupportedComputePlatform,
    UpstreamError,
    UpstreamTimeout,
)
from service.models import OPEN_CODES

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and the CodeDeploy error behind it."""

    model_config = ConfigDict(populate_by_name=True)

    type: str = Field(examples=["urn:codedeploy-gateway:problem:not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(
        examples=["The instance i-0123 does not belong to the deployment d-EXAMPLE01."]
    )
    code: ErrorCode = Field(
        description="The condition, from the gateway's closed set (docs: Error reference); "
        "program against this. A minor release may add a code (CHANGELOG.md): handle one "
        "this list does not name by its status.",
        examples=[ErrorCode.INSTANCE_NOT_FOUND],
        json_schema_extra=OPEN_CODES,
    )
    upstream_code: str | None = Field(
        default=None,
        alias="upstreamCode",
        description="CodeDeploy's (or STS's) own error code, when it answered one: for "
        "support and logs; it may differ with the gateway's upstream mode.",
        examples=["InstanceDoesNotExistException"],
    )
    request_id: str | None = Field(
        default=None,
        alias="requestId",
        description="The upstream CodeDeploy request id, when a request was made.",
    )
    errors: list["FieldError"] | None = Field(
        default=None, description="Request validation failures, one per bad field."
    )


class FieldError(BaseModel):
    """One part of a request that fails its declared type or pattern."""

    loc: list[str | int] = Field(
        description="Where: `path`, `query`, `header` or `body`, then names and indexes."
    )
    msg: str = Field(description="What is wrong, in words.")
    type: str = Field(description="Pydantic's error type, such as `string_pattern_mismatch`.")


class RequestInvalid(InvalidRequest):
    """A path, query or body parameter that fails its declared type or pattern; ``errors``
    lists each one."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("The request is not valid; see errors.")
        self.errors = errors


def problem_response(error: GatewayError) -> JSONResponse:
    problem = Problem(
        type=error.type,
        title=error.title,
        status=error.status,
        detail=error.detail,
        code=error.code,
        upstream_code=error.upstream_code,
        request_id=error.request_id,
        errors=getattr(error, "errors", None),
    )
    headers = error.headers()
    if error.cache is None:
        headers["Cache-Control"] = "no-store"
    else:
        headers["X-Cache"] = "HIT" if error.cache.hit else "MISS"
        headers["Cache-Control"] = f"max-age={error.cache.max_age}"
    return JSONResponse(
        problem.model_dump(by_alias=True, exclude_none=True),
        status_code=error.status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return problem_response(exc)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: GatewayError
    if exc.status_code == 404:
        error = NotFound("No route matches this path.", code=ErrorCode.ROUTE_NOT_FOUND)
    elif exc.status_code == 405:
        error = MethodNotAllowed("This method is not allowed on this path.")
    else:  # FastAPI's own: a request body that is not JSON
        error = InvalidRequest(str(exc.detail), code=ErrorCode.BAD_REQUEST)
    response = problem_response(error)
    response.headers.update(exc.headers or {})
    return response


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(loc=list(err.get("loc", ())), msg=err.get("msg", ""), type=err.get("type", ""))
        for err in exc.errors()
    ]
    return problem_response(RequestInvalid(errors))


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    return problem_response(GatewayError("The gateway failed unexpectedly."))


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


_DOCUMENTED: dict[int, tuple[type[GatewayError], ErrorCode, str]] = {
    400: (InvalidRequest, ErrorCode.BAD_USER_INPUT, "The id is not in a valid format."),
    404: (NotFound, ErrorCode.INSTANCE_NOT_FOUND, "The deployment or instance does not exist."),
    409: (
        DeploymentNotStarted,
        ErrorCode.DEPLOYMENT_NOT_STARTED,
        "The deployment has not started yet; there is nothing to read.",
    ),
    401: (
        Unauthorized,
        ErrorCode.MISSING_CREDENTIALS,
        "No credentials, or ones that are not valid; see WWW-Authenticate.",
    ),
    403: (
        Forbidden,
        ErrorCode.FORBIDDEN,
        "The caller's credentials do not grant the account it asked for.",
    ),
    413: (PayloadTooLarge, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is larger than allowed."),
    422: (
        UnsupportedComputePlatform,
        ErrorCode.UNSUPPORTED_COMPUTE_PLATFORM,
        "The deployment is not EC2/on-premises (Lambda or ECS).",
    ),
    429: (
        Throttled,
        ErrorCode.THROTTLED,
        "Over this caller's rate limit, or CodeDeploy throttled the gateway; see Retry-After.",
    ),
    502: (
        UpstreamError,
        ErrorCode.UPSTREAM_UNAVAILABLE,
        "CodeDeploy failed, refused or was unreachable.",
    ),
    504: (
        UpstreamTimeout,
        ErrorCode.UPSTREAM_TIMEOUT,
        "CodeDeploy did not answer before the deadline.",
    ),
    503: (NotReady, ErrorCode.NOT_READY, "Not ready: starting, or draining before shutdown."),
}


def problem_responses(
    *statuses: int, examples: Mapping[int, tuple[ErrorCode, str]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route, one problem+json example per status; a route's
    own ``examples`` (status → code, description) replace the general ones."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        error_class, code, description = _DOCUMENTED[status]
        code, description = (examples or {}).get(status, (code, description))
        error = error_class(description, code=code)
        example = Problem(
            type=error.type, title=error.title, status=status, detail=description, code=code
        ).model_dump(by_alias=True, exclude_none=True)
        responses[status] = {
            "description": description,
            "model": Problem,
            "content": {PROBLEM_JSON: {"example": example}},
        }
    return responses
