"""A CodeDeploy emulator speaking AWS's JSON 1.1 protocol, so any SDK talks to it as to AWS."""

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from service.emulator.data import (
    Deployment,
    EmulatorData,
    target_body,
    target_id_of,
)
from service.emulator.discovery import Discovery
from service.emulator.errors import AwsError
from service.emulator.sts import Sts
from service.models import InstanceStatus, InstanceType

TARGET_PREFIX = "CodeDeploy_20141006."
BATCH_LIMIT = 25
INSTANCE_STATUSES = frozenset(status.value for status in InstanceStatus)
INSTANCE_TYPES = frozenset(kind.value for kind in InstanceType)
CONTENT_TYPE = "application/x-amz-json-1.1"
DEPLOYMENT_ID = re.compile(r"d-[A-Z0-9]{9}")

Params = dict[str, Any]


class BrokenReply(Exception):
    """Answer with something that is not a CodeDeploy reply, as a broken proxy would."""

    def __init__(self, kind: Literal["not-json", "truncated"]) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(slots=True)
class Faults:
    """Knobs that make the emulator misbehave like a loaded or failing AWS endpoint.

    Rates are probabilities per call, rolled in this order: throttle (400
    ThrottlingException), error (500 InternalFailure), not JSON (200 with an HTML page),
    truncated (the connection closes partway through the promised body).
    """

    latency_seconds: float = 0.0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    not_json_rate: float = 0.0
    truncated_rate: float = 0.0


class Emulator:
    """CodeDeploy's state and operations; ``calls`` counts requests per operation.

    List calls answer ``page_size`` ids a page, so a small one exercises ``nextToken``.
    """

    def __init__(
        self,
        data: EmulatorData,
        faults: Faults | None = None,
        seed: int | None = None,
        page_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = data
        self.clock = clock
        self.started = clock()
        """Where the rolling deployments' runs count from."""
        self.faults = faults or Faults()
        self.page_size = page_size
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        """Most calls being answered at once: what a caller-side concurrency cap bounds."""
        self._random = random.Random(seed)
        self.sts = Sts(data, clock)
        self._members: dict[tuple[str, str], Emulator] = {}
        self._operations: dict[str, Callable[[Params], Awaitable[Params]]] = {
            "GetDeploymentInstance": self.get_deployment_instance,
            "BatchGetDeploymentInstances": self.batch_get_deployment_instances,
            "ListDeploymentInstances": self.list_deployment_instances,
            "GetDeployment": self.get_deployment,
            "GetDeploymentTarget": self.get_deployment_target,
            "BatchGetDeploymentTargets": self.batch_get_deployment_targets,
            "ListDeploymentTargets": self.list_deployment_targets,
        }
        discovery = Discovery(data, self._known, self._page, self._runs)
        for name, operation in discovery.operations().items():
            self._operations[name] = _async(operation)

    def at(self, account: str, region: str) -> "Emulator":
        """The emulator of ``account`` in ``region`` (the home account: this one, in every
        region); it shares this one's faults and call counts."""
        if account == self.data.account_id:
            return self
        member = self._members.get((account, region))
        if member is None:
            data = self.data.accounts.get(account, {}).get(region) or EmulatorData()
            member = Emulator(data, self.faults, page_size=self.page_size, clock=self.clock)
            member.started = self.started
            member.calls = self.calls
            self._members[account, region] = member
        return member

    async def handle(self, operation: str, params: Params) -> Params:
        handler = self._operations.get(operation)
        if handler is None:
            raise AwsError("UnknownOperationException", f"Unknown operation {operation}")
        self.calls[operation] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(handler, params)
        finally:
            self.in_flight -= 1

    async def _answer(
        self, handler: Callable[[Params], Awaitable[Params]], params: Params
    ) -> Params:
        faults = self.faults
        if faults.latency_seconds > 0:
            await asyncio.sleep(faults.latency_seconds)
        if self._random.random() < faults.throttle_rate:
            raise AwsError("ThrottlingException", "Rate exceeded")
        if self._random.random() < faults.error_rate:
            raise AwsError("InternalFailure", "We encountered an internal error.", 500)
        if self._random.random() < faults.not_json_rate:
            raise BrokenReply("not-json")
        if self._random.random() < faults.truncated_rate:
            raise BrokenReply("truncated")
        return await handler(params)

    # --- instances ---------------------------------------------------------------------

    async def get_deployment_instance(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        instance_id = _string(params, "instanceId")
        self._raise_injected(deployment_id, [instance_id])
        _require_instance_ids([instance_id])
        deployment = self._server_deployment(deployment_id)
        summary = deployment.find_instance(instance_id)
        if summary is None:
            raise AwsError(
                "InstanceDoesNotExistException",
                f"The instance {instance_id} does not belong to the deployment {deployment_id}.",
            )
        return {"instanceSummary": summary}

    async def batch_get_deployment_instances(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        instance_ids = _strings(params, "instanceIds")
        self._raise_injected(deployment_id, instance_ids)
        if len(instance_ids) > BATCH_LIMIT:
            raise AwsError("BatchLimitExceededException", "The maximum number of ids is 25.")
        _require_instance_ids(instance_ids)
        deployment = self._server_deployment(deployment_id)
        found = [deployment.find_instance(instance_id) for instance_id in instance_ids]
        missing = [i for i, summary in zip(instance_ids, found, strict=True) if summary is None]
        reply: Params = {"instancesSummary": [summary for summary in found if summary]}
        if missing:
            reply["errorMessage"] = f"Instances not found in {deployment_id}: {', '.join(missing)}"
        return reply

    async def list_deployment_instances(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        self._raise_injected(deployment_id, [])
        deployment = self._server_deployment(deployment_id)
        self._require_started(deployment)
        statuses = _filter(
            params.get("instanceStatusFilter"), INSTANCE_STATUSES, "InvalidInstanceStatusException"
        )
        types = _filter(
            params.get("instanceTypeFilter"), INSTANCE_TYPES, "InvalidInstanceTypeException"
        )
        ids = [
            str(summary.get("instanceId", "")).rsplit("/", 1)[-1]
            for summary in deployment.instances
            if (not statuses or summary.get("status") in statuses)
            and (not types or summary.get("instanceType") in types)
        ]
        page, next_token = self._page(ids, params.get("nextToken"))
        return {"instancesList": page, **({"nextToken": next_token} if next_token else {})}

    # --- deployments and targets -------------------------------------------------------

    async def get_deployment(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        self._raise_injected(deployment_id, [])
        return {"deploymentInfo": self._deployment(deployment_id).info(deployment_id)}

    async def get_deployment_target(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        target_id = _string(params, "targetId")
        self._raise_injected(deployment_id, [target_id])
        deployment = self._started_deployment(deployment_id)
        if not target_id:
            raise AwsError("DeploymentTargetIdRequiredException", "A target ID is required.")
        target = deployment.find_target(target_id)
        if target is None:
            raise _no_target(target_id, deployment_id)
        return {"deploymentTarget": target}

    async def batch_get_deployment_targets(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        target_ids = _strings(params, "targetIds")
        self._raise_injected(deployment_id, target_ids)
        deployment = self._started_deployment(deployment_id)
        if not target_ids or not all(target_ids):
            raise AwsError("DeploymentTargetIdRequiredException", "A target ID is required.")
        if len(target_ids) > BATCH_LIMIT:
            raise AwsError("DeploymentTargetListSizeExceededException", "At most 25 target IDs.")
        targets = []
        for target_id in target_ids:
            target = deployment.find_target(target_id)
            if target is None:
                # Like CodeDeploy, one unknown id fails the whole batch.
                raise _no_target(target_id, deployment_id)
            targets.append(target)
        return {"deploymentTargets": targets}

    async def list_deployment_targets(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        self._raise_injected(deployment_id, [])
        deployment = self._started_deployment(deployment_id)
        filters = params.get("targetFilters") or {}
        if not isinstance(filters, dict) or set(filters) - {"TargetStatus", "ServerInstanceLabel"}:
            raise AwsError("InvalidTargetFilterNameException", "Unknown target filter.")
        statuses = _filter(
            filters.get("TargetStatus"), INSTANCE_STATUSES, "InvalidInstanceStatusException"
        )
        labels = _filter(
            filters.get("ServerInstanceLabel"), INSTANCE_TYPES, "InvalidInstanceTypeException"
        )
        ids = [
            target_id_of(target)
            for target in deployment.all_targets()
            if (not statuses or target_body(target).get("status") in statuses)
            and (not labels or target_body(target).get("instanceLabel") in labels)
        ]
        page, next_token = self._page(ids, params.get("nextToken"))
        return {"targetIds": page, **({"nextToken": next_token} if next_token else {})}

    # --- shared checks -------------------------------------------------------------------

    def _deployment(self, deployment_id: str) -> Deployment:
        if not deployment_id:
            raise AwsError("DeploymentIdRequiredException", "Deployment ID is required.")
        if not DEPLOYMENT_ID.fullmatch(deployment_id):
            raise AwsError(
                "InvalidDeploymentIdException",
                f"Specified DeploymentId is not in the valid format: {deployment_id}",
            )
        for first, rolling in self.data.rolling.items():
            run = rolling.find(first, deployment_id, self.started, self.clock())
            if run is not None:
                return Deployment.model_validate(run)
        deployment = self.data.deployments.get(deployment_id)
        if deployment is None:
            raise AwsError(
                "DeploymentDoesNotExistException",
                f"The deployment {deployment_id} could not be found.",
            )
        return deployment

    def _runs(self) -> list[str]:
        """The ids of the moving deployments' runs started so far."""
        now = self.clock()
        return [
            run
            for first, rolling in self.data.rolling.items()
            for run in rolling.runs(first, self.started, now)
        ]

    def _known(self, deployment_id: str) -> Deployment:
        """A deployment, or LookupError: for the calls that leave unknown ids out."""
        try:
            return self._deployment(deployment_id)
        except AwsError as error:
            raise LookupError(deployment_id) from error

    def _server_deployment(self, deployment_id: str) -> Deployment:
        deployment = self._deployment(deployment_id)
        if deployment.compute_platform != "Server":
            raise AwsError(
                "InvalidComputePlatformException",
                "The computePlatform is invalid. The computePlatform should be Server.",
            )
        return deployment

    def _started_deployment(self, deployment_id: str) -> Deployment:
        deployment = self._deployment(deployment_id)
        self._require_started(deployment)
        return deployment

    @staticmethod
    def _require_started(deployment: Deployment) -> None:
        if deployment.status in ("Created", "Queued"):
            raise AwsError("DeploymentNotStartedException", "The deployment has not started.")

    def _page(self, ids: list[str], token: object) -> tuple[list[str], str | None]:
        start = 0
        if token is not None:
            if not isinstance(token, str) or not token.startswith("page:"):
                raise AwsError("InvalidNextTokenException", "The next token is not valid.")
            try:
                start = int(token.removeprefix("page:"))
            except ValueError as exc:
                raise AwsError("InvalidNextTokenException", "The next token is not valid.") from exc
        end = start + self.page_size
        return ids[start:end], (f"page:{end}" if end < len(ids) else None)

    def _raise_injected(self, deployment_id: str, ids: Sequence[str]) -> None:
        for key in (*(f"{deployment_id}/{id_}" for id_ in ids), deployment_id):
            injected = self.data.errors.get(key)
            if injected is not None:
                raise AwsError(injected.type, injected.message, injected.status)


def _async(operation: Callable[[Params], Params]) -> Callable[[Params], Awaitable[Params]]:
    async def run(params: Params) -> Params:
        return operation(params)

    return run


def _require_instance_ids(instance_ids: Sequence[str]) -> None:
    if not instance_ids or not all(instance_ids):
        raise AwsError("InstanceIdRequiredException", "Instance ID is required.")


def _no_target(target_id: str, deployment_id: str) -> AwsError:
    return AwsError(
        "DeploymentTargetDoesNotExistException",
        f"The target {target_id} does not belong to the deployment {deployment_id}.",
    )


def _filter(value: object, known: frozenset[str], error: str) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, list) or not set(value) <= known:
        raise AwsError(error, f"Unknown filter value in {value!r}")
    return set(value)


def _strings(params: Params, name: str) -> list[str]:
    value = params.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AwsError("SerializationException", f"{name} must be a list of strings")
    return value


def _string(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not isinstance(value, str):
        raise AwsError("SerializationException", f"{name} must be a string")
    return value
