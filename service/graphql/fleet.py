"""A deployment's fleet in GraphQL: its instances and its targets, each a connection over
CodeDeploy's paged id list, their nodes batched through the request's DataLoaders."""

from typing import Any

import strawberry

from service.graphql.context import Reads
from service.graphql.pagination import ListPage, PageInfo
from service.graphql.types import DeploymentTarget, InstanceSummary, target_from_model

# Counting a fleet walks its id pages; past this many pages the count is left unknown.
MAX_COUNTED_PAGES = 10


async def load_instance(reads: Reads, deployment_id: str, instance_id: str) -> InstanceSummary:
    summary = await reads.instances.load((deployment_id, instance_id))
    return InstanceSummary.from_model(summary)


@strawberry.type(description="An instance in a page of a deployment's instances.")
class InstanceSummaryEdge:
    cursor: str
    reads: strawberry.Private[Reads]
    deployment_id: strawberry.Private[str]
    instance_id: strawberry.Private[str]

    @strawberry.field
    async def node(self) -> InstanceSummary | None:
        return await load_instance(self.reads, self.deployment_id, self.instance_id)


async def count_list(parent: strawberry.Parent[Any]) -> int | None:
    """Every id of a connection's list, counted from its id pages (cached); None past
    the bound."""
    total, token = 0, None
    for _ in range(MAX_COUNTED_PAGES):
        ids = (await parent.list_page(token)).value
        total += len(ids.ids)
        token = ids.next_token
        if token is None:
            return total
    return None


@strawberry.type(description="A page of a deployment's instances (ListDeploymentInstances).")
class InstanceSummaryConnection:
    edges: list[InstanceSummaryEdge]
    page_info: PageInfo
    list_page: strawberry.Private[ListPage]
    total_count: int | None = strawberry.field(
        resolver=count_list,
        description=f"All instances matching the filters, counted from up to "
        f"{MAX_COUNTED_PAGES} id pages (cached); null for a larger fleet.",
    )


@strawberry.type(description="A target in a page of a deployment's targets.")
class DeploymentTargetEdge:
    cursor: str
    reads: strawberry.Private[Reads]
    deployment_id: strawberry.Private[str]
    target_id: strawberry.Private[str]

    @strawberry.field
    async def node(self) -> DeploymentTarget | None:
        return target_from_model(
            await self.reads.targets.load((self.deployment_id, self.target_id))
        )


@strawberry.type(description="A page of a deployment's targets (ListDeploymentTargets).")
class DeploymentTargetConnection:
    edges: list[DeploymentTargetEdge]
    page_info: PageInfo
    list_page: strawberry.Private[ListPage]
    total_count: int | None = strawberry.field(
        resolver=count_list,
        description=f"All targets, counted from up to {MAX_COUNTED_PAGES} id pages (cached); "
        "null for a larger fleet.",
    )
