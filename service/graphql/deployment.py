"""``Deployment`` and ``DeploymentGroup``, each reaching the other: a deployment's fields
from GetDeployment, its fleet through paged connections; a group's configuration, its
last deployments, its history and its statistics.

The connections are nullable: a list CodeDeploy refuses (an instance list of a Lambda
deployment) is null with an error at its path, and the deployment's other fields stay.
"""

from datetime import datetime
from typing import Annotated

import strawberry

from service import models
from service.codedeploy import DeploymentFilter
from service.errors import InvalidRequest
from service.graphql.context import Info, Reads, account_field, model_field, region_field
from service.graphql.fleet import (
    DeploymentTargetConnection,
    DeploymentTargetEdge,
    InstanceSummaryConnection,
    InstanceSummaryEdge,
    load_instance,
)
from service.graphql.ids import Kind, NodeKey
from service.graphql.pagination import PageInfo, page_info, total_count
from service.graphql.types import (
    UPSTREAM_SPELLING,
    AutoRollbackConfiguration,
    DeploymentOverview,
    DeploymentState,
    DeploymentStyle,
    ErrorInformation,
    InstanceSummary,
    Node,
    RelatedDeployments,
    RevisionLocation,
    RollbackInfo,
    _member,
)
from service.reads import GroupStats, group_stats
from service.reads.pages import DEFAULT_PAGE_SIZE, Listing
from service.snapshot import Snapshot


def _style(style: models.DeploymentStyle | None) -> DeploymentStyle | None:
    return DeploymentStyle(**style.model_dump()) if style else None


@strawberry.type(
    description="A CodeDeploy deployment: one GetDeployment call (cached) finds it, so an "
    "unknown id is null with an error whatever is selected."
)
class Deployment(Node):
    deployment_id: strawberry.ID
    reads: strawberry.Private[Reads]
    snapshot: strawberry.Private[Snapshot[models.DeploymentInfo]]
    # Parsed once per operation, however many of its fields the query asks for.
    loaded: strawberry.Private[models.DeploymentInfo | None] = None

    def node_key(self) -> NodeKey:
        return NodeKey(Kind.DEPLOYMENT, self.reads.where, (self.deployment_id,))

    async def _info(self, info: Info) -> models.DeploymentInfo:
        if self.loaded is None:
            self.loaded = self.snapshot.model
        return self.loaded

    account: str = account_field()
    region: str = region_field()
    application_name: str | None = model_field("application_name")
    deployment_group_name: str | None = model_field("deployment_group_name")
    deployment_config_name: str | None = model_field("deployment_config_name")
    status: DeploymentState | None = model_field(
        "status", lambda status: _member(DeploymentState, status)
    )
    upstream_status: str | None = model_field("status", description=UPSTREAM_SPELLING)
    compute_platform: str | None = model_field("compute_platform")
    deployment_style: DeploymentStyle | None = model_field("deployment_style", _style)
    create_time: datetime | None = model_field("create_time")
    start_time: datetime | None = model_field("start_time")
    complete_time: datetime | None = model_field("complete_time")
    description: str | None = model_field("description")
    creator: str | None = model_field("creator")
    revision: RevisionLocation | None = model_field(
        "revision", lambda revision: revision and RevisionLocation.from_pydantic(revision)
    )
    previous_revision: RevisionLocation | None = model_field(
        "previous_revision", lambda revision: revision and RevisionLocation.from_pydantic(revision)
    )
    rollback_info: RollbackInfo | None = model_field(
        "rollback_info", lambda info: info and RollbackInfo.from_pydantic(info)
    )
    auto_rollback_configuration: AutoRollbackConfiguration | None = model_field(
        "auto_rollback_configuration",
        lambda config: config and AutoRollbackConfiguration.from_pydantic(config),
    )
    related_deployments: RelatedDeployments | None = model_field(
        "related_deployments",
        lambda related: related and RelatedDeployments.from_pydantic(related),
    )
    instance_termination_wait_time_started: bool | None = model_field(
        "instance_termination_wait_time_started"
    )
    deployment_status_messages: list[str] | None = model_field("deployment_status_messages")
    ignore_application_stop_failures: bool | None = model_field("ignore_application_stop_failures")
    update_outdated_instances_only: bool | None = model_field("update_outdated_instances_only")
    file_exists_behavior: str | None = model_field("file_exists_behavior")
    external_id: str | None = model_field("external_id")

    @strawberry.field
    async def deployment_overview(self, info: Info) -> DeploymentOverview | None:
        overview = (await self._info(info)).deployment_overview
        return DeploymentOverview.from_model(overview) if overview else None

    @strawberry.field
    async def error_information(self, info: Info) -> ErrorInformation | None:
        error = (await self._info(info)).error_information
        return ErrorInformation(**error.model_dump()) if error else None

    @strawberry.field
    async def deployment_group(self, info: Info) -> "DeploymentGroup | None":
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
        instance_type: list[models.InstanceType] | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> InstanceSummaryConnection | None:
        listing = self.reads.resolver.fleet_list(
            "instance",
            self.deployment_id,
            statuses=[value.value for value in status or ()],
            instance_types=[value.value for value in instance_type or ()],
        )
        window = await listing.window(first, after)
        return InstanceSummaryConnection(
            edges=[
                InstanceSummaryEdge(
                    cursor=cursor,
                    reads=self.reads,
                    deployment_id=self.deployment_id,
                    instance_id=instance_id,
                )
                for cursor, instance_id in window.items
            ],
            page_info=page_info(window, after),
            listing=listing,
        )

    @strawberry.field
    async def targets(
        self,
        info: Info,
        status: list[models.InstanceStatus] | None = None,
        instance_type: list[models.InstanceType] | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> DeploymentTargetConnection | None:
        listing = self.reads.resolver.fleet_list(
            "target",
            self.deployment_id,
            statuses=[value.value for value in status or ()],
            instance_types=[value.value for value in instance_type or ()],
        )
        window = await listing.window(first, after)
        return DeploymentTargetConnection(
            edges=[
                DeploymentTargetEdge(
                    cursor=cursor,
                    reads=self.reads,
                    deployment_id=self.deployment_id,
                    target_id=target_id,
                )
                for cursor, target_id in window.items
            ],
            page_info=page_info(window, after),
            listing=listing,
        )


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
    listing: strawberry.Private[Listing]
    total_count: int | None = total_count("deployments matching the filters")


async def deployment_connection(
    reads: Reads, listed: DeploymentFilter, first: int, after: str | None
) -> DeploymentConnection:
    listing = reads.resolver.deployment_list(listed)
    window = await listing.window(first, after)
    return DeploymentConnection(
        edges=[
            DeploymentEdge(cursor=cursor, reads=reads, deployment_id=item)
            for cursor, item in window.items
        ],
        page_info=page_info(window, after),
        listing=listing,
    )


@strawberry.experimental.pydantic.type(
    model=GroupStats,
    all_fields=True,
    description="A deployment group's deployments created in a window, counted.",
)
class DeploymentGroupStats:
    pass


@strawberry.type(
    description="A deployment group: its configuration (GetDeploymentGroup), its last "
    "deployments and its history."
)
class DeploymentGroup(Node):
    reads: strawberry.Private[Reads]
    application_name: str
    deployment_group_name: str

    def node_key(self) -> NodeKey:
        parts = (self.application_name, self.deployment_group_name)
        return NodeKey(Kind.DEPLOYMENT_GROUP, self.reads.where, parts)

    async def _info(self, info: Info) -> models.DeploymentGroupInfo:
        return await self.reads.groups.load((self.application_name, self.deployment_group_name))

    account: str = account_field()
    region: str = region_field()

    deployment_group_id: str | None = model_field("deployment_group_id")
    deployment_config_name: str | None = model_field("deployment_config_name")
    service_role_arn: str | None = model_field("service_role_arn")
    compute_platform: str | None = model_field("compute_platform")
    deployment_style: DeploymentStyle | None = model_field("deployment_style", _style)

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
        status: list[models.DeploymentStatus] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> DeploymentConnection | None:
        listed = DeploymentFilter(
            application=self.application_name,
            group=self.deployment_group_name,
            statuses=tuple(value.value for value in status or ()),
            created_after=created_after,
            created_before=created_before,
        )
        return await deployment_connection(self.reads, listed, first, after)

    @strawberry.field
    async def stats(
        self,
        info: Info,
        created_after: Annotated[
            datetime | None,
            strawberry.argument(description="Count the deployments created from here; required."),
        ] = None,
        since: Annotated[
            datetime | None,
            strawberry.argument(deprecation_reason="Use createdAfter, as the lists call it."),
        ] = None,
    ) -> DeploymentGroupStats:
        moment = created_after or since
        if moment is None:
            raise InvalidRequest("createdAfter is required: count from when?")
        return DeploymentGroupStats.from_pydantic(
            await group_stats(
                self.reads.resolver, self.application_name, self.deployment_group_name, moment
            )
        )
