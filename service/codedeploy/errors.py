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
    GatewayError,
    InvalidRequest,
    NotFound,
    Throttled,
    UnsupportedComputePlatform,
    UpstreamAccessDenied,
    UpstreamError,
    UpstreamTimeout,
)

# Errors the caller caused: CodeDeploy's message is passed on as the detail.
CALLER_ERRORS: dict[str, type[GatewayError]] = {
    codes.DEPLOYMENT_ID_REQUIRED: InvalidRequest,
    codes.INSTANCE_ID_REQUIRED: InvalidRequest,
    codes.INVALID_DEPLOYMENT_ID: InvalidRequest,
    codes.INVALID_INSTANCE_NAME: InvalidRequest,
    codes.DEPLOYMENT_TARGET_ID_REQUIRED: InvalidRequest,
    codes.INVALID_DEPLOYMENT_TARGET_ID: InvalidRequest,
    codes.BATCH_LIMIT_EXCEEDED: InvalidRequest,
    "DeploymentTargetListSizeExceededException": InvalidRequest,
    codes.INVALID_NEXT_TOKEN: InvalidRequest,
    "InvalidInstanceStatusException": InvalidRequest,
    "InvalidInstanceTypeException": InvalidRequest,
    "InvalidDeploymentInstanceTypeException": InvalidRequest,
    "InvalidTargetFilterNameException": InvalidRequest,
    codes.DEPLOYMENT_DOES_NOT_EXIST: NotFound,
    codes.INSTANCE_DOES_NOT_EXIST: NotFound,
    codes.DEPLOYMENT_TARGET_DOES_NOT_EXIST: NotFound,
    codes.DEPLOYMENT_NOT_STARTED: DeploymentNotStarted,
    codes.APPLICATION_NAME_REQUIRED: InvalidRequest,
    codes.INVALID_APPLICATION_NAME: InvalidRequest,
    codes.DEPLOYMENT_GROUP_NAME_REQUIRED: InvalidRequest,
    codes.INVALID_DEPLOYMENT_GROUP_NAME: InvalidRequest,
    "InvalidDeploymentStatusException": InvalidRequest,
    codes.INVALID_TIME_RANGE: InvalidRequest,
    codes.APPLICATION_DOES_NOT_EXIST: NotFound,
    codes.DEPLOYMENT_GROUP_DOES_NOT_EXIST: NotFound,
    codes.INVALID_COMPUTE_PLATFORM: UnsupportedComputePlatform,
}

# In targets mode, instance-shaped answers keep the codes the instance routes document.
TARGET_CODES_AS_INSTANCE_CODES = {
    codes.DEPLOYMENT_TARGET_DOES_NOT_EXIST: codes.INSTANCE_DOES_NOT_EXIST,
    codes.INVALID_DEPLOYMENT_TARGET_ID: codes.INVALID_INSTANCE_NAME,
    codes.DEPLOYMENT_TARGET_ID_REQUIRED: codes.INSTANCE_ID_REQUIRED,
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
    """A targets-API error under the instances API's code, where there is one."""
    code = TARGET_CODES_AS_INSTANCE_CODES.get(error.code)
    return error if code is None else error.replay(error.cache, code=code)


def from_client_error(exc: ClientError) -> GatewayError:
    """Translate an error CodeDeploy answered with."""
    error = exc.response.get("Error", {})
    code = error.get("Code") or "UpstreamError"
    message = error.get("Message") or code
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")

    caller_error = CALLER_ERRORS.get(code)
    if caller_error is not None:
        return caller_error(message, code=code, request_id=request_id)
    if code in THROTTLING_CODES:
        return Throttled(
            "CodeDeploy is throttling the gateway; retry after a short wait.",
            code=code,
            request_id=request_id,
        )
    if code in IDENTITY_CODES or code.startswith("AccessDenied"):
        return UpstreamAccessDenied(IDENTITY_DETAIL, code=code, request_id=request_id)
    return UpstreamError(
        f"CodeDeploy answered with an error the gateway does not know ({code}).",
        code=code,
        request_id=request_id,
    )


def from_botocore_error(exc: BotoCoreError) -> GatewayError:
    """Translate a failure that happened before or instead of an answer."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return UpstreamAccessDenied(IDENTITY_DETAIL, code="NoCredentials")
    if isinstance(exc, ParamValidationError):
        return InvalidRequest(str(exc), code="InvalidParameter")
    if isinstance(exc, ReadTimeoutError):
        return UpstreamTimeout("CodeDeploy did not answer in time.")
    if isinstance(exc, HTTPClientError):
        return UpstreamError(UNAVAILABLE_DETAIL, code="UpstreamUnavailable")
    if isinstance(exc, ResponseParserError):
        return UpstreamError(
            "CodeDeploy's reply could not be parsed.", code="UpstreamInvalidResponse"
        )
    # Credential providers (web identity, SSO, process) fail with their own classes.
    if "Credential" in type(exc).__name__ or "Token" in type(exc).__name__:
        return UpstreamAccessDenied(IDENTITY_DETAIL, code="CredentialsUnavailable")
    return UpstreamError(UNAVAILABLE_DETAIL, code="UpstreamUnavailable")


def sts_error(error: GatewayError, alias: str) -> GatewayError:
    """STS failing to give the gateway an account's credentials, told under the account's
    alias alone (STS's own text names the role and both accounts). The caller caused none
    of it: whatever is not throttling, a refusal or a timeout is a 502."""
    where = f"account {alias!r}"
    if isinstance(error, Throttled):
        return Throttled(
            f"STS is throttling the gateway for {where}; retry later.",
            code=error.code,
            request_id=error.request_id,
        )
    if isinstance(error, UpstreamAccessDenied):
        own = error.code in IDENTITY_CODES or error.code in {
            "NoCredentials",
            "CredentialsUnavailable",
        }
        detail = (
            f"STS refused the gateway's own AWS identity, asking for {where}; the operators "
            "have to fix the gateway's credentials."
            if own
            else f"The gateway could not take its role in {where}; the operators have to fix "
            "the role or its trust policy."
        )
        return UpstreamAccessDenied(detail, code=error.code, request_id=error.request_id)
    if isinstance(error, UpstreamTimeout):
        return UpstreamTimeout(f"STS did not answer in time for {where}.", code="StsTimeout")
    code = (
        "StsUnavailable" if error.code in {"UpstreamError", "UpstreamUnavailable"} else error.code
    )
    return UpstreamError(
        f"STS could not give the gateway credentials for {where} ({code}).",
        code=code,
        request_id=error.request_id,
    )
