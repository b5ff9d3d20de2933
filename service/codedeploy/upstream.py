"""The only module that talks to CodeDeploy: one client, a deadline, typed answers."""

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from contextvars import Context, ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import create_urllib3_context, get_cert_path
from botocore.utils import parse_timestamp
from pydantic import BaseModel, ValidationError

from service.accounts import Accounts, Target
from service.codedeploy.credentials import AssumedRole, Hold
from service.codedeploy.errors import (
    THROTTLING_CODES,
    as_instance_error,
    from_botocore_error,
    from_client_error,
    sts_error,
)
from service.errors import (
    GatewayError,
    NotFound,
    Throttled,
    UnsupportedComputePlatform,
    UpstreamError,
    UpstreamTimeout,
)
from service.metrics import Metrics
from service.models import (
    ApplicationInfo,
    BatchGetApplicationsOutput,
    BatchGetDeploymentGroupsOutput,
    BatchGetDeploymentInstancesOutput,
    BatchGetDeploymentsOutput,
    BatchGetDeploymentTargetsOutput,
    DeploymentGroupInfo,
    DeploymentInfo,
    DeploymentTarget,
    GetApplicationOutput,
    GetDeploymentGroupOutput,
    GetDeploymentInstanceOutput,
    GetDeploymentOutput,
    GetDeploymentTargetOutput,
    IdPage,
    InstanceSummary,
    ListApplicationsOutput,
    ListDeploymentGroupsOutput,
    ListDeploymentInstancesOutput,
    ListDeploymentsOutput,
)
from service.settings import ConfigurationError

if TYPE_CHECKING:
    from types_aiobotocore_codedeploy import CodeDeployClient
    from types_aiobotocore_sts import STSClient

logger = logging.getLogger(__name__)

# Plenty for a TCP and TLS handshake to a regional endpoint; a shorter connect timeout
# than the whole deadline leaves room to retry a black-holed connection.
CONNECT_TIMEOUT_SECONDS = 2.0
# CodeDeploy's BatchGet* calls take at most 25 ids each.
BATCH_LIMIT = 25
# Ids a List* page holds; the gateway's cost estimate assumes full pages of this size.
LIST_PAGE_SIZE = 100
# BatchGetApplications and BatchGetDeploymentGroups take up to 100 names each.
NAMES_BATCH_LIMIT = 100

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# CodeDeploy's answers to a session it no longer recognises (revoked, or expired early):
# an assumed role's credentials are then fetched anew rather than kept until they expire.
REJECTED_SESSION = frozenset(
    {"UnrecognizedClientException", "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId"}
)

request_ids: ContextVar[list[str] | None] = ContextVar("upstream_request_ids", default=None)
"""Where the CodeDeploy request ids of the calls made in this context go, when someone
(the access log) collects them."""


def _note(request_id: str | None) -> None:
    ids = request_ids.get()
    if ids is not None and request_id:
        ids.append(request_id)


@dataclass(slots=True)
class _Attempts:
    count: int = 0
    throttled: bool = False
    """Whether the latest answer was a throttle: the deadline then ran out backing off."""


# Filled by the response-received hook for the call running in the current task.
_attempts: ContextVar[_Attempts | None] = ContextVar("codedeploy_attempts", default=None)


def _record_attempt(parsed_response: dict[str, Any] | None = None, **_: Any) -> None:
    attempts = _attempts.get()
    if attempts is None:
        return
    attempts.count += 1
    code = (parsed_response or {}).get("Error", {}).get("Code")
    attempts.throttled = code in THROTTLING_CODES


UpstreamApi = Literal["instances", "targets"]


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """How to reach CodeDeploy; everything else comes from the standard AWS chain."""

    max_attempts: int
    timeout_seconds: float
    max_connections: int
    max_concurrency: int = 64
    api: UpstreamApi = "instances"
    endpoint_url: str | None = None
    # Only local mode sets these: the emulator needs no real identity.
    static_credentials: tuple[str, str] | None = None


class CodeDeploy:
    """CodeDeploy's read operations, each bounded by one deadline and translated.

    Nothing botocore-shaped leaves this class: callers get domain models or a
    ``GatewayError``. Instance-shaped reads come from the deprecated instance calls or,
    with ``api="targets"``, from the target calls, answering in the same shape and codes.
    """

    def __init__(
        self,
        open_client: Callable[[], Coroutine[Any, Any, "CodeDeployClient"]],
        *,
        target: Target,
        timeout_seconds: float,
        api: UpstreamApi,
        metrics: Metrics,
        max_concurrency: int = 64,
    ) -> None:
        self.target = target
        self._open_client = open_client
        self._client: CodeDeployClient | None = None
        self._opening: asyncio.Task[CodeDeployClient] | None = None
        # Across all callers: an account's CodeDeploy quota in a region is one.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._timeout = timeout_seconds
        self._api = api
        self._metrics = metrics
        self.renew: Callable[[], Awaitable[bool]] | None = None
        """Set for an assumed role: a new session when CodeDeploy rejects this one."""

    @property
    def api(self) -> UpstreamApi:
        return self._api

    async def endpoint_url(self) -> str:
        """Where the client sends its calls (opening it, if no call has yet)."""
        endpoint: str = (await self._connected()).meta.endpoint_url
        return endpoint

    async def _connected(self) -> "CodeDeployClient":
        """The client, opened (credentials first, for a role) by the first call; the
        callers meanwhile wait for the same opening, and a failed one is tried again."""
        if self._client is not None:
            return self._client
        if self._opening is None:
            # Its own context: the opening outlives the request that started it.
            self._opening = asyncio.create_task(self._open_client(), context=Context())
            self._opening.add_done_callback(self._opened)
        return await asyncio.shield(self._opening)

    def _opened(self, opening: "asyncio.Task[CodeDeployClient]") -> None:
        """Keeps the client; a failed opening is forgotten, so a later call tries again
        even when every caller had stopped waiting for this one."""
        if opening.cancelled() or opening.exception() is not None:
            self._opening = None
        else:
            self._client = opening.result()

    async def close(self) -> None:
        """Stops an opening still under way (shutdown)."""
        if self._opening is not None:
            self._opening.cancel()
            await asyncio.gather(self._opening, return_exceptions=True)

    # --- instances, in either API ----------------------------------------------------

    async def get_instance(self, deployment_id: str, instance_id: str) -> InstanceSummary:
        if self._api == "targets":
            try:
                return _as_instance(await self.get_target(deployment_id, instance_id))
            except GatewayError as error:
                raise as_instance_error(error) from error
        reply = await self._call(
            "GetDeploymentInstance",
            lambda client: client.get_deployment_instance(
                deploymentId=deployment_id, instanceId=instance_id
            ),
        )
        return _parse(GetDeploymentInstanceOutput, reply).instance_summary

    async def batch_get_instances(
        self, deployment_id: str, instance_ids: Sequence[str]
    ) -> dict[str, InstanceSummary | GatewayError]:
        """Any number of ids, in concurrent calls of at most 25; an outcome for each id."""
        if self._api == "targets":
            targets = await self.batch_get_targets(deployment_id, instance_ids)
            return {target_id: _instance_outcome(outcome) for target_id, outcome in targets.items()}
        return await _chunked(instance_ids, partial(self._batch_instances, deployment_id))

    async def list_instance_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
    ) -> IdPage:
        if self._api == "targets":
            filters = {"TargetStatus": list(statuses), "ServerInstanceLabel": list(instance_types)}
            try:
                return await self.list_target_ids(
                    deployment_id,
                    next_token=next_token,
                    filters={name: values for name, values in filters.items() if values},
                )
            except GatewayError as error:
                raise as_instance_error(error) from error
        params: dict[str, Any] = {"deploymentId": deployment_id}
        if statuses:
            params["instanceStatusFilter"] = list(statuses)
        if instance_types:
            params["instanceTypeFilter"] = list(instance_types)
        if next_token:
            params["nextToken"] = next_token
        reply = await self._call(
            "ListDeploymentInstances", lambda client: client.list_deployment_instances(**params)
        )
        output = _parse(ListDeploymentInstancesOutput, reply)
        return IdPage(ids=output.instances_list, next_token=output.next_token)

    async def _batch_instances(
        self, deployment_id: str, instance_ids: list[str]
    ) -> dict[str, InstanceSummary | GatewayError]:
        reply = await self._call(
            "BatchGetDeploymentInstances",
            lambda client: client.batch_get_deployment_instances(
                deploymentId=deployment_id, instanceIds=instance_ids
            ),
        )
        found: dict[str, InstanceSummary] = {}
        for summary in _parse(BatchGetDeploymentInstancesOutput, reply).instances_summary:
            # CodeDeploy answers an EC2 instance with its ARN; callers ask with its id.
            stored = summary.instance_id or ""
            found[stored] = found[stored.rsplit("/", 1)[-1]] = summary
        return {
            instance_id: found.get(instance_id)
            or NotFound(
                f"The instance {instance_id} does not belong to the deployment {deployment_id}.",
                code="InstanceDoesNotExistException",
                request_id=_request_id(reply),
            )
            for instance_id in instance_ids
        }

    # --- deployments and targets -----------------------------------------------------

    async def get_deployment(self, deployment_id: str) -> DeploymentInfo:
        reply = await self._call(
            "GetDeployment", lambda client: client.get_deployment(deploymentId=deployment_id)
        )
        return _parse(GetDeploymentOutput, reply).deployment_info

    async def get_target(self, deployment_id: str, target_id: str) -> DeploymentTarget:
        reply = await self._call(
            "GetDeploymentTarget",
            lambda client: client.get_deployment_target(
                deploymentId=deployment_id, targetId=target_id
            ),
        )
        return _parse(GetDeploymentTargetOutput, reply).deployment_target

    async def batch_get_targets(
        self, deployment_id: str, target_ids: Sequence[str]
    ) -> dict[str, DeploymentTarget | GatewayError]:
        """Any number of ids, in concurrent calls of at most 25; an outcome for each id."""
        return await _chunked(target_ids, partial(self._batch_targets, deployment_id))

    async def list_target_ids(
        self,
        deployment_id: str,
        *,
        next_token: str | None = None,
        filters: dict[str, list[str]] | None = None,
    ) -> IdPage:
        params: dict[str, Any] = {"deploymentId": deployment_id}
        if filters:
            params["targetFilters"] = filters
        if next_token:
            params["nextToken"] = next_token
        reply = await self._call(
            "ListDeploymentTargets", lambda client: client.list_deployment_targets(**params)
        )
        return _parse(
            IdPage, {"ids": reply.get("targetIds", []), "nextToken": reply.get("nextToken")}
        )

    async def _batch_targets(
        self, deployment_id: str, target_ids: list[str]
    ) -> dict[str, DeploymentTarget | GatewayError]:
        try:
            reply = await self._call(
                "BatchGetDeploymentTargets",
                lambda client: client.batch_get_deployment_targets(
                    deploymentId=deployment_id, targetIds=target_ids
                ),
            )
        except NotFound as error:
            if error.code != "DeploymentTargetDoesNotExistException" or len(target_ids) == 1:
                raise
            # CodeDeploy fails a whole batch for one unknown id: ask one by one to tell which.
            return await _chunked(target_ids, partial(self._batch_targets, deployment_id), size=1)
        by_id: dict[str, DeploymentTarget] = {}
        for target in _parse(BatchGetDeploymentTargetsOutput, reply).deployment_targets:
            if target.target is not None and target.target.target_id:
                by_id[target.target.target_id] = target
        return {
            target_id: by_id.get(target_id)
            or NotFound(
                f"The target {target_id} does not belong to the deployment {deployment_id}.",
                code="DeploymentTargetDoesNotExistException",
                request_id=_request_id(reply),
            )
            for target_id in target_ids
        }

    # --- discovery: applications, deployment groups, deployment lists ------------------

    async def list_applications(self, *, next_token: str | None = None) -> IdPage:
        params = {"nextToken": next_token} if next_token else {}
        reply = await self._call(
            "ListApplications", lambda client: client.list_applications(**params)
        )
        output = _parse(ListApplicationsOutput, reply)
        return IdPage(ids=output.applications, next_token=output.next_token)

    async def batch_get_applications(
        self, names: Sequence[str]
    ) -> dict[str, ApplicationInfo | GatewayError]:
        """Any number of names, in concurrent calls of at most 100; an outcome for each."""
        return await _chunked(names, self._batch_applications, size=NAMES_BATCH_LIMIT)

    async def _batch_applications(
        self, names: list[str]
    ) -> dict[str, ApplicationInfo | GatewayError]:
        try:
            reply = await self._call(
                "BatchGetApplications",
                lambda client: client.batch_get_applications(applicationNames=names),
            )
        except NotFound as error:
            if error.code != "ApplicationDoesNotExistException" or len(names) == 1:
                raise
            # One unknown name fails the whole batch: ask one by one to tell which.
            return await _chunked(names, self._batch_applications, size=1)
        found = {
            info.application_name: info
            for info in _parse(BatchGetApplicationsOutput, reply).applications_info
        }
        return {name: found.get(name) or _no_application(name) for name in names}

    async def get_application(self, name: str) -> ApplicationInfo:
        reply = await self._call(
            "GetApplication", lambda client: client.get_application(applicationName=name)
        )
        return _parse(GetApplicationOutput, reply).application

    async def list_deployment_groups(
        self, application: str, *, next_token: str | None = None
    ) -> IdPage:
        params: dict[str, Any] = {"applicationName": application}
        if next_token:
            params["nextToken"] = next_token
        reply = await self._call(
            "ListDeploymentGroups", lambda client: client.list_deployment_groups(**params)
        )
        output = _parse(ListDeploymentGroupsOutput, reply)
        return IdPage(ids=output.deployment_groups, next_token=output.next_token)

    async def get_deployment_group(self, application: str, group: str) -> DeploymentGroupInfo:
        reply = await self._call(
            "GetDeploymentGroup",
            lambda client: client.get_deployment_group(
                applicationName=application, deploymentGroupName=group
            ),
        )
        return _parse(GetDeploymentGroupOutput, reply).deployment_group_info

    async def batch_get_deployment_groups(
        self, application: str, groups: Sequence[str]
    ) -> dict[str, DeploymentGroupInfo | GatewayError]:
        """Any number of groups, in concurrent calls of at most 100; an outcome for each."""
        return await _chunked(
            groups, partial(self._batch_groups, application), size=NAMES_BATCH_LIMIT
        )

    async def _batch_groups(
        self, application: str, groups: list[str]
    ) -> dict[str, DeploymentGroupInfo | GatewayError]:
        reply = await self._call(
            "BatchGetDeploymentGroups",
            lambda client: client.batch_get_deployment_groups(
                applicationName=application, deploymentGroupNames=groups
            ),
        )
        found = {
            info.deployment_group_name: info
            for info in _parse(BatchGetDeploymentGroupsOutput, reply).deployment_groups_info
        }
        return {
            group: found.get(group)
            or NotFound(
                f"No deployment group {group} in the application {application}.",
                code="DeploymentGroupDoesNotExistException",
                request_id=_request_id(reply),
            )
            for group in groups
        }

    async def list_deployment_ids(
        self,
        *,
        application: str | None = None,
        group: str | None = None,
        statuses: Sequence[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        next_token: str | None = None,
    ) -> IdPage:
        """Deployment ids, newest first, as CodeDeploy lists them."""
        params: dict[str, Any] = {}
        if application:
            params["applicationName"] = application
        if group:
            params["deploymentGroupName"] = group
        if statuses:
            params["includeOnlyStatuses"] = list(statuses)
        if created_after or created_before:
            window: dict[str, datetime] = {}
            if created_after:
                window["start"] = created_after
            if created_before:
                window["end"] = created_before
            params["createTimeRange"] = window
        if next_token:
            params["nextToken"] = next_token
        reply = await self._call(
            "ListDeployments", lambda client: client.list_deployments(**params)
        )
        output = _parse(ListDeploymentsOutput, reply)
        return IdPage(ids=output.deployments, next_token=output.next_token)

    async def batch_get_deployments(
        self, deployment_ids: Sequence[str]
    ) -> dict[str, DeploymentInfo | GatewayError]:
        """Any number of ids, in concurrent calls of at most 25; an outcome for each id."""
        return await _chunked(deployment_ids, self._batch_deployments)

    async def _batch_deployments(
        self, deployment_ids: list[str]
    ) -> dict[str, DeploymentInfo | GatewayError]:
        reply = await self._call(
            "BatchGetDeployments",
            lambda client: client.batch_get_deployments(deploymentIds=deployment_ids),
        )
        found = {
            info.deployment_id: info
            for info in _parse(BatchGetDeploymentsOutput, reply).deployments_info
        }
        return {
            deployment_id: found.get(deployment_id)
            or NotFound(
                f"The deployment {deployment_id} could not be found.",
                code="DeploymentDoesNotExistException",
                request_id=_request_id(reply),
            )
            for deployment_id in deployment_ids
        }

    async def _call(
        self, operation: str, call: Callable[["CodeDeployClient"], Awaitable[Any]]
    ) -> dict[str, Any]:
        """``call``, within the deadline, translated, and counted in the metrics."""
        attempts = _Attempts()
        token = _attempts.set(attempts)
        start = time.perf_counter()
        outcome = "ok"
        try:
            try:
                reply = await self._bounded(call, attempts)
            except GatewayError as error:
                if error.code not in REJECTED_SESSION or self.renew is None:
                    raise
                if not await self.renew():
                    raise
                reply = await self._bounded(call, attempts)  # once, in the new session
            _note(_request_id(reply))
            return reply
        except Throttled:
            outcome = "throttled"
            raise
        except UpstreamTimeout:
            outcome = "timeout"
            raise
        except GatewayError as error:
            outcome = error.code
            _note(error.request_id)
            raise
        finally:
            _attempts.reset(token)
            self._metrics.upstream_calls.labels(operation, outcome).inc()
            self._metrics.upstream_duration.labels(operation).observe(time.perf_counter() - start)
            if attempts.count > 1:
                self._metrics.upstream_retries.labels(operation).inc(attempts.count - 1)

    async def _bounded(
        self, call: Callable[["CodeDeployClient"], Awaitable[Any]], attempts: _Attempts
    ) -> dict[str, Any]:
        deadline = asyncio.timeout(self._timeout)
        client = None
        try:
            # Waiting for the client's first credentials, or for a slot, counts too.
            async with deadline:
                client = await self._connected()
                async with self._slots:
                    reply: dict[str, Any] = await call(client)
                    return reply
        except TimeoutError as exc:
            if client is None:
                raise sts_error(
                    UpstreamTimeout("STS did not answer."), self.target.account
                ) from exc
            if not deadline.expired():
                raise UpstreamTimeout("CodeDeploy did not answer in time.") from exc
            if attempts.throttled:
                raise Throttled(
                    "CodeDeploy kept throttling the gateway until the deadline; retry later."
                ) from exc
            raise UpstreamTimeout(f"CodeDeploy did not answer within {self._timeout:g} s.") from exc
        except ClientError as exc:
            raise from_client_error(exc) from exc
        except BotoCoreError as exc:
            raise from_botocore_error(exc) from exc
        except GatewayError:  # STS refused an account's credentials
            raise
        except Exception as exc:
            # aiohttp or a credential provider failing in a way botocore does not wrap.
            logger.exception("unexpected failure calling CodeDeploy")
            raise UpstreamError("CodeDeploy could not be reached.") from exc


async def _chunked(
    ids: Sequence[str],
    fetch: Callable[[list[str]], Awaitable[dict[str, T | GatewayError]]],
    size: int = BATCH_LIMIT,
) -> dict[str, T | GatewayError]:
    """Runs ``fetch`` on chunks of ``ids`` concurrently; a failed chunk fails its ids only."""

    async def one(chunk: list[str]) -> dict[str, T | GatewayError]:
        try:
            return await fetch(chunk)
        except GatewayError as error:
            return dict.fromkeys(chunk, error)

    unique = list(dict.fromkeys(ids))
    parts = await asyncio.gather(*(one(unique[i : i + size]) for i in range(0, len(unique), size)))
    return {key: outcome for part in parts for key, outcome in part.items()}


def _no_application(name: str) -> NotFound:
    return NotFound(
        f"No application found for name: {name}", code="ApplicationDoesNotExistException"
    )


def _parse(model: type[M], reply: dict[str, Any]) -> M:
    try:
        return model.model_validate(reply)
    except ValidationError as exc:
        raise UpstreamError(
            "CodeDeploy's reply did not have the documented shape.",
            code="UpstreamInvalidResponse",
            request_id=_request_id(reply),
        ) from exc


def _as_instance(target: DeploymentTarget) -> InstanceSummary:
    if target.instance_target is None:
        raise UnsupportedComputePlatform(
            "The deployment is not EC2/on-premises; read its targets instead.",
            code="InvalidComputePlatformException",
        )
    return InstanceSummary.from_target(target.instance_target)


def _instance_outcome(outcome: DeploymentTarget | GatewayError) -> InstanceSummary | GatewayError:
    if isinstance(outcome, GatewayError):
        return as_instance_error(outcome)
    try:
        return _as_instance(outcome)
    except GatewayError as error:
        return error


def _request_id(reply: dict[str, Any]) -> str | None:
    request_id: str | None = reply.get("ResponseMetadata", {}).get("RequestId")
    return request_id


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
    ) -> None:
        self.accounts = accounts
        self._config = config
        self._metrics = metrics
        self._clock = clock
        botocore_session = _Session()
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
            # The deadline in CodeDeploy._call governs; this keeps a socket from outliving it.
            read_timeout=config.timeout_seconds,
            max_pool_connections=config.max_connections,
            user_agent_appid="codedeploy-gateway",
            http_session_cls=_SharedTls,
        )
        self._codedeploys: dict[Target, CodeDeploy] = {}
        # One per account region, outliving each opening's AssumedRole.
        self._holds: dict[Target, Hold] = {}
        self._sts: dict[str, STSClient] = {}
        self._sts_lock = asyncio.Lock()
        self._stack = AsyncExitStack()

    async def open_default(self) -> None:
        """Opens the default account's client now, so no request waits for its making;
        one that cannot open yet (STS refuses its role) is tried again by its first call."""
        codedeploy = self.get(self.accounts.default)
        try:
            endpoint = await codedeploy.endpoint_url()
        except GatewayError as error:
            logger.warning("the default account cannot be read yet: %s", error.detail)
            return
        logger.info("CodeDeploy at %s (the default: %s)", endpoint, codedeploy.target)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for codedeploy in self._codedeploys.values():
            await codedeploy.close()
        await self._stack.aclose()

    def get(self, target: Target) -> CodeDeploy:
        """``target``'s CodeDeploy; its client opens on its first call."""
        codedeploy = self._codedeploys.get(target)
        if codedeploy is None:
            codedeploy = CodeDeploy(
                partial(self._open, target),
                target=target,
                timeout_seconds=self._config.timeout_seconds,
                api=self._config.api,
                metrics=self._metrics,
                max_concurrency=self._config.max_concurrency,
            )
            self._codedeploys[target] = codedeploy
        return codedeploy

    async def _open(self, target: Target) -> "CodeDeployClient":
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
            self._codedeploys[target].renew = role.renew
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
        client.meta.events.register("response-received.codedeploy", _record_attempt)
        opened: CodeDeployClient = client
        logger.info("CodeDeploy of account %s in %s opened", target.account, target.region)
        return opened

    async def _sts_client(self, region: str) -> "STSClient":
        """The regional STS endpoint (or ``AWS_ENDPOINT_URL_STS``), with the gateway's
        own identity."""
        async with self._sts_lock:
            if region not in self._sts:
                self._sts[region] = await self._stack.enter_async_context(
                    self._session.client(
                        "sts",
                        region_name=region,
                        config=self._client_config,
                        endpoint_url=self._config.endpoint_url,
                    )
                )
            return self._sts[region]
