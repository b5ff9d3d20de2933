"""An account's credentials: STS AssumeRole from the gateway's own identity, kept fresh.

A background task fetches the next set 20 minutes before the newest one expires, and goes
on doing so for the process's life, whether the account is read or not. botocore refreshes
the set it signs with once fewer than 15 minutes are left, and its refresh here only takes
the newest set, without a call. A request waits on STS for an account's first credentials,
and otherwise only when fetching ahead has failed (it is retried every 30 s) until fewer
than 10 minutes are left.
"""

import asyncio
import contextvars
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiobotocore.credentials import AioRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry.trace import SpanKind

from service import tracing
from service.codedeploy.calls import failed, rpc
from service.codedeploy.errors import from_botocore_error, from_client_error, sts_error
from service.errors import ErrorCode, GatewayError, UpstreamError, UpstreamTimeout

if TYPE_CHECKING:
    from types_aiobotocore_sts import STSClient

logger = logging.getLogger(__name__)

FETCH_AHEAD = timedelta(minutes=20)
# When botocore refreshes: from ADVISORY left a failed refresh keeps the set it has, from
# MANDATORY left requests wait for one. Its own defaults, set here beside FETCH_AHEAD.
ADVISORY = timedelta(minutes=15)
MANDATORY = timedelta(minutes=10)
RETRY_SECONDS = 30.0
# As long as a not-found answer is kept by default (GATEWAY_CACHE_NEGATIVE_TTL_SECONDS).
REFUSAL_HOLD_SECONDS = 5.0
# Not held: a network's failures pass, and a request waited its deadline for them already.
TRANSIENT_CODES = frozenset({ErrorCode.UPSTREAM_TIMEOUT, ErrorCode.UPSTREAM_UNAVAILABLE})
# Every role allows an hour (IAM's MaxSessionDuration is 1 to 12 hours), and an hour is
# the most a chained session (the gateway's own identity is often a role) may ask for.
SESSION_SECONDS = 3600


def session_name() -> str:
    """``codedeploy-gateway@<host>``: CloudTrail shows which replica read what."""
    host = re.sub(r"[^\w+=,.@-]", "-", socket.gethostname())
    return f"codedeploy-gateway@{host}"[:64]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Set:
    access_key: str
    secret_key: str
    token: str
    expiry: datetime

    def metadata(self) -> dict[str, str]:
        """What botocore's refresh expects."""
        return {
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "token": self.token,
            "expiry_time": self.expiry.isoformat(),
        }


class Hold:
    """STS's last failure for one account region, and until when it is the answer: asked
    again and again (each request's first call, each refresh), a broken role costs STS,
    whose quota all the gateway's AssumeRole calls share, one call a hold."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, seconds: float = REFUSAL_HOLD_SECONDS
    ) -> None:
        self._clock = clock
        self._seconds = seconds
        self._held: tuple[float, GatewayError] | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def seconds(self) -> float:
        return self._seconds

    def check(self) -> None:
        if self._held is not None:
            until, error = self._held
            if self._clock() < until:
                raise error.replay()
            self._held = None

    def keep(self, error: GatewayError) -> None:
        if error.code not in TRANSIENT_CODES:
            self._held = (self._clock() + self._seconds, error)


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
        hold: Hold | None = None,
        count: Callable[[str], object] = lambda _outcome: None,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self._hold = hold or Hold()
        self._count = count
        self._now = now
        self._sleep = sleep
        self._latest: _Set | None = None
        self._ahead: asyncio.Task[None] | None = None
        self._credentials: AioRefreshableCredentials | None = None
        self._renewed = -float("inf")
        self._renewing: asyncio.Task[bool] | None = None

    async def start(self) -> AioRefreshableCredentials:
        """The first credentials (a ``GatewayError`` if STS refuses them); from here on
        the next ones are fetched ahead."""
        first = self._latest = await self._assume()
        credentials = AioRefreshableCredentials(
            access_key=first.access_key,
            secret_key=first.secret_key,
            token=first.token,
            expiry_time=first.expiry,
            refresh_using=self._refresh,
            method="assume-role",
            time_fetcher=self._now,
            advisory_timeout=int(ADVISORY.total_seconds()),
            mandatory_timeout=int(MANDATORY.total_seconds()),
        )
        # Its own context: the task outlives the request whose call opened the account.
        self._ahead = asyncio.create_task(self._fetch_ahead(), context=contextvars.Context())
        self._credentials = credentials
        return credentials

    async def renew(self) -> bool:
        """CodeDeploy no longer recognises the session (revoked, or its STS forgot it):
        a new one, at most once a hold, concurrent callers sharing it. Whether there is
        a new one to retry with."""
        if self._renewing is None:
            if self._hold.clock() - self._renewed < self._hold.seconds:
                return False
            self._renewed = self._hold.clock()
            self._renewing = asyncio.create_task(self._renew(), context=contextvars.Context())
            self._renewing.add_done_callback(lambda _: setattr(self, "_renewing", None))
        return await asyncio.shield(self._renewing)

    async def _renew(self) -> bool:
        logger.warning(
            "CodeDeploy rejected account %s's session: assuming its role again", self._alias
        )
        try:
            self._latest = await self._assume()
        except GatewayError:  # logged and held by _assume
            return False
        assert self._credentials is not None  # start() made them
        # aiobotocore's refresh, now: it takes the newest set (``_refresh``) and signs
        # with it from the next request on. Its stubs leave the method out.
        await self._credentials._protected_refresh(is_mandatory=True)  # type: ignore[attr-defined]
        return True

    async def close(self) -> None:
        if self._ahead is not None:
            self._ahead.cancel()
            await asyncio.gather(self._ahead, return_exceptions=True)

    async def _refresh(self) -> dict[str, str]:
        """botocore's refresh: the newest set; a fresh one now only when that one has
        fewer than ``MANDATORY`` left, fetching ahead having failed all along."""
        latest = self._latest
        if latest is None or latest.expiry - self._now() <= MANDATORY:
            latest = self._latest = await self._assume()
        return latest.metadata()

    async def _fetch_ahead(self) -> None:
        while True:
            assert self._latest is not None  # start() set it
            due = (self._latest.expiry - FETCH_AHEAD - self._now()).total_seconds()
            if due > 0:
                await self._sleep(due)
            try:
                self._latest = await self._assume()
            except GatewayError:  # logged by _assume
                pass
            except Exception:
                logger.exception("fetching credentials ahead for account %s", self._alias)
            else:
                if self._latest.expiry - self._now() > FETCH_AHEAD:
                    continue
            # Failed, or a set too short to fetch ahead of: not a loop of calls.
            await self._sleep(RETRY_SECONDS)

    async def _assume(self) -> _Set:
        """One AssumeRole, within the deadline, counted, held when it fails; refusals
        answered without the ARN."""
        self._hold.check()
        try:
            fetched = await self._traced()
        except GatewayError as error:
            self._count(error.upstream_code or error.code)
            self._hold.keep(error)
            raise
        self._count("ok")
        return fetched

    async def _traced(self) -> _Set:
        """The call, a span of its own when tracing is on (its own trace: a renewal is
        nobody's request)."""
        if not tracing.on():
            return await self._call()
        with tracing.span("STS/AssumeRole", SpanKind.CLIENT, rpc("STS", "AssumeRole")) as span:
            assert span is not None
            try:
                return await self._call()
            except GatewayError as error:
                failed(span, error)
                raise

    async def _call(self) -> _Set:
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._sts.assume_role(**self._arguments)
        except ClientError as exc:
            # STS's message names the role and both accounts: for the log, not the caller.
            message = exc.response.get("Error", {}).get("Message")
            logger.warning("STS refused account %s: %s", self._alias, message)
            raise sts_error(from_client_error(exc), self._alias) from exc
        except BotoCoreError as exc:
            logger.warning("STS failed for account %s: %r", self._alias, exc)
            raise sts_error(from_botocore_error(exc), self._alias) from exc
        except TimeoutError as exc:
            logger.warning("STS did not answer in time for account %s", self._alias)
            raise sts_error(UpstreamTimeout("STS did not answer."), self._alias) from exc
        except OSError as exc:
            logger.warning("STS could not be reached for account %s: %r", self._alias, exc)
            raise sts_error(UpstreamError("STS could not be reached."), self._alias) from exc
        credentials = reply["Credentials"]
        return _Set(
            access_key=credentials["AccessKeyId"],
            secret_key=credentials["SecretAccessKey"],
            token=credentials["SessionToken"],
            expiry=credentials["Expiration"].astimezone(UTC),
        )
