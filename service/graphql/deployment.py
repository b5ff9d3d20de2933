"""``Deployment``: its own fields from GetDeployment, its fleet through paged connections.

The connections are nullable: a list CodeDeploy refuses (an instance list of a Lambda
deployment) is null with an error at its path, and the deployment's other fields stay.
"""

from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from service import models
from service.cache import Cached
from service.graphql.context import Info, Reads
from service.graphql.pagination import PageInfo, check_first, decode_cursor, encode_cursor
from service.graphql.types import (
    DeploymentOverview,
    DeploymentStatus,
    DeploymentStyle,
    DeploymentTarget,
    ErrorInformation,
    InstanceSummary,
    _member,
    target_from_model,
)
from service.models import IdPage
from service.resolver import ListPage, Window, window

if TYPE_CHECKING:
    from service.graphql.discovery import DeploymentGroup

# Counting a fleet walks its id pages; past this many pages the count is left unknown.
MAX_COUNTED_PAGES = 10


def account_of(parent: strawberry.Parent[Any]) -> str:
    """The alias of the account an object was read in (its ``reads``)."""
    account: str = parent.reads.target.account
    return account


def region_of(parent: strawberry.Parent[Any]) -> str:
    region: str = parent.reads.target.region
    return region


async def load_instance(reads: Reads, deployment_id: str, instance_id: str) -> InstanceSummary:
    summary = await reads.instances.load((deployment_id, instance_id))
    return InstanceSummary.from_model(summary)


async def page_of(list_page: ListPage, first: int, after: str | None) -> Window:
    """The window a connection's ``first`` and ``after`` ask for, checked."""
    check_first(first)
    token, start = decode_cursor(after)
    return await window(list_page, token=token, start=start, count=first)


def page_info(window: Window, after: str | None) -> PageInfo:
    cursors = [encode_cursor(token, index) for token, index, _ in window.items]
    return PageInfo(
        has_next_page=window.has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


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


@strawberry.type(
    description="A CodeDeploy deployment: one GetDeployment call (cached) finds it, so an "
    "unknown id is null with an error whatever is selected."
)
class Deployment:
    deployment_id: strawberry.ID
    reads: strawberry.Private[Reads]
    snapshot: strawberry.Private[models.Snapshot[models.DeploymentInfo]]
    # Parsed once per operation, however many of its fields the query asks for.
    loaded: strawberry.Private[models.DeploymentInfo | None] = None

    async def _info(self, info: Info) -> models.DeploymentInfo:
        if self.loaded is None:
            self.loaded = self.snapshot.model
        return self.loaded

    account: str = strawberry.field(
        resolver=account_of, description="The alias of the account it was read in."
    )
    region: str = strawberry.field(resolver=region_of, description="The region it was read in.")

    @strawberry.field
    async def application_name(self, info: Info) -> str | None:
        return (await self._info(info)).application_name

    @strawberry.field
    async def deployment_group_name(self, info: Info) -> str | None:
        return (await self._info(info)).deployment_group_name

    @strawberry.field
    async def deployment_config_name(self, info: Info) -> str | None:
        return (await self._info(info)).deployment_config_name

    @strawberry.field
    async def status(self, info: Info) -> DeploymentStatus | None:
        return _member(DeploymentStatus, (await self._info(info)).status, DeploymentStatus.UNKNOWN)

    @strawberry.field
    async def compute_platform(self, info: Info) -> str | None:
        return (await self._info(info)).compute_platform

    @strawberry.field
    async def deployment_style(self, info: Info) -> DeploymentStyle | None:
        style = (await self._info(info)).deployment_style
        return DeploymentStyle(**style.model_dump()) if style else None

    @strawberry.field
    async def create_time(self, info: Info) -> datetime | None:
        return (await self._info(info)).create_time

    @strawberry.field
    async def start_time(self, info: Info) -> datetime | None:
        return (await self._info(info)).start_time

    @strawberry.field
    async def complete_time(self, info: Info) -> datetime | None:
        return (await self._info(info)).complete_time

    @strawberry.field
    async def deployment_overview(self, info: Info) -> DeploymentOverview | None:
        overview = (await self._info(info)).deployment_overview
        return DeploymentOverview.from_model(overview) if overview else None

    @strawberry.field
    async def error_information(self, info: Info) -> ErrorInformation | None:
        error = (await self._info(info)).error_information
        return ErrorInformation(**error.model_dump()) if error else None

    @strawberry.field
    async def deployment_group(
        self, info: Info
    ) -> Annotated["DeploymentGroup", strawberry.lazy("service.graphql.discovery")] | None:
        from service.graphql.discovery import DeploymentGroup

        deployment = await self._info(info)
        if not deployment.application_name or not deployment.deployment_group_name:
            return None
        return DeploymentGroup(
            reads=self.reads,
            application_name=deployment.application_name,
            deployment_group_name=deployment.deployment_group_name,
        )

    @strawberry.field
    async def instance(self, instance_id: strawberry.ID) -> InstanceSummary | None:
        return await load_instance(self.reads, self.deployment_id, instance_id)

    @strawberry.field
    async def instances(
        self,
        info: Info,
        status: list[models.InstanceStatus] | None = None,
        instance_type: models.InstanceType | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> InstanceSummaryConnection | None:
        statuses = [value.value for value in status or ()]
        types = [instance_type.value] if instance_type else []
        resolver = self.reads.resolver

        def list_page(next_token: str | None) -> Awaitable[Cached[IdPage]]:
            return resolver.instance_ids(
                self.deployment_id, statuses=statuses, instance_types=types, next_token=next_token
            )

        ids = await page_of(list_page, first, after)
        return InstanceSummaryConnection(
            edges=[
                InstanceSummaryEdge(
                    cursor=encode_cursor(page_token, index),
                    reads=self.reads,
                    deployment_id=self.deployment_id,
                    instance_id=instance_id,
                )
                for page_token, index, instance_id in ids.items
            ],
            page_info=page_info(ids, after),
            list_page=list_page,
        )

    @strawberry.field
    async def targets(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> DeploymentTargetConnection | None:
        resolver = self.reads.resolver

        def list_page(next_token: str | None) -> Awaitable[Cached[IdPage]]:
            return resolver.target_ids(self.deployment_id, next_token=next_token)

        ids = await page_of(list_page, first, after)
        return DeploymentTargetConnection(
            edges=[
                DeploymentTargetEdge(
                    cursor=encode_cursor(page_token, index),
                    reads=self.reads,
                    deployment_id=self.deployment_id,
                    target_id=target_id,
                )
                for page_token, index, target_id in ids.items
            ],
            page_info=page_info(ids, after),
            list_page=list_page,
        )
