"""The call policy: how every CodeDeploy call is made, whatever it asks.

One deadline a call (waiting for the client's first credentials and for a slot
included), retries counted, throttling told from a timeout, a rejected session renewed
once, errors translated, and every call counted in the metrics.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import Context, ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry.trace import Span, SpanKind, StatusCode

from service import tracing
from service.accounts import AccountRegion
from service.codedeploy.budget import UpstreamBudget
from service.codedeploy.errors import (
    THROTTLING_CODES,
    from_botocore_error,
    from_client_error,
    sts_error,
)
from service.errors import BudgetSpent, GatewayError, Throttled, UpstreamError, UpstreamTimeout
from service.freshness import Reading, reading
from service.metrics import Metrics

if TYPE_CHECKING:
    from types_aiobotocore_codedeploy import CodeDeployClient

logger = logging.getLogger(__name__)

# CodeDeploy's answers to a session it no longer recognises (revoked, or expired early):
# an assumed role's credentials are then fetched anew rather than kept until they expire.
REJECTED_SESSION = frozenset(
    {"UnrecognizedClientException", "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId"}
)

Call = Callable[["CodeDeployClient"], Awaitable[Any]]

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
    budget: bool = False
    """Whether the call is waiting for the budget toward CodeDeploy."""


# Filled by the response-received hook for the call running in the current task.
_attempts: ContextVar[_Attempts | None] = ContextVar("codedeploy_attempts", default=None)


def record_attempt(parsed_response: dict[str, Any] | None = None, **_: Any) -> None:
    """botocore's ``response-received`` hook: one attempt of the current call."""
    attempts = _attempts.get()
    if attempts is None:
        return
    attempts.count += 1
    code = (parsed_response or {}).get("Error", {}).get("Code")
    attempts.throttled = code in THROTTLING_CODES


def rpc(service: str, method: str) -> dict[str, str]:
    """What an AWS call's span says of it (OpenTelemetry's RPC conventions for AWS)."""
    return {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": method}


def failed(span: "Span", error: GatewayError) -> None:
    """Marks a call's span failed, with the gateway's code and CodeDeploy's request id."""
    span.set_status(StatusCode.ERROR, error.code)
    span.set_attribute("error.type", error.upstream_code or error.code)
    if error.request_id:
        span.set_attribute("aws.request_id", error.request_id)


def request_id(reply: dict[str, Any]) -> str | None:
    found: str | None = reply.get("ResponseMetadata", {}).get("RequestId")
    return found


class Calls:
    """One account region's client, opened by the first call, and every call's policy."""

    def __init__(
        self,
        open_client: Callable[[], Coroutine[Any, Any, "CodeDeployClient"]],
        *,
        where: AccountRegion,
        timeout_seconds: float,
        metrics: Metrics,
        max_concurrency: int,
        budget: UpstreamBudget,
    ) -> None:
        self.where = where
        self._budget = budget
        self._open_client = open_client
        self._client: CodeDeployClient | None = None
        self._opening: asyncio.Task[CodeDeployClient] | None = None
        # Across all callers: an account's CodeDeploy quota in a region is one.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._timeout = timeout_seconds
        self._metrics = metrics
        self.renew: Callable[[], Awaitable[bool]] | None = None
        """Set for an assumed role: a new session when CodeDeploy rejects this one."""

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

    async def __call__(self, operation: str, call: Call) -> dict[str, Any]:
        """``call``, within the deadline, translated, counted in the metrics, and a span
        of its own when tracing is on."""
        if not tracing.on():
            return await self._counted(operation, call)
        attributes = {**rpc("CodeDeploy", operation), "cloud.region": self.where.region}
        with tracing.span(f"CodeDeploy/{operation}", SpanKind.CLIENT, attributes) as span:
            assert span is not None
            try:
                reply = await self._counted(operation, call)
            except GatewayError as error:
                failed(span, error)
                raise
            if found := request_id(reply):
                span.set_attribute("aws.request_id", found)
            return reply

    async def _counted(self, operation: str, call: Call) -> dict[str, Any]:
        attempts = _Attempts()
        token = _attempts.set(attempts)
        start = time.perf_counter()
        outcome = "ok"
        try:
            try:
                reply = await self._bounded(call, attempts)
            except GatewayError as error:
                if error.upstream_code not in REJECTED_SESSION or self.renew is None:
                    raise
                if not await self.renew():
                    raise
                reply = await self._bounded(call, attempts)  # once, in the new session
            _note(request_id(reply))
            return reply
        except BudgetSpent:
            outcome = "budget"
            raise
        except Throttled:
            outcome = "throttled"
            raise
        except UpstreamTimeout:
            outcome = "timeout"
            raise
        except GatewayError as error:
            outcome = error.upstream_code or error.code
            _note(error.request_id)
            raise
        finally:
            _attempts.reset(token)
            self._metrics.upstream_calls.labels(operation, outcome).inc()
            trace = tracing.current_trace_id()
            self._metrics.upstream_duration.labels(operation).observe(
                time.perf_counter() - start, exemplar={"trace_id": trace} if trace else None
            )
            if attempts.count > 1:
                self._metrics.upstream_retries.labels(operation).inc(attempts.count - 1)

    async def _within_budget(self, attempts: _Attempts) -> None:
        """Until the budget toward CodeDeploy lets this call go (the deadline running);
        at once ``BudgetSpent`` when a stale answer stands ready for a caller's read."""
        read = reading.get() or Reading()
        waited = False
        while wait := await self._budget.take(self.where, background=read.background):
            if read.fallback and not read.background:
                raise BudgetSpent(
                    "The gateway's budget toward CodeDeploy (GATEWAY_UPSTREAM_RATE_PER_SECOND) "
                    "is spent for now."
                )
            if not waited:
                waited = True
                priority = "background" if read.background else "caller"
                self._metrics.budget_waits.labels(priority).inc()
            attempts.budget = True  # the deadline running out here is the budget's
            await asyncio.sleep(wait)
        attempts.budget = False

    async def _bounded(self, call: Call, attempts: _Attempts) -> dict[str, Any]:
        deadline = asyncio.timeout(self._timeout)
        client = None
        try:
            # Waiting for the client's first credentials, or for a slot, counts too.
            async with deadline:
                client = await self._connected()
                await self._within_budget(attempts)
                async with self._slots:
                    reply: dict[str, Any] = await call(client)
                    return reply
        except TimeoutError as exc:
            if client is None:
                raise sts_error(UpstreamTimeout("STS did not answer."), self.where.account) from exc
            if not deadline.expired():
                raise UpstreamTimeout("CodeDeploy did not answer in time.") from exc
            if attempts.budget:
                raise BudgetSpent(
                    "The gateway's budget toward CodeDeploy (GATEWAY_UPSTREAM_RATE_PER_SECOND) "
                    "was spent until the deadline; retry later."
                ) from exc
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
