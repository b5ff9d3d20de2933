"""A deployment's fleet in GraphQL: its instances and its targets, each a connection over
CodeDeploy's paged id list, their nodes batched through the request's DataLoaders."""

import strawberry

from service.graphql.context import Reads
from service.graphql.pagination import PageInfo, total_count
from service.graphql.types import (
    CloudFormationTarget,
    DeploymentTarget,
    EcsTarget,
    InstanceSummary,
    InstanceTarget,
    LambdaTarget,
    target_from_model,
)
from service.reads.pages import Listing


async def load_instance(reads: Reads, deployment_id: str, instance_id: str) -> InstanceSummary:
    summary = await reads.instances.load((deployment_id, instance_id))
    return InstanceSummary.from_model(summary, reads.where, (deployment_id, instance_id))


async def load_target(
    reads: Reads, deployment_id: str, target_id: str
) -> InstanceTarget | LambdaTarget | EcsTarget | CloudFormationTarget | None:
    target = await reads.targets.load((deployment_id, target_id))
    return target_from_model(target, reads.where, (deployment_id, target_id))


@strawberry.type(description="An instance in a page of a deployment's instances.")
class InstanceSummaryEdge:
    cursor: str
    reads: strawberry.Private[Reads]
    deployment_id: strawberry.Private[str]
    instance_id: strawberry.Private[str]

    @strawberry.field
    async def node(self) -> InstanceSummary | None:
        return await load_instance(self.reads, self.deployment_id, self.instance_id)


@strawberry.type(description="A page of a deployment's instances (ListDeploymentInstances).")
class InstanceSummaryConnection:
    edges: list[InstanceSummaryEdge]
    page_info: PageInfo
    listing: strawberry.Private[Listing]
    total_count: int | None = total_count("instances matching the filters")


@strawberry.type(description="A target in a page of a deployment's targets.")
class DeploymentTargetEdge:
    cursor: str
    reads: strawberry.Private[Reads]
    deployment_id: strawberry.Private[str]
    target_id: strawberry.Private[str]

    @strawberry.field
    async def node(self) -> DeploymentTarget | None:
        return await load_target(self.reads, self.deployment_id, self.target_id)


@strawberry.type(description="A page of a deployment's targets (ListDeploymentTargets).")
class DeploymentTargetConnection:
    edges: list[DeploymentTargetEdge]
    page_info: PageInfo
    listing: strawberry.Private[Listing]
    total_count: int | None = total_count("targets")
