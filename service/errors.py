"""The one error hierarchy callers can see; REST and GraphQL both render these objects."""

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import ClassVar, Self

from service import codes


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Where an answer came from and how long it stays fresh.

    ``entry`` is the stored cache entry the answer is (None when nothing was stored):
    a GraphQL response built from answers stays valid while their entries do.
    """

    hit: bool
    max_age: int
    entry: object = field(default=None, compare=False, repr=False)


class GatewayError(Exception):
    """The gateway failed itself: logged with its traceback, answered without it.

    The base of every error a caller can see: subclasses fix the HTTP status and the
    problem type; ``code`` names the CodeDeploy error (or the gateway's own condition)
    and ``request_id`` the upstream request.
    """

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal Server Error"
    default_code: str = "InternalError"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        cache: CacheInfo | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.request_id = request_id
        self.cache = cache

    @property
    def type(self) -> str:
        return f"urn:codedeploy-gateway:problem:{self.slug}"

    def headers(self) -> dict[str, str]:
        """Extra response headers this error calls for."""
        return {}

    def replay(self, cache: CacheInfo | None = None, code: str | None = None) -> Self:
        """A fresh copy (for a cached answer, or under another code), never the same object."""
        return type(self)(
            self.detail, code=code or self.code, request_id=self.request_id, cache=cache
        )


class HTTPProblem(GatewayError):
    """A plain HTTP condition with no CodeDeploy error behind it (an unknown path: 404),
    answered with that condition's status."""

    slug = "http-error"

    def __init__(self, status: int, detail: str) -> None:
        phrase = HTTPStatus(status).phrase
        super().__init__(detail, code=phrase.title().replace(" ", "").replace("-", ""))
        self.status = status
        self.title = phrase


class InvalidRequest(GatewayError):
    """A malformed id, filter, body or page token, from the caller or as CodeDeploy judged."""

    status = 400
    slug = "invalid-request"
    title = "Invalid Request"
    default_code = "InvalidRequest"


class NotFound(GatewayError):
    """The deployment, instance or target does not exist (cached briefly)."""

    status = 404
    slug = "not-found"
    title = "Not Found"
    default_code = "NotFound"


class Unauthorized(GatewayError):
    """No credentials, or ones that do not check out; the detail says which, never echoes them."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    default_code = "Unauthorized"

    def headers(self) -> dict[str, str]:
        # RFC 6750: a presented but unusable credential is an invalid_token.
        challenge = 'Bearer realm="codedeploy-gateway"'
        if self.code != "MissingCredentials":
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


class Forbidden(GatewayError):
    """A caller known by its credentials asks for what it was not granted."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"
    default_code = "Forbidden"


class MethodNotAllowed(GatewayError):
    """A method the path does not answer; ``Allow`` names the ones it does."""

    status = 405
    slug = "method-not-allowed"
    title = "Method Not Allowed"
    default_code = "MethodNotAllowed"


class PayloadTooLarge(GatewayError):
    """A request body over ``GATEWAY_MAX_BODY_BYTES``, refused before it is read."""

    status = 413
    slug = "payload-too-large"
    title = "Payload Too Large"
    default_code = "PayloadTooLarge"


class RequestTimeout(GatewayError):
    """A request body not complete ``GATEWAY_BODY_TIMEOUT_SECONDS`` after it began; the
    connection is closed with the answer."""

    status = 408
    slug = "request-timeout"
    title = "Request Timeout"
    default_code = "RequestTimeout"


class UnsupportedComputePlatform(GatewayError):
    """An instance read of a Lambda or ECS deployment: read its targets instead."""

    status = 422
    slug = "unsupported-compute-platform"
    title = "Unsupported Compute Platform"
    default_code = codes.INVALID_COMPUTE_PLATFORM


class DeploymentNotStarted(GatewayError):
    """The deployment has not started yet, so it has no instances to read."""

    status = 409
    slug = "deployment-not-started"
    title = "Deployment Not Started"
    default_code = codes.DEPLOYMENT_NOT_STARTED


class Throttled(GatewayError):
    """CodeDeploy throttled past the retries and the deadline; ``Retry-After`` says when."""

    status = 429
    slug = "throttled"
    title = "Too Many Requests"
    default_code = codes.THROTTLING
    # CodeDeploy's read quotas refill per second; one second is the shortest useful wait.
    retry_after_seconds: ClassVar[int] = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class RateLimited(Throttled):
    """This caller is over its own rate limit; CodeDeploy was not asked."""

    slug = "rate-limited"
    default_code = "RateLimitExceeded"

    def __init__(self, detail: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UpstreamError(GatewayError):
    """CodeDeploy failed, answered what could not be read, or could not be reached."""

    status = 502
    slug = "upstream-error"
    title = "Bad Gateway"
    default_code = "UpstreamError"


class UpstreamAccessDenied(UpstreamError):
    """CodeDeploy or STS refused the gateway's AWS identity: its IAM policy, its
    credentials, or a member account's role (AWS's text, which names them, is not passed on)."""

    slug = "upstream-access-denied"
    title = "Upstream Access Denied"
    default_code = "AccessDeniedException"


class NotReady(GatewayError):
    """Starting, or draining after SIGTERM: ``/readyz`` only."""

    status = 503
    slug = "not-ready"
    title = "Service Unavailable"
    default_code = "NotReady"


class UpstreamTimeout(GatewayError):
    """The deadline (``GATEWAY_UPSTREAM_TIMEOUT_SECONDS``) ran out before CodeDeploy answered."""

    status = 504
    slug = "upstream-timeout"
    title = "Gateway Timeout"
    default_code = "UpstreamTimeout"
