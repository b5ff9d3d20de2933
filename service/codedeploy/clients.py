"""The clients: one botocore session, one TLS context, one client per account region.

Each client is made on first use and kept for the process's life; an account with a
role gets credentials from STS (one client per region the roles are assumed in).
"""

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Self

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.context import get_context
from botocore.httpsession import create_urllib3_context, get_cert_path
from botocore.loaders import Loader, create_loader
from botocore.utils import parse_timestamp

from service.accounts import AccountRegion, Accounts
from service.codedeploy.budget import NoBudget, UpstreamBudget
from service.codedeploy.calls import Calls, record_attempt
from service.codedeploy.credentials import AssumedRole, Hold
from service.codedeploy.operations import CodeDeploy
from service.errors import GatewayError
from service.metrics import Metrics
from service.settings import ConfigurationError, UpstreamApi

if TYPE_CHECKING:
    from types_aiobotocore_codedeploy import CodeDeployClient
    from types_aiobotocore_sts import STSClient

logger = logging.getLogger(__name__)

# Plenty for a TCP and TLS handshake to a regional endpoint; a shorter connect timeout
# than the whole deadline leaves room to retry a black-holed connection.
CONNECT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """How to reach CodeDeploy; everything else comes from the standard AWS chain."""

    max_attempts: int
    timeout_seconds: float
    max_connections: int
    max_concurrency: int
    api: UpstreamApi = "instances"
    endpoint_url: str | None = None
    # Only local mode sets these: the emulator needs no real identity.
    static_credentials: tuple[str, str] | None = None


def _utc_timestamp(value: Any) -> datetime:
    """CodeDeploy's JSON protocol sends epoch seconds: straight to UTC. botocore's default
    goes through dateutil and the machine's local zone, at a sixth of a miss's CPU time."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed: datetime = parse_timestamp(value)
    return parsed.astimezone(UTC)


def resolve_region(region: str | None) -> str:
    """``region`` if given, else the standard chain's (AWS_DEFAULT_REGION, the profile)."""
    resolved = region or aioboto3.Session().region_name
    if not resolved:
        raise ConfigurationError(
            "No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)."
        )
    return resolved


@cache
def _loader(data_path: str | None) -> Loader:
    """One botocore data loader a process: every session reads the same service models,
    which a loader of its own parses again (~50 ms of JSON; each test's gateway did)."""
    return create_loader(data_path)


@cache
def _tls_context(ca_certs: str | None) -> ssl.SSLContext:
    context: ssl.SSLContext = create_urllib3_context()
    if ca_certs:
        context.load_verify_locations(ca_certs)
    return context


class _SharedTls(AIOHTTPSession):
    """aiobotocore's HTTP session with one TLS context for all clients: each would load
    the CA bundle into one of its own, ~0.8 MB of native memory a client (an account in a
    region), where the CodeDeploy client itself takes ~0.25 MB."""

    # Set by AIOHTTPSession (aiobotocore, pinned by aioboto3), declared for mypy.
    _verify: bool | str
    _cert_file: str | None
    _max_pool_connections: int
    _connector_args: dict[str, Any]

    def _create_connector(self, proxy_url: str | None) -> aiohttp.TCPConnector:
        if proxy_url or self._cert_file or not self._verify:
            # The stubs leave this method out; aiobotocore has it.
            connector: aiohttp.TCPConnector = super()._create_connector(proxy_url)  # type: ignore[misc]
            return connector
        return aiohttp.TCPConnector(
            limit=self._max_pool_connections,
            # botocore passes a CA bundle's path here too; its stubs say bool only.
            ssl=_tls_context(get_cert_path(self._verify)),  # type: ignore[arg-type]
            **self._connector_args,
        )


# Feature sets a client's calls register (retry mode, credential source, …): a handful.
USER_AGENTS_KEPT = 32


def remember_user_agent(client: Any) -> None:
    """botocore builds the User-Agent anew twice a request — ~100 components sanitised,
    about 170 µs of a 1.3 ms call here (bench/upstream.py). It changes only with the
    features the call registers, so each set of them is built once, by botocore."""
    creator = client._user_agent_creator
    build = creator.to_string
    built: dict[frozenset[str], str] = {}

    def to_string() -> str:
        context = get_context()
        features = frozenset(context.features) if context is not None else frozenset()
        agent = built.get(features)
        if agent is None:
            agent = build()
            if len(built) < USER_AGENTS_KEPT:
                built[features] = agent
        return agent

    creator.to_string = to_string


_role_credentials: ContextVar[AioRefreshableCredentials | None] = ContextVar(
    "role_credentials", default=None
)


class _Session(AioSession):
    """One botocore session for every client, so service models and endpoint rules load
    once: a client made while ``_role_credentials`` is set signs with those."""

    async def get_credentials(self) -> Any:  # type: ignore[override]  # async in aiobotocore
        return _role_credentials.get() or await super().get_credentials()


class Upstreams:
    """One CodeDeploy per (account, region) the accounts list, made on first use and kept
    for the process's life, each client opened (and its role assumed) by its first call;
    one STS client per region the roles are assumed in."""

    def __init__(
        self,
        config: UpstreamConfig,
        accounts: Accounts,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        budget: UpstreamBudget | None = None,
    ) -> None:
        self.accounts = accounts
        self._budget: UpstreamBudget = budget or NoBudget()
        self._config = config
        self._metrics = metrics
        self._clock = clock
        botocore_session = _Session()
        data_path = botocore_session.get_config_variable("data_path")
        botocore_session.register_component("data_loader", _loader(data_path))
        botocore_session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=_utc_timestamp
        )
        botocore_session.set_config_variable("sts_regional_endpoints", "regional")
        credentials: dict[str, str] = {}
        if config.static_credentials is not None:
            key_id, secret = config.static_credentials
            credentials = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
        self._session = aioboto3.Session(botocore_session=botocore_session, **credentials)
        self._client_config = AioConfig(
            retries={"mode": "standard", "total_max_attempts": config.max_attempts},
            connect_timeout=min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds),
            # The deadline in Calls governs; this keeps a socket from outliving it.
            read_timeout=config.timeout_seconds,
            max_pool_connections=config.max_connections,
            user_agent_appid="codedeploy-gateway",
            http_session_cls=_SharedTls,
        )
        self._codedeploys: dict[AccountRegion, CodeDeploy] = {}
        # One per account region, outliving each opening's AssumedRole.
        self._holds: dict[AccountRegion, Hold] = {}
        self._sts: dict[str, STSClient] = {}
        self._sts_lock = asyncio.Lock()
        self._stack = AsyncExitStack()

    async def open_default(self) -> None:
        """Opens the default account's client now, so no request waits for its making;
        one that cannot open yet (STS refuses its role) is tried again by its first call."""
        codedeploy = self.get(self.accounts.default)
        try:
            endpoint = await codedeploy.calls.endpoint_url()
        except GatewayError as error:
            logger.warning("the default account cannot be read yet: %s", error.detail)
            return
        logger.info("CodeDeploy at %s (the default: %s)", endpoint, codedeploy.where)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for codedeploy in self._codedeploys.values():
            await codedeploy.calls.close()
        await self._stack.aclose()

    def get(self, where: AccountRegion) -> CodeDeploy:
        """``where``'s CodeDeploy; its client opens on its first call."""
        codedeploy = self._codedeploys.get(where)
        if codedeploy is None:
            calls = Calls(
                partial(self._open, where),
                where=where,
                timeout_seconds=self._config.timeout_seconds,
                metrics=self._metrics,
                max_concurrency=self._config.max_concurrency,
                budget=self._budget,
            )
            codedeploy = CodeDeploy(calls, api=self._config.api)
            self._codedeploys[where] = codedeploy
        return codedeploy

    async def _open(self, target: AccountRegion) -> "CodeDeployClient":
        account = self.accounts.accounts[target.account]
        role = None
        if account.role_arn is not None:
            role = AssumedRole(
                await self._sts_client(target.region),
                alias=target.account,
                role_arn=account.role_arn,
                external_id=account.external_id,
                timeout_seconds=self._config.timeout_seconds,
                hold=self._holds.setdefault(target, Hold(self._clock)),
                count=lambda outcome: self._metrics.sts_calls.labels(
                    target.account, target.region, outcome
                ).inc(),
            )
            _role_credentials.set(await role.start())  # this task's context alone
            self._codedeploys[target].calls.renew = role.renew
        try:
            client = await self._stack.enter_async_context(
                self._session.client(
                    "codedeploy",
                    region_name=target.region,
                    config=self._client_config,
                    endpoint_url=self._config.endpoint_url,
                )
            )
        except BaseException:
            if role is not None:
                await role.close()
            raise
        if role is not None:
            self._stack.push_async_callback(role.close)
        client.meta.events.register("response-received.codedeploy", record_attempt)
        remember_user_agent(client)
        opened: CodeDeployClient = client
        logger.info("CodeDeploy of account %s in %s opened", target.account, target.region)
        return opened

    async def _sts_client(self, region: str) -> "STSClient":
        """The regional STS endpoint (or ``AWS_ENDPOINT_URL_STS``), with the gateway's
        own identity."""
        async with self._sts_lock:
            if region not in self._sts:
                sts = await self._stack.enter_async_context(
                    self._session.client(
                        "sts",
                        region_name=region,
                        config=self._client_config,
                        endpoint_url=self._config.endpoint_url,
                    )
                )
                remember_user_agent(sts)
                self._sts[region] = sts
            return self._sts[region]
