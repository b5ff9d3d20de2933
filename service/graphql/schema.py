"""The GraphQL schema: thin resolvers over the shared resolver layer."""

from dataclasses import replace
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.types.base_scalars import DateTimeDefinition

from service import models
from service.codedeploy import BATCH_LIMIT, DeploymentFilter
from service.errors import ErrorCode, InvalidRequest
from service.graphql.context import AccountArgument, Info, RegionArgument, each_alone
from service.graphql.deployment import (
    Deployment,
    DeploymentConnection,
    DeploymentGroup,
    deployment_connection,
)
from service.graphql.discovery import (
    Application,
    ApplicationConnection,
    resolve_application,
    resolve_applications,
    resolve_deployment_group,
)
from service.graphql.fleet import load_instance
from service.graphql.live import Subscription
from service.graphql.nodes import resolve_node, resolve_nodes
from service.graphql.types import InstanceSummary, Node
from service.moments import parse_moment, wire_time
from service.reads import MAX_BATCH_IDS
from service.reads.pages import DEFAULT_PAGE_SIZE


async def resolve_deployment_instance(
    info: Info,
    deployment_id: strawberry.ID,
    instance_id: strawberry.ID,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> InstanceSummary | None:
    return await load_instance(info.context.at(account, region), deployment_id, instance_id)


async def resolve_deployment_instances(
    info: Info,
    deployment_id: strawberry.ID,
    instance_ids: list[strawberry.ID],
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> list[InstanceSummary | None]:
    if len(instance_ids) > MAX_BATCH_IDS:
        raise InvalidRequest(
            f"At most {MAX_BATCH_IDS} instanceIds per field.", code=ErrorCode.BAD_USER_INPUT
        )
    reads = info.context.at(account, region)
    return await each_alone(
        load_instance(reads, deployment_id, instance_id) for instance_id in instance_ids
    )


async def resolve_deployment(
    info: Info,
    deployment_id: strawberry.ID,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> Deployment | None:
    reads = info.context.at(account, region)
    found = await reads.resolver.deployment(deployment_id)
    return Deployment(deployment_id=deployment_id, reads=reads, snapshot=found.value)


async def resolve_deployments(
    info: Info,
    application_name: Annotated[
        str | None, strawberry.argument(description="With deploymentGroupName.")
    ] = None,
    deployment_group_name: Annotated[
        str | None, strawberry.argument(description="With applicationName.")
    ] = None,
    status: list[models.DeploymentStatus] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    first: int = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> DeploymentConnection | None:
    listed = DeploymentFilter(
        application=application_name,
        group=deployment_group_name,
        statuses=tuple(value.value for value in status or ()),
        created_after=created_after,
        created_before=created_before,
    )
    return await deployment_connection(info.context.at(account, region), listed, first, after)


@strawberry.type(description="An account the gateway reads, as GATEWAY_ACCOUNTS_FILE names it.")
class AccountInfo:
    account: str = strawberry.field(description="Its alias: what the account arguments take.")
    regions: list[str] = strawberry.field(description="Its regions, its default first.")
    default: bool = strawberry.field(description="Whether fields without account read it.")


def resolve_accounts(info: Info) -> list[AccountInfo]:
    return [
        AccountInfo(account=alias, regions=regions, default=default)
        for alias, regions, default in info.context.resolvers.accounts.readable(info.context.grants)
    ]


@strawberry.type
class Query:
    node: Node | None = strawberry.field(
        resolver=resolve_node,
        description=(
            "Any object read again by its id, as it is now. Null, with an error at this "
            "path: BAD_USER_INPUT for an id this gateway never made, FORBIDDEN for one of an "
            "account the caller may not read, a not found for an object CodeDeploy no "
            "longer has."
        ),
    )
    nodes: list[Node | None] | None = strawberry.field(
        resolver=resolve_nodes,
        description=(
            f"Up to {MAX_BATCH_IDS} objects by their ids, in the order asked, each read as "
            "node(id:) reads it: null, with an error at its path, for each that cannot be. "
            "Reads of one kind are batched as any field's are. The whole list is null, "
            f"with BAD_USER_INPUT at its path, for more than {MAX_BATCH_IDS} ids."
        ),
    )
    accounts: list[AccountInfo] = strawberry.field(
        resolver=resolve_accounts,
        description="The accounts this caller may read, from the gateway's configuration (no "
        "call to AWS; never a role ARN or account id).",
    )
    applications: ApplicationConnection | None = strawberry.field(
        resolver=resolve_applications,
        description="CodeDeploy's applications, by name (ListApplications), 50 a page.",
    )
    application: Application | None = strawberry.field(
        resolver=resolve_application,
        description="An application; null, with APPLICATION_NOT_FOUND, if unknown.",
    )
    deployment_group: DeploymentGroup | None = strawberry.field(
        resolver=resolve_deployment_group,
        description=(
            "A deployment group; null, with APPLICATION_NOT_FOUND or "
            "DEPLOYMENT_GROUP_NOT_FOUND, if unknown."
        ),
    )
    deployment_instance: InstanceSummary | None = strawberry.field(
        resolver=resolve_deployment_instance,
        description=(
            "One instance of an EC2/on-premises deployment. Null, with an error at this "
            "path, when CodeDeploy has no such instance or fails. All instance reads of one "
            f"operation are batched: misses go upstream {BATCH_LIMIT} ids a call."
        ),
    )
    deployment_instances: list[InstanceSummary | None] | None = strawberry.field(
        resolver=resolve_deployment_instances,
        description=(
            f"Up to {MAX_BATCH_IDS} instances of one deployment, in the order asked; "
            "null, with an error at its path, for each id CodeDeploy does not know. The "
            "whole list is null, with an error at its path, for an account or region "
            "refused or unknown, or too many ids: the query's other fields stand."
        ),
    )
    deployment: Deployment | None = strawberry.field(
        resolver=resolve_deployment,
        description=(
            "A deployment, its instances and its targets, any compute platform. Null, with "
            "DEPLOYMENT_NOT_FOUND, for an id CodeDeploy does not know."
        ),
    )
    deployments: DeploymentConnection | None = strawberry.field(
        resolver=resolve_deployments,
        description=(
            "Deployments, newest first (ListDeployments): every one, or one group's "
            "(applicationName and deploymentGroupName together), filtered as REST's "
            "GET /v1/deployments is."
        ),
    )


# Timestamps read the same on both faces: REST's JSON form, UTC with Z.
DATETIME = replace(
    DateTimeDefinition,
    description=(
        "An ISO 8601 timestamp in UTC, as REST sends it: 2024-05-01T12:00:00Z. Taken as "
        "REST takes it: an RFC 3339 date-time with its offset (Z or ±hh:mm)."
    ),
    serialize=wire_time,
    parse_value=parse_moment,
    # Code generators and clients learn the format from the schema itself.
    specified_by_url="https://www.rfc-editor.org/rfc/rfc3339",
)

CONFIG = StrawberryConfig(scalar_map={datetime: DATETIME})
schema = strawberry.Schema(query=Query, subscription=Subscription, config=CONFIG)
"""The one schema; ``make schema`` exports it to schema.graphql."""
