"""Discovery in GraphQL: applications and their deployment groups, each a connection over
CodeDeploy's paged lists, their nodes batched through the request's DataLoaders
(BatchGetApplications, BatchGetDeploymentGroups)."""

from datetime import datetime

import strawberry

from service import models
from service.graphql.context import (
    AccountArgument,
    Info,
    Reads,
    RegionArgument,
    account_field,
    model_field,
    region_field,
)
from service.graphql.deployment import DeploymentGroup
from service.graphql.ids import Kind, NodeKey
from service.graphql.pagination import PageInfo, page_info, total_count
from service.graphql.types import Node
from service.reads.pages import DEFAULT_PAGE_SIZE, Listing


@strawberry.type(description="A deployment group in a page of an application's groups.")
class DeploymentGroupEdge:
    cursor: str
    node: DeploymentGroup


@strawberry.type(description="A page of an application's deployment groups.")
class DeploymentGroupConnection:
    edges: list[DeploymentGroupEdge]
    page_info: PageInfo
    listing: strawberry.Private[Listing]
    total_count: int | None = total_count("the application's deployment groups")


@strawberry.type(description="A CodeDeploy application and its deployment groups.")
class Application(Node):
    reads: strawberry.Private[Reads]
    application_name: str

    def node_key(self) -> NodeKey:
        return NodeKey(Kind.APPLICATION, self.reads.where, (self.application_name,))

    async def _info(self, info: Info) -> models.ApplicationInfo:
        return await self.reads.applications.load(self.application_name)

    account: str = account_field()
    region: str = region_field()

    application_id: str | None = model_field("application_id")
    compute_platform: str | None = model_field("compute_platform")
    create_time: datetime | None = model_field("create_time")

    @strawberry.field
    async def deployment_groups(
        self, info: Info, first: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> DeploymentGroupConnection | None:
        listing = self.reads.resolver.group_list(self.application_name)
        window = await listing.window(first, after)
        return DeploymentGroupConnection(
            edges=[
                DeploymentGroupEdge(
                    cursor=cursor,
                    node=DeploymentGroup(
                        reads=self.reads,
                        application_name=self.application_name,
                        deployment_group_name=name,
                    ),
                )
                for cursor, name in window.items
            ],
            page_info=page_info(window, after),
            listing=listing,
        )


@strawberry.type(description="An application in a page of applications.")
class ApplicationEdge:
    cursor: str
    node: Application


@strawberry.type(description="A page of applications, by name (ListApplications).")
class ApplicationConnection:
    edges: list[ApplicationEdge]
    page_info: PageInfo
    listing: strawberry.Private[Listing]
    total_count: int | None = total_count("applications")


async def resolve_applications(
    info: Info,
    first: int = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> ApplicationConnection | None:
    reads = info.context.at(account, region)
    listing = reads.resolver.application_list()
    window = await listing.window(first, after)
    return ApplicationConnection(
        edges=[
            ApplicationEdge(cursor=cursor, node=Application(reads=reads, application_name=name))
            for cursor, name in window.items
        ],
        page_info=page_info(window, after),
        listing=listing,
    )


async def resolve_application(
    info: Info,
    application_name: str,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> Application | None:
    reads = info.context.at(account, region)
    found = await reads.resolver.application(application_name)
    name = found.value.model.application_name or application_name
    return Application(reads=reads, application_name=name)


async def resolve_deployment_group(
    info: Info,
    application_name: str,
    deployment_group_name: str,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> DeploymentGroup | None:
    reads = info.context.at(account, region)
    await reads.groups.load((application_name, deployment_group_name))
    return DeploymentGroup(
        reads=reads, application_name=application_name, deployment_group_name=deployment_group_name
    )
