"""CodeDeploy's read operations, answered as domain models or a ``GatewayError``:
nothing botocore-shaped leaves this module."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.codedeploy.batch import NAMES_BATCH_LIMIT, Batch, parse, read_batch
from service.codedeploy.calls import Calls
from service.codedeploy.instances import InstanceCalls, InstanceReads, InstancesFromTargets
from service.errors import ErrorCode, GatewayError
from service.models import (
    ApplicationInfo,
    BatchGetApplicationsOutput,
    BatchGetDeploymentGroupsOutput,
    BatchGetDeploymentsOutput,
    BatchGetDeploymentTargetsOutput,
    DeploymentGroupInfo,
    DeploymentInfo,
    DeploymentTarget,
    GetApplicationOutput,
    GetDeploymentGroupOutput,
    GetDeploymentOutput,
    GetDeploymentTargetOutput,
    IdPage,
    ListApplicationsOutput,
    ListDeploymentGroupsOutput,
    ListDeploymentsOutput,
)
from service.settings import UpstreamApi


@dataclass(frozen=True, slots=True)
class DeploymentFilter:
    """Which deployments ListDeployments lists: a group's (application and group
    together), in some statuses, created in a window; each part optional."""

    application: str | None = None
    group: str | None = None
    statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


class CodeDeploy:
    """One account region's CodeDeploy: its reads, each made by ``calls``.

    Instance-shaped reads come from ``instances``: the deprecated instance calls or, with
    ``api="targets"``, the target calls answering in the same shape and codes.
    """

    def __init__(self, calls: Calls, *, api: UpstreamApi) -> None:
        self.calls = calls
        self.where = calls.where
        self.api = api
        self.instances: InstanceReads = (
            InstancesFromTargets(self) if api == "targets" else InstanceCalls(calls)
        )

    # --- deployments and targets -----------------------------------------------------

    async def get_deployment(self, deployment_id: str) -> DeploymentInfo:
        reply = await self.calls(
            "GetDeployment", lambda client: client.get_deployment(deploymentId=deployment_id)
        )
        return parse(GetDeploymentOutput, reply).deployment_info

    async def batch_get_deployments(
        self, deployment_ids: Sequence[str]
    ) -> dict[str, DeploymentInfo | GatewayError]:
        return await read_batch(self.calls, _DEPLOYMENTS, deployment_ids)

    async def get_target(self, deployment_id: str, target_id: str) -> DeploymentTarget:
        reply = await self.calls(
            "GetDeploymentTarget",
            lambda client: client.get_deployment_target(
                deploymentId=deployment_id, targetId=target_id
            ),
        )
        return parse(GetDeploymentTargetOutput, reply).deployment_target

    async def batch_get_targets(
        self, deployment_id: str, target_ids: Sequence[str]
    ) -> dict[str, DeploymentTarget | GatewayError]:
        return await read_batch(self.calls, _targets(deployment_id), target_ids)

    async def list_target_ids(
        self,
        deployment_id: str,
        *,
        statuses: Sequence[str] = (),
        instance_types: Sequence[str] = (),
        next_token: str | None = None,
    ) -> IdPage:
        params: dict[str, Any] = {"deploymentId": deployment_id}
        filters = {"TargetStatus": list(statuses), "ServerInstanceLabel": list(instance_types)}
        if any(filters.values()):
            params["targetFilters"] = {name: values for name, values in filters.items() if values}
        if next_token:
            params["nextToken"] = next_token
        reply = await self.calls(
            "ListDeploymentTargets", lambda client: client.list_deployment_targets(**params)
        )
        return parse(
            IdPage, {"ids": reply.get("targetIds", []), "nextToken": reply.get("nextToken")}
        )

    # --- discovery: applications, deployment groups, deployment lists ------------------

    async def list_applications(self, *, next_token: str | None = None) -> IdPage:
        params = {"nextToken": next_token} if next_token else {}
        reply = await self.calls(
            "ListApplications", lambda client: client.list_applications(**params)
        )
        output = parse(ListApplicationsOutput, reply)
        return IdPage(ids=output.applications, next_token=output.next_token)

    async def batch_get_applications(
        self, names: Sequence[str]
    ) -> dict[str, ApplicationInfo | GatewayError]:
        return await read_batch(self.calls, _APPLICATIONS, names)

    async def get_application(self, name: str) -> ApplicationInfo:
        reply = await self.calls(
            "GetApplication", lambda client: client.get_application(applicationName=name)
        )
        return parse(GetApplicationOutput, reply).application

    async def list_deployment_groups(
        self, application: str, *, next_token: str | None = None
    ) -> IdPage:
        params: dict[str, Any] = {"applicationName": application}
        if next_token:
            params["nextToken"] = next_token
        reply = await self.calls(
            "ListDeploymentGroups", lambda client: client.list_deployment_groups(**params)
        )
        output = parse(ListDeploymentGroupsOutput, reply)
        return IdPage(ids=output.deployment_groups, next_token=output.next_token)

    async def get_deployment_group(self, application: str, group: str) -> DeploymentGroupInfo:
        reply = await self.calls(
            "GetDeploymentGroup",
            lambda client: client.get_deployment_group(
                applicationName=application, deploymentGroupName=group
            ),
        )
        return parse(GetDeploymentGroupOutput, reply).deployment_group_info

    async def batch_get_deployment_groups(
        self, application: str, groups: Sequence[str]
    ) -> dict[str, DeploymentGroupInfo | GatewayError]:
        return await read_batch(self.calls, _groups(application), groups)

    async def list_deployment_ids(
        self, listed: DeploymentFilter, *, next_token: str | None = None
    ) -> IdPage:
        """Deployment ids, newest first, as CodeDeploy lists them."""
        params: dict[str, Any] = {}
        if listed.application:
            params["applicationName"] = listed.application
        if listed.group:
            params["deploymentGroupName"] = listed.group
        if listed.statuses:
            params["includeOnlyStatuses"] = list(listed.statuses)
        if listed.created_after or listed.created_before:
            window: dict[str, datetime] = {}
            if listed.created_after:
                window["start"] = listed.created_after
            if listed.created_before:
                window["end"] = listed.created_before
            params["createTimeRange"] = window
        if next_token:
            params["nextToken"] = next_token
        reply = await self.calls(
            "ListDeployments", lambda client: client.list_deployments(**params)
        )
        output = parse(ListDeploymentsOutput, reply)
        return IdPage(ids=output.deployments, next_token=output.next_token)


_DEPLOYMENTS = Batch(
    "BatchGetDeployments",
    lambda client, ids: client.batch_get_deployments(deploymentIds=ids),
    BatchGetDeploymentsOutput,
    lambda output: ((info.deployment_id, info) for info in output.deployments_info),
    lambda id_: f"The deployment {id_} could not be found.",
    ErrorCode.DEPLOYMENT_NOT_FOUND,
)

_APPLICATIONS = Batch(
    "BatchGetApplications",
    lambda client, names: client.batch_get_applications(applicationNames=names),
    BatchGetApplicationsOutput,
    lambda output: ((info.application_name, info) for info in output.applications_info),
    lambda name: f"No application found for name: {name}",
    ErrorCode.APPLICATION_NOT_FOUND,
    size=NAMES_BATCH_LIMIT,
    one_by_one=True,
    cites_reply=False,
)


def _targets(deployment_id: str) -> Batch[BatchGetDeploymentTargetsOutput, DeploymentTarget]:
    return Batch(
        "BatchGetDeploymentTargets",
        lambda client, ids: client.batch_get_deployment_targets(
            deploymentId=deployment_id, targetIds=ids
        ),
        BatchGetDeploymentTargetsOutput,
        lambda output: (
            (target.target.target_id, target)
            for target in output.deployment_targets
            if target.target is not None and target.target.target_id
        ),
        lambda id_: f"The target {id_} does not belong to the deployment {deployment_id}.",
        ErrorCode.TARGET_NOT_FOUND,
        one_by_one=True,
    )


def _groups(application: str) -> Batch[BatchGetDeploymentGroupsOutput, DeploymentGroupInfo]:
    return Batch(
        "BatchGetDeploymentGroups",
        lambda client, groups: client.batch_get_deployment_groups(
            applicationName=application, deploymentGroupNames=groups
        ),
        BatchGetDeploymentGroupsOutput,
        lambda output: (
            (info.deployment_group_name, info) for info in output.deployment_groups_info
        ),
        lambda group: f"No deployment group {group} in the application {application}.",
        ErrorCode.DEPLOYMENT_GROUP_NOT_FOUND,
        size=NAMES_BATCH_LIMIT,
    )
