"""An account's credentials: STS AssumeRole from the gateway's own identity, kept fresh.

botocore refreshes temporary credentials itself once fewer than 15 minutes are left
(the first request to notice waits for STS). The gateway fetches the next set in the
background 20 minutes ahead, so that refresh only swaps in what is already here; a
request waits on STS only for an account's first credentials, or when the background
fetch kept failing until 10 minutes were left.
"""

import asyncio
import logging
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiobotocore.credentials import AioRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from service.codedeploy.errors import THROTTLING_CODES
from service.errors import GatewayError, Throttled, UpstreamAccessDenied, UpstreamError

if TYPE_CHECKING:
    from types_aiobotocore_sts import STSClient

logger = logging.getLogger(__name__)

FETCH_AHEAD = timedelta(minutes=20)
ADVISORY = timedelta(minutes=15)  # botocore's own defaults, named here
MANDATORY = timedelta(minutes=10)
RETRY_SECONDS = 30.0
# What AssumeRole is asked for; a role's maximum session may cap it lower.
SESSION_SECONDS = 3600


def session_name() -> str:
    """``codedeploy-gateway@<host>``: CloudTrail shows which replica read what."""
    host = re.sub(r"[^\w+=,.@-]", "-", socket.gethostname())
    return f"codedeploy-gateway@{host}"[:64]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AssumedRole:
    """One account's role in one region: the first credentials on ``start``, the next
    ones fetched ahead in a background task until ``close``."""

    def __init__(
        self,
        sts: "STSClient",
        *,
        alias: str,
        role_arn: str,
        external_id: str | None,
        timeout_seconds: float,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sts = sts
        self._alias = alias
        self._arguments: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": session_name(),
            "DurationSeconds": SESSION_SECONDS,
        }
        if external_id is not None:
            self._arguments["ExternalId"] = external_id
        self._timeout = timeout_seconds
        self._now = now
        self._next: dict[str, Any] | None = None
        self._taken = asyncio.Event()
        self._ahead: asyncio.Task[None] | None = None
        self._expires = now()
        self.credentials: AioRefreshableCredentials | None = None

    async def start(self) -> AioRefreshableCredentials:
        """The first credentials (a ``GatewayError`` if STS refuses them); from here on
        the next ones are fetched ahead."""
        first = await self._assume()
        self.credentials = AioRefreshableCredentials(
            access_key=first["access_key"],
            secret_key=first["secret_key"],
            token=first["token"],
            expiry_time=first["expiry"],
            refresh_using=self._refresh,
            method="assume-role",
            time_fetcher=self._now,
            advisory_timeout=int(ADVISORY.total_seconds()),
            mandatory_timeout=int(MANDATORY.total_seconds()),
        )
        self._expires = first["expiry"]
        self._ahead = asyncio.create_task(self._fetch_ahead())
        return self.credentials

    async def close(self) -> None:
        if self._ahead is not None:
            self._ahead.cancel()
            await asyncio.gather(self._ahead, return_exceptions=True)

    async def _refresh(self) -> dict[str, Any]:
        """What botocore's refresh gets: the set fetched ahead, or (only if that kept
        failing) a fresh one now."""
        fetched, self._next = self._next, None
        if fetched is None:
            fetched = await self._assume()
        self._expires = fetched["expiry"]
        self._taken.set()
        return {**fetched, "expiry_time": fetched["expiry"].isoformat()}

    async def _fetch_ahead(self) -> None:
        while True:
            due = (self._expires - FETCH_AHEAD - self._now()).total_seconds()
            if due > 0:
                await asyncio.sleep(due)
            try:
                fetched = await self._assume()
            except GatewayError:  # logged; botocore fetches inline at 10 minutes left
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._taken.clear()
            self._next = fetched
            await self._taken.wait()

    async def _assume(self) -> dict[str, Any]:
        """One AssumeRole, within the deadline; refusals answered without the ARN."""
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._sts.assume_role(**self._arguments)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code") or "AssumeRoleFailed"
            request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
            logger.warning("STS refused account %s: %s", self._alias, error.get("Message"))
            if code in THROTTLING_CODES:
                raise Throttled(
                    f"STS is throttling the gateway for account {self._alias!r}; retry later.",
                    code=code,
                    request_id=request_id,
                ) from exc
            raise UpstreamAccessDenied(
                f"The gateway could not take its role in account {self._alias!r}; the "
                "operators have to fix the role or its trust policy.",
                code=code,
                request_id=request_id,
            ) from exc
        except (BotoCoreError, TimeoutError, OSError) as exc:
            logger.warning("STS could not be reached for account %s: %r", self._alias, exc)
            raise UpstreamError(
                f"STS could not be reached for account {self._alias!r}.", code="StsUnavailable"
            ) from exc
        credentials = reply["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry": credentials["Expiration"].astimezone(UTC),
        }
