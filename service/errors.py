"""The one error hierarchy callers can see; REST and GraphQL both render these objects."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, NamedTuple, Self


class ErrorCode(StrEnum):
    """The gateway's closed set of error codes, one spelling on both faces: REST's
    ``code`` and GraphQL's ``extensions.code``. CodeDeploy's own code, when it answered
    one, travels beside it as ``upstreamCode``."""

    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    INVALID_CURSOR = "INVALID_CURSOR"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    DOCUMENT_NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    STREAM_REQUIRED = "STREAM_REQUIRED"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    TOKEN_LIMIT_EXCEEDED = "TOKEN_LIMIT_EXCEEDED"
    DEPTH_LIMIT_EXCEEDED = "DEPTH_LIMIT_EXCEEDED"
    ALIAS_LIMIT_EXCEEDED = "ALIAS_LIMIT_EXCEEDED"
    FIELD_LIMIT_EXCEEDED = "FIELD_LIMIT_EXCEEDED"
    FIELD_REPEAT_LIMIT_EXCEEDED = "FIELD_REPEAT_LIMIT_EXCEEDED"
    ROOT_FIELD_LIMIT_EXCEEDED = "ROOT_FIELD_LIMIT_EXCEEDED"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    VALIDATION_TIMEOUT = "VALIDATION_TIMEOUT"
    RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
    MISSING_CREDENTIALS = "MISSING_CREDENTIALS"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_API_KEY = "INVALID_API_KEY"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
    REGION_NOT_FOUND = "REGION_NOT_FOUND"
    APPLICATION_NOT_FOUND = "APPLICATION_NOT_FOUND"
    DEPLOYMENT_GROUP_NOT_FOUND = "DEPLOYMENT_GROUP_NOT_FOUND"
    DEPLOYMENT_NOT_FOUND = "DEPLOYMENT_NOT_FOUND"
    INSTANCE_NOT_FOUND = "INSTANCE_NOT_FOUND"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    WEBHOOK_NOT_FOUND = "WEBHOOK_NOT_FOUND"
    DEAD_LETTER_NOT_FOUND = "DEAD_LETTER_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    DEPLOYMENT_NOT_STARTED = "DEPLOYMENT_NOT_STARTED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    UNSUPPORTED_COMPUTE_PLATFORM = "UNSUPPORTED_COMPUTE_PLATFORM"
    RATE_LIMITED = "RATE_LIMITED"
    AUTHENTICATION_RATE_LIMITED = "AUTHENTICATION_RATE_LIMITED"
    VALIDATION_BACKLOG = "VALIDATION_BACKLOG"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    TOO_MANY_WATCHED_DEPLOYMENTS = "TOO_MANY_WATCHED_DEPLOYMENTS"
    TOO_MANY_FOLLOWED_GROUPS = "TOO_MANY_FOLLOWED_GROUPS"
    TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"
    THROTTLED = "THROTTLED"
    REQUEST_HEADER_FIELDS_TOO_LARGE = "REQUEST_HEADER_FIELDS_TOO_LARGE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_INVALID_RESPONSE = "UPSTREAM_INVALID_RESPONSE"
    UPSTREAM_ACCESS_DENIED = "UPSTREAM_ACCESS_DENIED"
    NOT_READY = "NOT_READY"
    JWKS_UNAVAILABLE = "JWKS_UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"


class Meaning(NamedTuple):
    status: int
    when: str


# Each code's one status and what it means, as the reference lists them.
VOCABULARY: dict[ErrorCode, Meaning] = {
    ErrorCode.BAD_REQUEST: Meaning(
        400,
        "Not a request this path takes (GraphQL: no query, a body that is not JSON, an unknown "
        "media type).",
    ),
    ErrorCode.BAD_USER_INPUT: Meaning(
        400,
        "An argument, parameter or body that fails its type, pattern or range: a malformed id or "
        "name, a missing id, a filter CodeDeploy does not take, a time outside RFC 3339 or "
        "CodeDeploy's range, a page size or batch outside its bounds. REST's `errors` (and "
        "GraphQL's message) name the field.",
    ),
    ErrorCode.INVALID_CURSOR: Meaning(
        400,
        "A cursor or page token this gateway did not hand out for this list, its filters, account "
        "and region (forged, tampered, too long, or from another list).",
    ),
    ErrorCode.GRAPHQL_PARSE_FAILED: Meaning(400, "GraphQL: the document does not parse."),
    ErrorCode.GRAPHQL_VALIDATION_FAILED: Meaning(
        400, "GraphQL: the document does not validate against the schema."
    ),
    ErrorCode.OPERATION_RESOLUTION_FAILURE: Meaning(
        400,
        "GraphQL: `operationName` names no operation of the document, or several operations and "
        "none named.",
    ),
    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED: Meaning(
        400, "GraphQL: an automatic persisted query where they are turned off."
    ),
    ErrorCode.DOCUMENT_NOT_TRUSTED: Meaning(
        400,
        "GraphQL: a document that is not on the trusted list "
        "(`GATEWAY_GRAPHQL_TRUSTED_DOCUMENTS`).",
    ),
    ErrorCode.PERSISTED_QUERY_HASH_MISMATCH: Meaning(
        400, "GraphQL: a persisted query whose `sha256Hash` is not the document's."
    ),
    ErrorCode.STREAM_REQUIRED: Meaning(
        400,
        "GraphQL: a subscription sent as a plain POST or GET (use WebSocket or `Accept: "
        "text/event-stream`).",
    ),
    ErrorCode.INTROSPECTION_DISABLED: Meaning(
        400, "GraphQL: introspection while `GATEWAY_GRAPHQL_INTROSPECTION` is off."
    ),
    ErrorCode.TOKEN_LIMIT_EXCEEDED: Meaning(
        400, "GraphQL: a document over `GATEWAY_GRAPHQL_MAX_TOKENS`."
    ),
    ErrorCode.DEPTH_LIMIT_EXCEEDED: Meaning(
        400, "GraphQL: a document nested deeper than `GATEWAY_GRAPHQL_MAX_DEPTH`."
    ),
    ErrorCode.ALIAS_LIMIT_EXCEEDED: Meaning(
        400, "GraphQL: more aliases than `GATEWAY_GRAPHQL_MAX_ALIASES`."
    ),
    ErrorCode.FIELD_LIMIT_EXCEEDED: Meaning(
        400, "GraphQL: more fields than `GATEWAY_GRAPHQL_MAX_FIELDS`."
    ),
    ErrorCode.FIELD_REPEAT_LIMIT_EXCEEDED: Meaning(
        400,
        "GraphQL: one response name repeated more than `GATEWAY_GRAPHQL_MAX_FIELD_REPEATS` times.",
    ),
    ErrorCode.ROOT_FIELD_LIMIT_EXCEEDED: Meaning(
        400, "GraphQL: more root fields than `GATEWAY_GRAPHQL_MAX_ROOT_FIELDS`."
    ),
    ErrorCode.COST_LIMIT_EXCEEDED: Meaning(
        400,
        "GraphQL: an operation that may cost more than `GATEWAY_GRAPHQL_MAX_UPSTREAM_CALLS` "
        "CodeDeploy calls or `GATEWAY_GRAPHQL_MAX_RESULT_NODES` result nodes.",
    ),
    ErrorCode.VALIDATION_TIMEOUT: Meaning(
        400, "GraphQL: a document whose validation took too long."
    ),
    ErrorCode.RESPONSE_TOO_LARGE: Meaning(
        400, "GraphQL: an answer over `GATEWAY_GRAPHQL_MAX_RESPONSE_BYTES`."
    ),
    ErrorCode.MISSING_CREDENTIALS: Meaning(401, "No credentials (`GATEWAY_AUTH` is not `none`)."),
    ErrorCode.INVALID_CREDENTIALS: Meaning(
        401, "An `Authorization` header that is not `Bearer <credential>`."
    ),
    ErrorCode.INVALID_API_KEY: Meaning(
        401, "An API key no caller has (also: `/metrics` without its key)."
    ),
    ErrorCode.INVALID_TOKEN: Meaning(
        401, "A token that does not verify (signature, algorithm, key, issuer, audience, claims)."
    ),
    ErrorCode.TOKEN_EXPIRED: Meaning(401, "An expired token."),
    ErrorCode.FORBIDDEN: Meaning(403, "An account the caller's credentials do not grant."),
    ErrorCode.ROUTE_NOT_FOUND: Meaning(404, "No route matches the path."),
    ErrorCode.ACCOUNT_NOT_FOUND: Meaning(404, "An account alias the accounts file does not name."),
    ErrorCode.REGION_NOT_FOUND: Meaning(
        404, "A region the accounts file does not list for the account."
    ),
    ErrorCode.APPLICATION_NOT_FOUND: Meaning(404, "The application does not exist."),
    ErrorCode.DEPLOYMENT_GROUP_NOT_FOUND: Meaning(404, "The deployment group does not exist."),
    ErrorCode.DEPLOYMENT_NOT_FOUND: Meaning(404, "The deployment does not exist."),
    ErrorCode.INSTANCE_NOT_FOUND: Meaning(404, "The instance is not part of the deployment."),
    ErrorCode.WEBHOOK_NOT_FOUND: Meaning(
        404, "No webhook of that name (or none at all) is configured (`/operations/webhooks`)."
    ),
    ErrorCode.DEAD_LETTER_NOT_FOUND: Meaning(
        404, "No dead letter by that reference: resent already, or never one."
    ),
    ErrorCode.TARGET_NOT_FOUND: Meaning(404, "The target is not part of the deployment."),
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: Meaning(
        404,
        "GraphQL: a persisted query hash the gateway does not hold yet (send the document with "
        "it).",
    ),
    ErrorCode.METHOD_NOT_ALLOWED: Meaning(
        405, "A method the path does not answer; `Allow` names the ones it does."
    ),
    ErrorCode.REQUEST_TIMEOUT: Meaning(
        408, "A request body not complete `GATEWAY_BODY_TIMEOUT_SECONDS` after it began."
    ),
    ErrorCode.DEPLOYMENT_NOT_STARTED: Meaning(
        409, "The deployment has not started yet, so it has no instances or targets to read."
    ),
    ErrorCode.PAYLOAD_TOO_LARGE: Meaning(413, "A request body over `GATEWAY_MAX_BODY_BYTES`."),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: Meaning(
        415, "GraphQL: a POST body in a media type other than JSON."
    ),
    ErrorCode.UNSUPPORTED_COMPUTE_PLATFORM: Meaning(
        422, "An instance read of a Lambda or ECS deployment: read its targets instead."
    ),
    ErrorCode.RATE_LIMITED: Meaning(
        429,
        "This caller is over its rate limit (requests, or the CodeDeploy calls an operation may "
        "cost).",
    ),
    ErrorCode.AUTHENTICATION_RATE_LIMITED: Meaning(
        429, "Too many failed authentications from this address."
    ),
    ErrorCode.VALIDATION_BACKLOG: Meaning(
        429, "GraphQL: too many long documents waiting to be validated."
    ),
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: Meaning(
        429,
        "The caller already holds `GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER` event streams and "
        "subscriptions.",
    ),
    ErrorCode.TOO_MANY_WATCHED_DEPLOYMENTS: Meaning(
        429, "`GATEWAY_MAX_WATCHED_DEPLOYMENTS` deployments are already watched."
    ),
    ErrorCode.TOO_MANY_FOLLOWED_GROUPS: Meaning(
        429, "`GATEWAY_MAX_FOLLOWED_GROUPS` deployment groups are already followed."
    ),
    ErrorCode.TOO_MANY_OPERATIONS: Meaning(
        429, "GraphQL over WebSocket: too many operations running on one connection."
    ),
    ErrorCode.THROTTLED: Meaning(
        429, "CodeDeploy (or STS) throttled the gateway past its retries; `Retry-After` says when."
    ),
    ErrorCode.REQUEST_HEADER_FIELDS_TOO_LARGE: Meaning(
        431,
        "A request line and headers, trailers or a chunk size line over "
        "`GATEWAY_MAX_HEADER_BYTES`.",
    ),
    ErrorCode.INTERNAL_SERVER_ERROR: Meaning(
        500, "A bug in the gateway: logged with its traceback, answered without it."
    ),
    ErrorCode.UPSTREAM_ERROR: Meaning(
        502,
        "CodeDeploy (or STS) answered with an error the gateway does not know; `upstreamCode` is "
        "CodeDeploy's own.",
    ),
    ErrorCode.UPSTREAM_UNAVAILABLE: Meaning(502, "CodeDeploy (or STS) could not be reached."),
    ErrorCode.UPSTREAM_INVALID_RESPONSE: Meaning(
        502, "CodeDeploy's reply could not be parsed, or left out what was asked."
    ),
    ErrorCode.UPSTREAM_ACCESS_DENIED: Meaning(
        502, "CodeDeploy or STS refused the gateway's own AWS identity, or the gateway has none."
    ),
    ErrorCode.NOT_READY: Meaning(
        503, "Starting, or draining after SIGTERM (`/readyz`, and streams opened while draining)."
    ),
    ErrorCode.JWKS_UNAVAILABLE: Meaning(
        503, "The identity provider's keys have never been fetched."
    ),
    ErrorCode.UPSTREAM_TIMEOUT: Meaning(
        504, "CodeDeploy (or STS) did not answer before `GATEWAY_UPSTREAM_TIMEOUT_SECONDS`."
    ),
}


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Where an answer came from and how long it stays fresh.

    ``entry`` is the stored cache entry the answer is (None when nothing was stored):
    a GraphQL response built from answers stays valid while their entries do.
    """

    hit: bool
    max_age: int
    entry: object = field(default=None, compare=False, repr=False)
    stale: str | None = None
    """Why an answer past its lifetime was given (the code of the error CodeDeploy's read
    failed with): None for a fresh one."""
    age: int = 0
    """Seconds since the answer was read from CodeDeploy (set for a stale one)."""
    directives: bytes = b""
    """What downstream caches may do past ``max_age`` (``, stale-if-error=300``), as the
    cache that answered allows it."""


class GatewayError(Exception):
    """The gateway failed itself: logged with its traceback, answered without it.

    The base of every error a caller can see: subclasses fix the HTTP status and the
    problem type; ``code`` names the condition, ``upstream_code`` the error CodeDeploy
    answered (if it did) and ``request_id`` the upstream request.
    """

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal Server Error"
    default_code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(
        self,
        detail: str,
        *,
        code: ErrorCode | None = None,
        upstream_code: str | None = None,
        request_id: str | None = None,
        cache: CacheInfo | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.upstream_code = upstream_code
        self.request_id = request_id
        self.cache = cache

    @property
    def type(self) -> str:
        return f"urn:codedeploy-gateway:problem:{self.slug}"

    def headers(self) -> dict[str, str]:
        """Extra response headers this error calls for."""
        return {}

    def replay(self, cache: CacheInfo | None = None, code: ErrorCode | None = None) -> Self:
        """A fresh copy (for a cached answer, or under another code), never the same object."""
        return type(self)(
            self.detail,
            code=code or self.code,
            upstream_code=self.upstream_code,
            request_id=self.request_id,
            cache=cache,
        )


class InvalidRequest(GatewayError):
    """A malformed id, filter, body or page token, from the caller or as CodeDeploy judged."""

    status = 400
    slug = "invalid-request"
    title = "Invalid Request"
    default_code = ErrorCode.BAD_USER_INPUT


class NotFound(GatewayError):
    """The deployment, instance or target does not exist (cached briefly)."""

    status = 404
    slug = "not-found"
    title = "Not Found"
    default_code = ErrorCode.ROUTE_NOT_FOUND


class Unauthorized(GatewayError):
    """No credentials, or ones that do not check out; the detail says which, never echoes them."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    default_code = ErrorCode.MISSING_CREDENTIALS

    def headers(self) -> dict[str, str]:
        # RFC 6750: a presented but unusable credential is an invalid_token.
        challenge = 'Bearer realm="codedeploy-gateway"'
        if self.code != ErrorCode.MISSING_CREDENTIALS:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


class Forbidden(GatewayError):
    """A caller known by its credentials asks for what it was not granted."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"
    default_code = ErrorCode.FORBIDDEN


class MethodNotAllowed(GatewayError):
    """A method the path does not answer; ``Allow`` names the ones it does."""

    status = 405
    slug = "method-not-allowed"
    title = "Method Not Allowed"
    default_code = ErrorCode.METHOD_NOT_ALLOWED


class PayloadTooLarge(GatewayError):
    """A request body over ``GATEWAY_MAX_BODY_BYTES``, refused before it is read."""

    status = 413
    slug = "payload-too-large"
    title = "Payload Too Large"
    default_code = ErrorCode.PAYLOAD_TOO_LARGE


class RequestTimeout(GatewayError):
    """A request body not complete ``GATEWAY_BODY_TIMEOUT_SECONDS`` after it began; the
    connection is closed with the answer."""

    status = 408
    slug = "request-timeout"
    title = "Request Timeout"
    default_code = ErrorCode.REQUEST_TIMEOUT


class UnsupportedComputePlatform(GatewayError):
    """An instance read of a Lambda or ECS deployment: read its targets instead."""

    status = 422
    slug = "unsupported-compute-platform"
    title = "Unsupported Compute Platform"
    default_code = ErrorCode.UNSUPPORTED_COMPUTE_PLATFORM


class DeploymentNotStarted(GatewayError):
    """The deployment has not started yet, so it has no instances to read."""

    status = 409
    slug = "deployment-not-started"
    title = "Deployment Not Started"
    default_code = ErrorCode.DEPLOYMENT_NOT_STARTED


class Throttled(GatewayError):
    """CodeDeploy throttled past the retries and the deadline; ``Retry-After`` says when."""

    status = 429
    slug = "throttled"
    title = "Too Many Requests"
    default_code = ErrorCode.THROTTLED
    # CodeDeploy's read quotas refill per second; one second is the shortest useful wait.
    retry_after_seconds: ClassVar[int] = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class BudgetSpent(Throttled):
    """The gateway's own budget toward CodeDeploy is spent
    (``GATEWAY_UPSTREAM_RATE_PER_SECOND``): no call was made. A read whose stale answer
    stood ready fails so at once, to be answered with it; any other, once its deadline
    ran out waiting."""


class RateLimited(Throttled):
    """This caller is over its own rate limit; CodeDeploy was not asked."""

    slug = "rate-limited"
    default_code = ErrorCode.RATE_LIMITED

    def __init__(
        self, detail: str, *, retry_after_seconds: int, code: ErrorCode | None = None
    ) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UpstreamError(GatewayError):
    """CodeDeploy failed, answered what could not be read, or could not be reached."""

    status = 502
    slug = "upstream-error"
    title = "Bad Gateway"
    default_code = ErrorCode.UPSTREAM_ERROR


class UpstreamAccessDenied(UpstreamError):
    """CodeDeploy or STS refused the gateway's AWS identity: its IAM policy, its
    credentials, or a member account's role (AWS's text, which names them, is not passed on)."""

    slug = "upstream-access-denied"
    title = "Upstream Access Denied"
    default_code = ErrorCode.UPSTREAM_ACCESS_DENIED


class NotReady(GatewayError):
    """Starting, or draining after SIGTERM: ``/readyz`` only."""

    status = 503
    slug = "not-ready"
    title = "Service Unavailable"
    default_code = ErrorCode.NOT_READY


class UpstreamTimeout(GatewayError):
    """The deadline (``GATEWAY_UPSTREAM_TIMEOUT_SECONDS``) ran out before CodeDeploy answered."""

    status = 504
    slug = "upstream-timeout"
    title = "Gateway Timeout"
    default_code = ErrorCode.UPSTREAM_TIMEOUT
