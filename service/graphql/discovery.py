"""Discovery in GraphQL: applications, their deployment groups, and a group's deployments,
each a connection over CodeDeploy's paged lists, their nodes batched through the request's
DataLoaders (BatchGetApplications, BatchGetDeploymentGroups, BatchGetDeployments)."""

import dataclasses
from collections.abc import Awaitable
from datetime import datetime

import strawberry

from service import models
from service.cache import Cached
from service.graphql.context import AccountArgument, Info, Reads, RegionArgument
from service.graphql.deployment import Deployment, account_of, page_info, page_of, region_of
from service.graphql.pagination import PageInfo, encode_cursor
from service.graphql.types import DeploymentStatus, DeploymentStyle
from service.models import IdPage
from service.resolver import MAX_STATS_DEPLOYMENTS, ListPage


async def load_deployment(reads: Reads, deployment_id: str) -> Deployment:
    snapshot = await reads.deployments.load(deployment_id)
    return Deployment(deployment_id=strawberry.ID(deployment_id), reads=reads, snapshot=snapshot)


async def _last(reads: Reads, last: models.LastDeploymentInfo | None) -> Deployment | None:
    if last is None or not last.deployment_id:
        return None
    return await load_deployment(reads, last.deployment_id)


@strawberry.type(description="A deployment in a page of a group's deployments.")
class DeploymentEdge:
    cursor: str
    reads: strawberry.Private[Reads]
    deployment_id: strawberry.Private[str]

    @strawberry.field
    async def node(self) -> Deployment | None:
        return await load_deployment(self.reads, self.deployment_id)


@strawberry.type(description="A page of deployments, newest first (ListDeployments).")
class DeploymentConnection:
    edges: list[DeploymentEdge]
    page_info: PageInfo


@strawberry.type(description="A deployment group's deployments created in a window, counted.")
class DeploymentGroupStats:
    total: int
    succeeded: int
    failed: int
    stopped: int
    in_progress: int = strawberry.field(description="Not finished yet.")
    median_duration_seconds: float | None = strawberry.field(
        description="Of the finished deployments that started: start to completion."
    )
    change_failure_rate: float | None = strawberry.field(
        description="Failed among the finished (succeeded, failed, stopped); null before any."
    )
    complete: bool = strawberry.field(
        description=f"False when more than {MAX_STATS_DEPLOYMENTS} deployments were created "
        "in the window: the newest were counted."
    )


@strawberry.type(
    description="A deployment group: its configuration (GetDeploymentGroup), its last "
    "deployments and its history."
)
class DeploymentGroup:
    reads: strawberry.Private[Reads]
    application_name: str
    deployment_group_name: str

    async def _info(self, info: Info) -> models.DeploymentGroupInfo:
        return await self.reads.groups.load((self.application_name, self.deployment_group_name))

    account: str = strawberry.field(
        resolver=account_of, description="The alias of the account it was read in."
    )
    region: str = strawberry.field(resolver=region_of, description="The region it was read in.")

    @strawberry.field
    async def deployment_group_id(self, info: Info) -> str | None:
        return (await self._info(info)).deployment_group_id

    @strawberry.field
    async def deployment_config_name(self, info: Info) -> str | None:
        return (await self._info(info)).deployment_config_name

    @strawberry.field
    async def service_role_arn(self, info: Info) -> str | None:
        return (await self._info(info)).service_role_arn

    @strawberry.field
    async def compute_platform(self, info: Info) -> str | None:
        return (await self._info(info)).compute_platform

    @strawberry.field
    async def deployment_style(self, info: Info) -> DeploymentStyle | None:
        style = (await self._info(info)).deployment_style
        return DeploymentStyle(**style.model_dump()) if style else None

    @strawberry.field
    async def last_successful_deployment(self, info: Info) -> Deployment | None:
        return await _last(self.reads, (await self._info(info)).last_successful_deployment)

    @strawberry.field
    async def last_attempted_deployment(self, info: Info) -> Deployment | None:
        return await _last(self.reads, (await self._info(info)).last_attempted_deployment)

    @strawberry.field
    async def deployments(
        self,
        info: Info,
        status: list[DeploymentStatus] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> DeploymentConnection | None:
        resolver = self.reads.resolver
        statuses = [value.value for value in status or ()]

        def list_page(next_token: str | None) -> Awaitable[Cached[IdPage]]:
            return resolver.deployment_ids(
                application=self.application_name,
                group=self.deployment_group_name,
                statuses=statuses,
                created_after=created_after,
                created_before=created_before,
                next_token=next_token,
            )

        ids = await page_of(list_page, first, after)
        return DeploymentConnection(
            edges=[
                DeploymentEdge(
                    cursor=encode_cursor(page_token, index), reads=self.reads, deployment_id=item
                )
                for page_token, index, item in ids.items
            ],
            page_info=page_info(ids, after),
        )

    @strawberry.field
    async def stats(self, info: Info, since: datetime) -> DeploymentGroupStats:
        stats = await self.reads.resolver.group_stats(
            self.application_name, self.deployment_group_name, since
        )
        return DeploymentGroupStats(**dataclasses.asdict(stats))


@strawberry.type(description="A deployment group in a page of an application's groups.")
class DeploymentGroupEdge:
    cursor: str
    node: DeploymentGroup


@strawberry.type(description="A page of an application's deployment groups.")
class DeploymentGroupConnection:
    edges: list[DeploymentGroupEdge]
    page_info: PageInfo


@strawberry.type(description="A CodeDeploy application and its deployment groups.")
class Application:
    reads: strawberry.Private[Reads]
    application_name: str

    async def _info(self, info: Info) -> models.ApplicationInfo:
        return await self.reads.applications.load(self.application_name)

    account: str = strawberry.field(
        resolver=account_of, description="The alias of the account it was read in."
    )
    region: str = strawberry.field(resolver=region_of, description="The region it was read in.")

    @strawberry.field
    async def application_id(self, info: Info) -> str | None:
        return (await self._info(info)).application_id

    @strawberry.field
    async def compute_platform(self, info: Info) -> str | None:
        return (await self._info(info)).compute_platform

    @strawberry.field
    async def create_time(self, info: Info) -> datetime | None:
        return (await self._info(info)).create_time

    @strawberry.field
    async def deployment_groups(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> DeploymentGroupConnection | None:
        resolver = self.reads.resolver

        def list_page(next_token: str | None) -> Awaitable[Cached[IdPage]]:
            return resolver.group_names(self.application_name, next_token=next_token)

        names = await page_of(list_page, first, after)
        return DeploymentGroupConnection(
            edges=[
                DeploymentGroupEdge(
                    cursor=encode_cursor(page_token, index),
                    node=DeploymentGroup(
                        reads=self.reads,
                        application_name=self.application_name,
                        deployment_group_name=name,
                    ),
                )
                for page_token, index, name in names.items
            ],
            page_info=page_info(names, after),
        )


@strawberry.type(description="An application in a page of applications.")
class ApplicationEdge:
    cursor: str
    node: Application


@strawberry.type(description="A page of applications, by name (ListApplications).")
class ApplicationConnection:
    edges: list[ApplicationEdge]
    page_info: PageInfo


async def resolve_applications(
    info: Info,
    first: int = 50,
    after: str | None = None,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> ApplicationConnection | None:
    reads = info.context.at(account, region)
    list_page: ListPage = lambda next_token: reads.resolver.application_names(  # noqa: E731
        next_token=next_token
    )
    names = await page_of(list_page, first, after)
    return ApplicationConnection(
        edges=[
            ApplicationEdge(
                cursor=encode_cursor(page_token, index),
                node=Application(reads=reads, application_name=name),
            )
            for page_token, index, name in names.items
        ],
        page_info=page_info(names, after),
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
