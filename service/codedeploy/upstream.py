"""The only module that talks to CodeDeploy: one client, a deadline, typed answers."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from service.codedeploy.errors import THROTTLING_CODES, from_botocore_error, from_client_error
from service.errors import Throttled, UpstreamError, UpstreamTimeout
from service.models import GetDeploymentInstanceOutput, InstanceSummary

if TYPE_CHECKING:
    from types_aiobotocore_codedeploy import CodeDeployClient

logger = logging.getLogger(__name__)

# Plenty for a TCP and TLS handshake to a regional endpoint; a shorter connect timeout
# than the whole deadline leaves room to retry a black-holed connection.
CONNECT_TIMEOUT_SECONDS = 2.0


class ConfigurationError(Exception):
    """The environment cannot produce a working CodeDeploy client."""


@dataclass(slots=True)
class _Attempts:
    throttled: bool = False
    """Whether the latest answer was a throttle: the deadline then ran out backing off."""


# Filled by the response-received hook for the call running in the current task.
_attempts: ContextVar[_Attempts | None] = ContextVar("codedeploy_attempts", default=None)


def _record_attempt(parsed_response: dict[str, Any] | None = None, **_: Any) -> None:
    attempts = _attempts.get()
    if attempts is None:
        return
    code = (parsed_response or {}).get("Error", {}).get("Code")
    attempts.throttled = code in THROTTLING_CODES


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """How to reach CodeDeploy; everything else comes from the standard AWS chain."""

    max_attempts: int
    timeout_seconds: float
    max_connections: int
    region: str | None = None
    endpoint_url: str | None = None
    # Only local mode sets these: the emulator needs no real identity.
    static_credentials: tuple[str, str] | None = None


class CodeDeploy:
    """CodeDeploy's read operations, each bounded by one deadline and translated.

    Nothing botocore-shaped leaves this class: callers get domain models or a
    ``GatewayError``.
    """

    def __init__(self, client: "CodeDeployClient", *, timeout_seconds: float) -> None:
        self._client = client
        self._timeout = timeout_seconds

    @property
    def region(self) -> str:
        return self._client.meta.region_name

    @property
    def endpoint(self) -> str:
        return self._client.meta.endpoint_url

    async def get_deployment_instance(
        self, deployment_id: str, instance_id: str
    ) -> InstanceSummary:
        reply = await self._call(
            self._client.get_deployment_instance(deploymentId=deployment_id, instanceId=instance_id)
        )
        try:
            return GetDeploymentInstanceOutput.model_validate(reply).instance_summary
        except ValidationError as exc:
            raise UpstreamError(
                "CodeDeploy's reply did not have the documented shape.",
                code="UpstreamInvalidResponse",
                request_id=_request_id(reply),
            ) from exc

    async def _call(self, call: Awaitable[Any]) -> dict[str, Any]:
        attempts = _Attempts()
        token = _attempts.set(attempts)
        deadline = asyncio.timeout(self._timeout)
        try:
            async with deadline:
                reply: dict[str, Any] = await call
                return reply
        except TimeoutError as exc:
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
        except Exception as exc:
            # aiohttp or a credential provider failing in a way botocore does not wrap.
            logger.exception("unexpected failure calling CodeDeploy")
            raise UpstreamError("CodeDeploy could not be reached.") from exc
        finally:
            _attempts.reset(token)


def _request_id(reply: dict[str, Any]) -> str | None:
    request_id: str | None = reply.get("ResponseMetadata", {}).get("RequestId")
    return request_id


def resolve_region(region: str | None) -> str:
    """``region`` if given, else the standard chain's (AWS_DEFAULT_REGION, the profile)."""
    resolved = region or aioboto3.Session().region_name
    if not resolved:
        raise ConfigurationError(
            "No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)."
        )
    return resolved


@asynccontextmanager
async def connect(config: UpstreamConfig) -> AsyncIterator[CodeDeploy]:
    """Open the process's one CodeDeploy client; it is closed when the block exits."""
    credentials: dict[str, str] = {}
    if config.static_credentials is not None:
        key_id, secret = config.static_credentials
        credentials = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    session = aioboto3.Session(region_name=resolve_region(config.region), **credentials)
    client_config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": config.max_attempts},
        connect_timeout=min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds),
        # The deadline in CodeDeploy._call governs; this only keeps a socket from outliving it.
        read_timeout=config.timeout_seconds,
        max_pool_connections=config.max_connections,
        user_agent_appid="codedeploy-gateway",
    )
    async with session.client(
        "codedeploy", config=client_config, endpoint_url=config.endpoint_url
    ) as client:
        client.meta.events.register("response-received.codedeploy", _record_attempt)
        yield CodeDeploy(client, timeout_seconds=config.timeout_seconds)
