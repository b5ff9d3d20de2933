"""The one table from CodeDeploy's error codes to the gateway's errors."""

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from service import codes
from service.errors import (
    DeploymentNotStarted,
    ErrorCode,
    GatewayError,
    InvalidRequest,
    NotFound,
    Throttled,
    UnsupportedComputePlatform,
    UpstreamAccessDenied,
    UpstreamError,
    UpstreamTimeout,
)

# Errors the caller caused: CodeDeploy's message is passed on as the detail, its code as
# ``upstream_code`` beside the gateway's own.
CALLER_ERRORS: dict[str, tuple[type[GatewayError], ErrorCode]] = {
    codes.DEPLOYMENT_ID_REQUIRED: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INSTANCE_ID_REQUIRED: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_DEPLOYMENT_ID: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_INSTANCE_NAME: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.DEPLOYMENT_TARGET_ID_REQUIRED: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_DEPLOYMENT_TARGET_ID: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.BATCH_LIMIT_EXCEEDED: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    "DeploymentTargetListSizeExceededException": (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_NEXT_TOKEN: (InvalidRequest, ErrorCode.INVALID_CURSOR),
    "InvalidInstanceStatusException": (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    "InvalidInstanceTypeException": (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    "InvalidDeploymentInstanceTypeException": (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    "InvalidTargetFilterNameException": (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.APPLICATION_NAME_REQUIRED: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_APPLICATION_NAME: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.DEPLOYMENT_GROUP_NAME_REQUIRED: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_DEPLOYMENT_GROUP_NAME: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    "InvalidDeploymentStatusException": (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.INVALID_TIME_RANGE: (InvalidRequest, ErrorCode.BAD_USER_INPUT),
    codes.DEPLOYMENT_DOES_NOT_EXIST: (NotFound, ErrorCode.DEPLOYMENT_NOT_FOUND),
    codes.INSTANCE_DOES_NOT_EXIST: (NotFound, ErrorCode.INSTANCE_NOT_FOUND),
    codes.DEPLOYMENT_TARGET_DOES_NOT_EXIST: (NotFound, ErrorCode.TARGET_NOT_FOUND),
    codes.APPLICATION_DOES_NOT_EXIST: (NotFound, ErrorCode.APPLICATION_NOT_FOUND),
    codes.DEPLOYMENT_GROUP_DOES_NOT_EXIST: (NotFound, ErrorCode.DEPLOYMENT_GROUP_NOT_FOUND),
    codes.DEPLOYMENT_NOT_STARTED: (DeploymentNotStarted, ErrorCode.DEPLOYMENT_NOT_STARTED),
    codes.INVALID_COMPUTE_PLATFORM: (
        UnsupportedComputePlatform,
        ErrorCode.UNSUPPORTED_COMPUTE_PLATFORM,
    ),
}

# The codes botocore's standard retry mode treats as throttling.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        codes.THROTTLING,
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

# The gateway's own AWS identity was refused. AWS's text names the role and account,
# so the caller gets a generic detail instead.
IDENTITY_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "AuthFailure",
    }
)

IDENTITY_DETAIL = (
    "CodeDeploy refused the gateway's AWS identity; the operators have to fix its permissions."
)
UNAVAILABLE_DETAIL = "CodeDeploy could not be reached."


def as_instance_error(error: GatewayError) -> GatewayError:
    """A targets-API error as the instance routes answer it (the instance is the target)."""
    if error.code != ErrorCode.TARGET_NOT_FOUND:
        return error
    return error.replay(error.cache, code=ErrorCode.INSTANCE_NOT_FOUND)


def from_client_error(exc: ClientError) -> GatewayError:
    """Translate an error CodeDeploy answered with."""
    error = exc.response.get("Error", {})
    code = error.get("Code") or None
    message = error.get("Message") or code or "CodeDeploy failed."
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")

    if code in CALLER_ERRORS:
        kind, own = CALLER_ERRORS[code]
        return kind(message, code=own, upstream_code=code, request_id=request_id)
    if code in THROTTLING_CODES:
        kind, detail = Throttled, "CodeDeploy is throttling the gateway; retry after a short wait."
    elif code is not None and (code in IDENTITY_CODES or code.startswith("AccessDenied")):
        kind, detail = UpstreamAccessDenied, IDENTITY_DETAIL
    else:
        kind, detail = (
            UpstreamError,
            f"CodeDeploy answered with an error the gateway does not know ({code}).",
        )
    return kind(detail, upstream_code=code, request_id=request_id)


def from_botocore_error(exc: BotoCoreError) -> GatewayError:
    """Translate a failure that happened before or instead of an answer."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return UpstreamAccessDenied(IDENTITY_DETAIL)
    if isinstance(exc, ParamValidationError):
        return InvalidRequest(str(exc))
    if isinstance(exc, ReadTimeoutError):
        return UpstreamTimeout("CodeDeploy did not answer in time.")
    if isinstance(exc, HTTPClientError):
        return UpstreamError(UNAVAILABLE_DETAIL, code=ErrorCode.UPSTREAM_UNAVAILABLE)
    if isinstance(exc, ResponseParserError):
        return UpstreamError(
            "CodeDeploy's reply could not be parsed.", code=ErrorCode.UPSTREAM_INVALID_RESPONSE
        )
    # Credential providers (web identity, SSO, process) fail with their own classes.
    if "Credential" in type(exc).__name__ or "Token" in type(exc).__name__:
        return UpstreamAccessDenied(IDENTITY_DETAIL)
    return UpstreamError(UNAVAILABLE_DETAIL, code=ErrorCode.UPSTREAM_UNAVAILABLE)


def sts_error(error: GatewayError, alias: str) -> GatewayError:
    """STS failing to give the gateway an account's credentials, told under the account's
    alias alone (STS's own text names the role and both accounts). The caller caused none
    of it: whatever is not throttling, a refusal or a timeout is a 502."""
    where = f"account {alias!r}"
    upstream_code, request_id = error.upstream_code, error.request_id
    if isinstance(error, Throttled):
        return Throttled(
            f"STS is throttling the gateway for {where}; retry later.",
            upstream_code=upstream_code,
            request_id=request_id,
        )
    if isinstance(error, UpstreamAccessDenied):
        own = error.upstream_code is None or error.upstream_code in IDENTITY_CODES
        detail = (
            f"STS refused the gateway's own AWS identity, asking for {where}; the operators "
            "have to fix the gateway's credentials."
            if own
            else f"The gateway could not take its role in {where}; the operators have to fix "
            "the role or its trust policy."
        )
        return UpstreamAccessDenied(detail, upstream_code=upstream_code, request_id=request_id)
    if isinstance(error, UpstreamTimeout):
        return UpstreamTimeout(f"STS did not answer in time for {where}.")
    if upstream_code is None:  # no answer, or one that could not be read
        unread = error.code == ErrorCode.UPSTREAM_INVALID_RESPONSE
        return UpstreamError(
            f"STS's answer could not be read for {where}."
            if unread
            else f"STS could not be reached for {where}.",
            code=error.code if unread else ErrorCode.UPSTREAM_UNAVAILABLE,
        )
    return UpstreamError(
        f"STS could not give the gateway credentials for {where} ({upstream_code}).",
        upstream_code=upstream_code,
        request_id=request_id,
    )
