"""A deployment's instances, read one of two ways, chosen once per process.

``GetDeploymentInstance`` and its family are deprecated upstream; with
``GATEWAY_UPSTREAM_API=targets`` the same reads come from the target calls, answering in
the instance calls' shape and codes, so callers cannot tell which API answered.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from service.codedeploy.batch import Batch, parse, read_batch
from service.codedeploy.calls import Calls
from service.codedeploy.errors import as_instance_error
from service.errors import ErrorCode, GatewayError, UnsupportedComputePlatform
from service.models import (
    BatchGetDeploymentInstancesOutput,
    DeploymentTarget,
    GetDeploymentInstanceOutput,
    IdPage,
    InstanceSummary,
    ListDeploymentInstancesOutput,
)


class InstanceReads(Protocol):
    async def get(self, deployment_id: str, instance_id: str) -> InstanceSummary: ...

    async def batch_get(
        self, deployment_id: str, instance_ids: Sequence[str]
    ) -> dict[str, InstanceSummary | GatewayError]:
        """Any number of ids, in concurrent batch calls; an outcome for each id."""
        ...

    async def list_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
    ) -> IdPage: ...


class TargetReads(Protocol):
    async def get_target(self, deployment_id: str, target_id: str) -> DeploymentTarget: ...

    async def batch_get_targets(
        self, deployment_id: str, target_ids: Sequence[str]
    ) -> dict[str, DeploymentTarget | GatewayError]: ...

    async def list_target_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
    ) -> IdPage: ...


class InstanceCalls:
    """The deprecated instance calls."""

    def __init__(self, calls: Calls) -> None:
        self._calls = calls

    async def get(self, deployment_id: str, instance_id: str) -> InstanceSummary:
        reply = await self._calls(
            "GetDeploymentInstance",
            lambda client: client.get_deployment_instance(
                deploymentId=deployment_id, instanceId=instance_id
            ),
        )
        return _by_its_id(parse(GetDeploymentInstanceOutput, reply).instance_summary)

    async def batch_get(
        self, deployment_id: str, instance_ids: Sequence[str]
    ) -> dict[str, InstanceSummary | GatewayError]:
        batch = Batch(
            "BatchGetDeploymentInstances",
            lambda client, ids: client.batch_get_deployment_instances(
                deploymentId=deployment_id, instanceIds=ids
            ),
            BatchGetDeploymentInstancesOutput,
            _by_id,
            lambda id_: f"The instance {id_} does not belong to the deployment {deployment_id}.",
            ErrorCode.INSTANCE_NOT_FOUND,
        )
        return await read_batch(self._calls, batch, instance_ids)

    async def list_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
    ) -> IdPage:
        params: dict[str, Any] = {"deploymentId": deployment_id}
        if statuses:
            params["instanceStatusFilter"] = list(statuses)
        if instance_types:
            params["instanceTypeFilter"] = list(instance_types)
        if next_token:
            params["nextToken"] = next_token
        reply = await self._calls(
            "ListDeploymentInstances", lambda client: client.list_deployment_instances(**params)
        )
        output = parse(ListDeploymentInstancesOutput, reply)
        return IdPage(ids=output.instances_list, next_token=output.next_token)


class InstancesFromTargets:
    """The target calls, answering as the instance calls would."""

    def __init__(self, targets: TargetReads) -> None:
        self._codedeploy = targets

    async def get(self, deployment_id: str, instance_id: str) -> InstanceSummary:
        try:
            return _as_instance(await self._codedeploy.get_target(deployment_id, instance_id))
        except GatewayError as error:
            raise as_instance_error(error) from error

    async def batch_get(
        self, deployment_id: str, instance_ids: Sequence[str]
    ) -> dict[str, InstanceSummary | GatewayError]:
        targets = await self._codedeploy.batch_get_targets(deployment_id, instance_ids)
        return {target_id: _instance_outcome(outcome) for target_id, outcome in targets.items()}

    async def list_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
    ) -> IdPage:
        try:
            return await self._codedeploy.list_target_ids(
                deployment_id,
                statuses=statuses,
                instance_types=instance_types,
                next_token=next_token,
            )
        except GatewayError as error:
            raise as_instance_error(error) from error


def _by_id(output: BatchGetDeploymentInstancesOutput) -> list[tuple[str | None, InstanceSummary]]:
    # CodeDeploy answers an EC2 instance with its ARN; callers ask with its id.
    found: list[tuple[str | None, InstanceSummary]] = []
    for summary in output.instances_summary:
        stored, named = summary.instance_id or "", _by_its_id(summary)
        found += [(stored, named), (stored.rsplit("/", 1)[-1], named)]
    return found


def _by_its_id(summary: InstanceSummary) -> InstanceSummary:
    """The instance named by its id, as the lists and the target calls name it:
    GetDeploymentInstance may answer an EC2 instance's ARN instead, so the two upstream
    modes answer alike."""
    instance_id = summary.instance_id
    if instance_id is None or not instance_id.startswith("arn:"):
        return summary
    return summary.model_copy(update={"instance_id": instance_id.rsplit("/", 1)[-1]})


def _as_instance(target: DeploymentTarget) -> InstanceSummary:
    if target.instance_target is None:
        raise UnsupportedComputePlatform(
            "The deployment is not EC2/on-premises; read its targets instead.",
            code=ErrorCode.UNSUPPORTED_COMPUTE_PLATFORM,
        )
    return InstanceSummary.from_target(target.instance_target)


def _instance_outcome(outcome: DeploymentTarget | GatewayError) -> InstanceSummary | GatewayError:
    if isinstance(outcome, GatewayError):
        return as_instance_error(outcome)
    try:
        return _as_instance(outcome)
    except GatewayError as error:
        return error
