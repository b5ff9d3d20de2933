"""All configuration, read once from the environment and validated at start-up."""

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    IPvAnyNetwork,
    RedisDsn,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PositiveSeconds = Annotated[float, Field(gt=0, le=3600)]
CacheSeconds = Annotated[float, Field(ge=0, le=86400)]
AuthScheme = Literal["api-key", "jwt"]
UpstreamApi = Literal["instances", "targets"]
AUTH_CHOICES = "none, api-key, jwt or api-key,jwt"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
M = TypeVar("M", bound=BaseModel)


class ConfigurationError(Exception):
    """The configuration cannot produce a working gateway; the message names the variable."""


def load_file(path: Path, model: type[M], source: str) -> M:
    """``path``'s document (JSON, or YAML for a name ending in ``.yaml`` or ``.yml``) as
    ``model``, or ``ConfigurationError`` with one line per problem, each saying where."""
    where = f"{source} ({path})"
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{where}: {exc.strerror}") from None
    try:
        raw = parse_document(content, yaml_file=path.suffix.lower() in YAML_SUFFIXES)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"{where}: {'.'.join(map(str, error['loc'])) or 'file'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError("\n".join(lines)) from None


def parse_document(content: str | bytes, *, yaml_file: bool = False) -> object:
    """A configuration file's JSON (or YAML) document; a ``ValueError`` in one line for
    one that is not, or that names a field twice (the last would silently win)."""
    if yaml_file:
        return _parse_yaml(content)
    try:
        return json.loads(content, object_pairs_hook=_unique)
    except _Repeated as exc:
        raise ValueError(str(exc)) from None
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("not JSON this gateway reads: nested too deep") from None


class _Repeated(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _Repeated(f"{key!r} is named twice in one object")
        document[key] = value
    return document


def _parse_yaml(content: str | bytes) -> object:
    """Every scalar a string, as the files' fields are (an unquoted ``123456789012`` or
    ``on`` stays as written; tags are ignored, nothing is ever constructed), and a key
    named twice in a mapping is an error."""
    import yaml  # here: its C parser costs a process ~3 MB, JSON files none

    class Loader(yaml.BaseLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        problem=f"{key!r} is named twice", problem_mark=key_node.start_mark
                    )
                seen.add(key)
            mapping: dict[Any, Any] = super().construct_mapping(node, deep)
            return mapping

    try:
        return yaml.load(content, Loader=Loader)  # builds strings, lists and mappings only
    except yaml.reader.ReaderError as exc:
        raise ValueError(f"not YAML: not UTF-8 text at byte {exc.position}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ValueError(f"not YAML: {problem}{at}") from None
    except RecursionError:
        raise ValueError("not YAML this gateway reads: nested too deep") from None
    except TypeError:  # a list or mapping as a key ("? [a]")
        raise ValueError("not YAML this gateway reads: a key that is not a string") from None


class Settings(BaseSettings):
    """Every ``GATEWAY_*`` variable, plus the one AWS variable botocore does not read itself.

    A bad value stops the process at start-up with a message naming the variable,
    rather than surfacing as odd behaviour under load.
    """

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    host: str = "127.0.0.1"
    """Address to listen on; ``0.0.0.0`` in a container."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port to listen on."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """The access log is at ``info``; botocore stays at ``warning`` (its debug output
    carries request headers)."""

    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    """After SIGTERM: /readyz answers 503 this long before the server stops accepting,
    so load balancers have stopped routing here by then."""
    shutdown_timeout_seconds: int = Field(default=20, gt=0, le=600)
    """Then in-flight requests get this long to finish before they are cut."""

    max_header_bytes: int = Field(default=32_768, ge=1024, le=1024 * 1024)
    """A request line and headers larger than this are refused (431) as they arrive."""
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """A connection whose request head is not complete this long after it opened, or
    after the request's first byte, is closed."""
    keepalive_timeout_seconds: int = Field(default=5, ge=1, le=3600)
    """An idle keep-alive connection is closed after this long."""
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    """Connections at once: past it, each new one closes the oldest that has not sent a
    whole request (idle, slow head, slow body); requests in flight past it are 503."""
    max_body_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    """Larger request bodies are refused (413) before they are read."""
    ws_send_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """A GraphQL WebSocket whose client has not read what the gateway sends for this
    long is closed (1013), as an event stream drops a consumer that stopped."""
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """A request body not complete this long after the gateway began reading it is
    refused (408) and the connection closed."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Browser origins allowed to call the API, comma-separated; none by default."""
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    """Proxies (addresses or CIDRs, comma-separated) whose forwarding header is believed;
    none by default, so no client can claim an address."""
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    """The one header a trusted proxy writes the client's address in: ``x-forwarded-for``
    (nginx, AWS ALB, most ingresses) or ``forwarded`` (RFC 7239 proxies). The other is
    ignored: a proxy passes it through from the client as it came."""

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    auth: Annotated[frozenset[AuthScheme] | None, NoDecode] = None
    """Who may call: ``none``, ``api-key``, ``jwt`` or both. Required outside local mode,
    so a gateway never ends up open by omission."""
    api_keys: SecretStr | None = None
    """JSON ``{"caller name": "sha256 hex of the key"}``; with many accounts, an entry
    ``{"sha256": "…", "accounts": ["staging"]}`` reads only those (docs/accounts.md)."""
    api_keys_file: Path | None = None
    """The same JSON in a file, e.g. a mounted Kubernetes Secret."""
    jwt_jwks_url: AnyHttpUrl | None = None
    """The identity provider's JWKS, over https (plain http only on loopback)."""
    jwt_jwks_file: Path | None = None
    """The JWKS in a file instead, e.g. a mounted ConfigMap."""
    jwt_issuer: str | None = None
    """The ``iss`` every token must carry."""
    jwt_audience: str | None = None
    """The ``aud`` every token must carry."""
    jwt_caller_claim: str = "sub"
    """The claim that names the caller (``jwt:<value>`` in logs, metrics and limits)."""
    jwt_accounts_claim: str | None = None
    """The token claim listing the accounts (aliases) its caller may read; unset: all."""
    jwt_leeway_seconds: float = Field(default=30, ge=0, le=300)
    """Clock skew allowed on ``exp`` and ``nbf``."""
    metrics_api_key: SecretStr | None = None
    """When set, /metrics wants this key (Bearer or X-API-Key); otherwise it is open."""
    cursor_secret: SecretStr | None = None
    """Signs the page tokens and cursors the gateway hands out; replicas must share it.
    Generated per process when unset (fine for one replica; logged as a warning)."""
    docs: bool = True
    """Swagger UI, /openapi.json and GraphiQL."""

    rate_limit_per_second: float | None = Field(default=None, gt=0, le=100_000)
    """Requests per second per caller (per client IP without auth); no limit when unset."""
    rate_limit_burst: int | None = Field(default=None, ge=1, le=1_000_000)
    """Requests a caller may make at once; defaults to one second's worth."""
    upstream_max_concurrency: int = Field(default=64, ge=1, le=1024)
    """CodeDeploy calls in flight at once, across all callers: the account's quota is shared."""
    upstream_rate_per_second: float | None = Field(default=None, gt=0, le=10_000)
    """CodeDeploy calls a second per account region (a fleet's together, with the store),
    set below the account's quota so the gateway never throttles its other tools; callers'
    reads first, background reads (watchers, refreshes) only while half is left; past it,
    a read with a stale answer ready is answered stale at once, any other waits. Unset: none."""

    # What one GraphQL document may cost, checked before it is validated or run. The
    # defaults sit well above what real frontend queries use (the README's and GraphiQL's
    # examples use a tenth of each) and well below what stalls a core.
    graphql_max_depth: int = Field(default=12, ge=1, le=100)
    """Nesting of selections in an operation."""
    graphql_max_aliases: int = Field(default=100, ge=0, le=10_000)
    """Aliases in an operation."""
    graphql_max_tokens: int = Field(default=5000, ge=10, le=1_000_000)
    """Lexical tokens in a document, counted before it is parsed whole."""
    graphql_max_fields: int = Field(default=500, ge=1, le=100_000)
    """Field selections in an operation, counted each time a fragment is spread."""
    graphql_max_field_repeats: int = Field(default=10, ge=1, le=10_000)
    """Times one response name may appear in one selection set, fragments included."""
    graphql_max_root_fields: int = Field(default=100, ge=1, le=10_000)
    """Fields at the root of an operation."""
    graphql_max_upstream_calls: int = Field(default=50, ge=1, le=100_000)
    """CodeDeploy calls an operation may cost by the static estimate, as if nothing were cached."""
    graphql_max_result_nodes: int = Field(default=20_000, ge=1, le=10_000_000)
    """Values an operation's response may hold by the static estimate (list sizes times
    what each item selects; a connection holds its ``first``), so what one request makes
    the gateway build is bounded before it runs."""
    graphql_max_response_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=2**30)
    """A response larger than this (long log tails add bytes the estimate cannot see) is
    refused whole with ``RESPONSE_TOO_LARGE``."""
    graphql_introspection: bool = True
    """Schema introspection (``__schema``, ``__type``); GraphiQL and codegen need it."""
    graphql_response_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0, le=2**34)
    """Whole GraphQL responses kept for replay (0: none)."""
    graphql_document_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024, le=2**34)
    """Parsed and validated documents, and the automatic persisted queries' texts."""
    graphql_persisted_queries: bool = True
    """Apollo's automatic persisted queries (a hash instead of the document)."""
    graphql_trusted_documents: Path | None = None
    """A JSON file of the only documents that may run: ``{"sha256 hex": "document"}``
    (graphql-codegen's persisted-documents.json) or an Apollo persisted-query manifest."""
    graphql_federation: bool = False
    """Serve /graphql as an Apollo Federation 2 subgraph too (``_service``, ``_entities``,
    ``@key`` on every object with an id), for a supergraph's router to compose."""

    @field_validator("auth", mode="before")
    @classmethod
    def _split_auth(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        schemes = [scheme.strip() for scheme in value.split(",")]
        if schemes == ["none"]:
            return frozenset()
        if not set(schemes) <= {"api-key", "jwt"} or len(set(schemes)) != len(schemes):
            raise ValueError(f"must be {AUTH_CHOICES}")
        return frozenset(schemes)

    @field_validator("jwt_jwks_url")
    @classmethod
    def _https_jwks(cls, url: AnyHttpUrl | None) -> AnyHttpUrl | None:
        # Keys fetched in clear text could be swapped on the way; loopback is for tests.
        if url is not None and url.scheme != "https" and url.host not in LOOPBACK_HOSTS:
            raise ValueError("must be an https URL")
        return url

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.auth is None and not self.local:
            raise ValueError(f"GATEWAY_AUTH is required outside --local: {AUTH_CHOICES}")
        schemes = self.auth or frozenset()
        if "api-key" in schemes and (self.api_keys is None) == (self.api_keys_file is None):
            raise ValueError("GATEWAY_AUTH=api-key needs GATEWAY_API_KEYS or _FILE (one)")
        if "jwt" in schemes:
            if (self.jwt_jwks_url is None) == (self.jwt_jwks_file is None):
                raise ValueError("GATEWAY_AUTH=jwt needs GATEWAY_JWT_JWKS_URL or _FILE (one)")
            if not self.jwt_issuer or not self.jwt_audience:
                raise ValueError("GATEWAY_AUTH=jwt needs GATEWAY_JWT_ISSUER and _AUDIENCE")
        if self.rate_limit_burst is not None and self.rate_limit_per_second is None:
            raise ValueError("GATEWAY_RATE_LIMIT_BURST needs GATEWAY_RATE_LIMIT_PER_SECOND")
        if self.webhooks_file and self.webhooks_db is None and self.redis_url is None:
            raise ValueError(
                "GATEWAY_WEBHOOKS_FILE needs GATEWAY_WEBHOOKS_DB (a file the deliveries wait "
                "in) or GATEWAY_REDIS_URL"
            )
        return self

    @property
    def auth_schemes(self) -> frozenset[AuthScheme]:
        """Local mode without GATEWAY_AUTH is open, like any development server."""
        return self.auth or frozenset()

    # Live updates: one watcher per watched deployment, whatever the number of viewers.
    watch_interval_seconds: float = Field(default=5.0, ge=0.1, le=300)
    """How often a watched deployment is read again while anyone watches it (doubled on
    throttling, up to a minute)."""
    max_subscriptions_per_caller: int = Field(default=20, ge=1, le=1_000_000)
    """Open event streams and subscriptions one caller may hold (per client IP without auth)."""
    max_wait_seconds: float = Field(default=300.0, ge=0, le=3600)
    """Longest ``GET /v1/deployments/{id}?wait=`` may hold a request open for a deployment
    to finish (or change); a longer ``wait`` is 400."""
    max_followed_groups: int = Field(default=100, ge=1, le=100_000)
    """Deployment groups this process follows at once (group and application streams); each
    costs two CodeDeploy calls an interval, and its running deployments' watchers."""
    max_watched_deployments: int = Field(default=500, ge=1, le=1_000_000)
    """Deployments this process watches at once; each costs a few CodeDeploy calls per
    interval."""
    events_queue_url: AnyHttpUrl | None = None
    """An SQS queue that receives CodeDeploy's EventBridge state-change notifications: a
    watched deployment is read again as soon as one names it, instead of at the next poll."""

    # Webhooks: deployments' changes delivered to services and chat (docs/webhooks.md).
    webhooks_file: Path | None = None
    """JSON (or YAML): the webhooks to call — each a URL at a host ``allowedHosts`` names,
    its signing secret's file, what it follows and in which format. Unset: none."""
    webhooks_db: Path | None = None
    """The SQLite file the deliveries wait in (WAL mode), so none is lost to a restart;
    required with ``GATEWAY_WEBHOOKS_FILE`` unless ``GATEWAY_REDIS_URL`` is set (a fleet's
    deliveries wait in the store)."""
    webhooks_retry_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    """A failed delivery's first retry comes this long after it (±20 % jitter), each next
    four times as long, up to an hour; the eighth failed try makes a dead letter."""

    # A fleet: replicas share one Redis-protocol store (Redis, Valkey, ElastiCache).
    redis_url: RedisDsn | None = None
    """``redis://`` or ``rediss://`` (TLS): replicas share the cache, single-flight, rate
    limits and watchers through it. Unset: this process works alone."""
    redis_password_file: Path | None = None
    """A file holding the store's password (a mounted Kubernetes Secret); it wins over
    a password in the URL."""
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    """Longest any store call may take, a busy event loop's lag included; past it the
    replica works alone until the store answers again, so a dead store costs one request
    this much, and the rest nothing."""
    redis_max_connections: int = Field(default=32, ge=2, le=10_000)
    """Connections to the store; a request waits for a free one within the timeout."""

    # Local mode: an embedded CodeDeploy emulator instead of AWS.
    local: bool = False
    """Serve from the embedded CodeDeploy emulator (``--local``, ``make run``)."""
    local_data: Path | None = None
    """The emulator's data file in local mode; the demo data when unset."""

    accounts_file: Path | None = None
    """JSON (or YAML, for a name ending in ``.yaml`` or ``.yml``): the accounts to read, by
    alias, each with its regions and the role to assume (docs/accounts.md). Unset: the
    gateway's own identity in one region, as ``default``."""
    upstream_api: UpstreamApi = "instances"
    """Which CodeDeploy calls answer instance reads: the deprecated instance calls, or targets."""
    upstream_max_attempts: int = Field(default=3, ge=1, le=10)
    """Total attempts per upstream call (botocore's ``standard`` retry mode), not retries."""
    upstream_timeout_seconds: PositiveSeconds = 5.0
    """Deadline for one upstream call, retries and backoff included."""
    upstream_max_connections: int = Field(default=64, ge=1, le=1024)
    """Connection pool size; aiobotocore's default of 10 queues requests under load."""

    cache_ttl_seconds: CacheSeconds = 5.0
    """Instances still changing (Pending, InProgress, Ready, Unknown): short, to stay fresh."""
    cache_terminal_ttl_seconds: CacheSeconds = 60.0
    """Succeeded, Failed and Skipped instances rarely change again."""
    cache_negative_ttl_seconds: CacheSeconds = 5.0
    """404 answers, so a polling client asking for a missing id costs one call per TTL."""
    stale_if_error_seconds: float = Field(default=300.0, ge=0, le=86_400)
    """How long past its lifetime a cached answer may still be given when CodeDeploy's read
    fails with throttling, a timeout or a 5xx (RFC 5861's stale-if-error), labelled stale;
    0: never. A "not found" is never replaced by an older answer."""
    stale_while_revalidate_seconds: float = Field(default=0.0, ge=0, le=3600)
    """How long past its lifetime a cached answer is given at once, labelled stale, while
    it is read again behind the caller, once (RFC 5861's stale-while-revalidate): a hot key
    never makes a caller wait for CodeDeploy. 0 (the default): a caller past the lifetime
    waits for the read; the production overlay sets 5."""
    cache_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    """Entries each cache may hold."""
    cache_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024, le=2**36)
    """Bytes each of the six caches may hold (an instance with long log tails runs to
    tens of KB, so entries alone do not bound memory)."""

    # botocore reads only AWS_DEFAULT_REGION; AWS_REGION is the variable every other SDK uses.
    aws_region: str | None = Field(default=None, validation_alias="AWS_REGION")
    """The region to read, as every AWS SDK names it (``AWS_DEFAULT_REGION`` and the
    profile's region count too); required outside local mode, unless
    ``GATEWAY_ACCOUNTS_FILE`` names the regions."""
