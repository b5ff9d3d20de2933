"""Discovery over REST: applications, their deployment groups, and deployment lists,
with AWS's field names as every other route has them."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from service.cache import Cached
from service.codedeploy import BATCH_LIMIT, DeploymentFilter
from service.codedeploy.inputs import NAME_PATTERN
from service.edge.paths import API
from service.errors import ErrorCode, GatewayError, InvalidRequest
from service.guard.ratelimit import Budget
from service.models import (
    BatchGetDeploymentGroupsOutput,
    BatchGetDeploymentsOutput,
    DeploymentStatus,
    GetApplicationOutput,
    GetDeploymentGroupOutput,
    ListApplicationsOutput,
    ListDeploymentGroupsOutput,
    ListDeploymentsOutput,
)
from service.moments import RFC_3339 as MOMENT_PATTERN
from service.moments import parse_moment
from service.reads import GroupStats, Resolver, costs, group_stats
from service.reads.costs import MAX_STATS_DEPLOYMENTS
from service.reads.pages import DEFAULT_PAGE_SIZE
from service.rest.dependencies import BudgetDep, ResolverDep
from service.rest.deprecations import STATS_SINCE
from service.rest.pages import NextToken, PageSize, items_page, read_page
from service.rest.problems import problem_responses
from service.rest.render import json_object, render_json
from service.rest.routes import IfNoneMatch, Include, cached_read, one_of
from service.snapshot import Snapshot

router = APIRouter(prefix=API, tags=["discovery"])
M = TypeVar("M", bound=BaseModel)

# What a discovery read can fail with: a bad name or token, nothing there, throttled,
# CodeDeploy failing or too slow.
READ = (400, 404, 429, 502, 504)
NO_APPLICATION = {404: (ErrorCode.APPLICATION_NOT_FOUND, "The application does not exist.")}
NO_GROUP = {
    404: (
        ErrorCode.DEPLOYMENT_GROUP_NOT_FOUND,
        "The application or deployment group does not exist.",
    )
}

ApplicationName = Annotated[
    str,
    Path(
        alias="applicationName",
        description="The application's name, as CodeDeploy shows it.",
        json_schema_extra={"pattern": f"^{NAME_PATTERN}$"},
        openapi_examples={"orders": {"summary": "Demo application", "value": "orders-api"}},
    ),
]
GroupName = Annotated[
    str,
    Path(
        alias="deploymentGroupName",
        description="The deployment group's name.",
        json_schema_extra={"pattern": f"^{NAME_PATTERN}$"},
        openapi_examples={"prod": {"summary": "Demo group", "value": "orders-api-prod"}},
    ),
]


RFC_3339 = {"format": "date-time", "pattern": MOMENT_PATTERN}


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} must be an RFC 3339 date-time with its offset, e.g. 2026-11-01T00:00:00Z.",
            code=ErrorCode.BAD_USER_INPUT,
        ) from exc


def _ids(ids: list[str]) -> list[bytes]:
    return [json.dumps(item).encode() for item in ids]


def _read(outcomes: Sequence[Cached[Snapshot[M]] | GatewayError]) -> list[Cached[Snapshot[M]]]:
    """The items read; an item gone between the list and the batch read is left out, any
    other error fails the request."""
    found: list[Cached[Snapshot[M]]] = []
    for outcome in outcomes:
        if isinstance(outcome, Cached):
            found.append(outcome)
        elif outcome.status != 404:
            raise outcome
    return found


@router.get(
    "/applications",
    operation_id="ListApplications",
    summary="List applications",
    description="A page of CodeDeploy's ListApplications; pass `nextToken` back for the next.",
    response_model=ListApplicationsOutput,
    responses=cached_read("A page of application names.", 400, 429, 502, 504),
)
async def list_applications(
    resolver: ResolverDep,
    budget: BudgetDep,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    page = await read_page(resolver.application_list(), page_size, next_token, budget)
    body = json_object(applications=_ids(page.ids), nextToken=page.next_token)
    return render_json(body, page.cache, if_none_match).response()


@router.get(
    "/applications/{applicationName}",
    operation_id="GetApplication",
    summary="Get an application",
    description=(
        "CodeDeploy's GetApplication `application`: its id, compute platform and creation "
        "time. List its deployment groups with `GET …/deployment-groups`."
    ),
    response_model=GetApplicationOutput,
    responses=cached_read("The application.", *READ, examples=NO_APPLICATION),
)
async def get_application(
    application: ApplicationName, resolver: ResolverDep, if_none_match: IfNoneMatch = None
) -> Response:
    found = await resolver.application(application)
    body = json_object(application=found.value.body)
    return render_json(body, found.cache, if_none_match, found.value.etag).response()


async def _groups_page(
    application: str,
    resolver: Resolver,
    budget: Budget,
    page_size: int,
    next_token: str | None,
    *,
    items: bool,
    if_none_match: str | None,
) -> Response:
    """A page of an application's group names, or of the groups they name."""
    page = await read_page(resolver.group_list(application), page_size, next_token, budget)
    if not items:
        body = json_object(
            applicationName=application, deploymentGroups=_ids(page.ids), nextToken=page.next_token
        )
        return render_json(body, page.cache, if_none_match).response()
    await budget.spend(costs.PAGE_OF_GROUPS)
    found = _read(await resolver.deployment_groups(application, page.ids))
    return items_page(page, "deploymentGroupsInfo", found, if_none_match)


@router.get(
    "/applications/{applicationName}/deployment-groups",
    operation_id="ListDeploymentGroups",
    summary="List an application's deployment groups",
    description=(
        "A page of CodeDeploy's ListDeploymentGroups. `ListDeploymentGroupSummaries` answers "
        "the same page with each group read."
    ),
    response_model=ListDeploymentGroupsOutput | BatchGetDeploymentGroupsOutput,
    responses=cached_read(
        "A page of group names (of groups with the deprecated `include=summary`).",
        *READ,
        examples=NO_APPLICATION,
    ),
)
async def list_deployment_groups(
    application: ApplicationName,
    resolver: ResolverDep,
    budget: BudgetDep,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
    include: Include = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    items = include is not None
    return await _groups_page(
        application,
        resolver,
        budget,
        page_size,
        next_token,
        items=items,
        if_none_match=if_none_match,
    )


@router.get(
    "/applications/{applicationName}/deployment-group-summaries",
    operation_id="ListDeploymentGroupSummaries",
    summary="List an application's deployment groups, each read",
    description=(
        "The page `ListDeploymentGroups` answers, each group batch-read "
        "(BatchGetDeploymentGroups) into `deploymentGroupsInfo`."
    ),
    response_model=BatchGetDeploymentGroupsOutput,
    responses=cached_read("A page of groups.", *READ, examples=NO_APPLICATION),
)
async def list_deployment_group_summaries(
    application: ApplicationName,
    resolver: ResolverDep,
    budget: BudgetDep,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await _groups_page(
        application,
        resolver,
        budget,
        page_size,
        next_token,
        items=True,
        if_none_match=if_none_match,
    )


@router.get(
    "/applications/{applicationName}/deployment-groups/{deploymentGroupName}",
    operation_id="GetDeploymentGroup",
    summary="Get a deployment group",
    description=(
        "CodeDeploy's GetDeploymentGroup `deploymentGroupInfo`: the group's configuration, "
        "and its `lastSuccessfulDeployment` and `lastAttemptedDeployment`."
    ),
    response_model=GetDeploymentGroupOutput,
    responses=cached_read("The deployment group.", *READ, examples=NO_GROUP),
)
async def get_deployment_group(
    application: ApplicationName,
    group: GroupName,
    resolver: ResolverDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    found = await resolver.deployment_group(application, group)
    body = json_object(deploymentGroupInfo=found.value.body)
    return render_json(body, found.cache, if_none_match, found.value.etag).response()


def deployment_filter(
    application: Annotated[
        str | None,
        Query(
            alias="applicationName",
            description="With deploymentGroupName.",
            json_schema_extra={"pattern": f"^{NAME_PATTERN}$"},
        ),
    ] = None,
    group: Annotated[
        str | None,
        Query(
            alias="deploymentGroupName",
            description="With applicationName.",
            json_schema_extra={"pattern": f"^{NAME_PATTERN}$"},
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        Query(
            description="Deployment statuses to keep (repeatable).",
            json_schema_extra=one_of(
                DeploymentStatus, "A deployment's status, as CodeDeploy spells it."
            ),
        ),
    ] = None,
    created_after: Annotated[
        str | None,
        Query(alias="createdAfter", description="Inclusive.", json_schema_extra=RFC_3339),
    ] = None,
    created_before: Annotated[
        str | None,
        Query(alias="createdBefore", description="Inclusive.", json_schema_extra=RFC_3339),
    ] = None,
) -> DeploymentFilter:
    return DeploymentFilter(
        application=application,
        group=group,
        statuses=tuple(status or ()),
        created_after=_moment(created_after, "createdAfter"),
        created_before=_moment(created_before, "createdBefore"),
    )


DeploymentFilterDep = Annotated[DeploymentFilter, Depends(deployment_filter)]


async def _deployments_page(
    listed: DeploymentFilter,
    resolver: Resolver,
    budget: Budget,
    page_size: int,
    next_token: str | None,
    *,
    items: bool,
    if_none_match: str | None,
) -> Response:
    """A page of deployment ids, or of the deployments they name."""
    page = await read_page(resolver.deployment_list(listed), page_size, next_token, budget)
    if not items:
        body = json_object(deployments=_ids(page.ids), nextToken=page.next_token)
        return render_json(body, page.cache, if_none_match).response()
    await budget.spend(costs.page_of_items(len(page.ids)))
    found = _read(await resolver.deployments(page.ids))
    return items_page(page, "deploymentsInfo", found, if_none_match)


@router.get(
    "/deployments",
    operation_id="ListDeployments",
    summary="List deployments",
    description=(
        "A page of CodeDeploy's ListDeployments, newest first: every deployment, or one "
        "group's (`applicationName` and `deploymentGroupName` together), filtered by status "
        "and by creation time (RFC 3339). `ListDeploymentSummaries` answers the same page "
        "with each deployment read."
    ),
    response_model=ListDeploymentsOutput | BatchGetDeploymentsOutput,
    responses=cached_read(
        "A page of deployment ids (of deployments with the deprecated `include=summary`).",
        *READ,
        examples=NO_GROUP,
    ),
)
async def list_deployments(
    listed: DeploymentFilterDep,
    resolver: ResolverDep,
    budget: BudgetDep,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
    include: Include = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    items = include is not None
    return await _deployments_page(
        listed, resolver, budget, page_size, next_token, items=items, if_none_match=if_none_match
    )


@router.get(
    "/deployment-summaries",
    operation_id="ListDeploymentSummaries",
    summary="List deployments, each read",
    description=(
        "The page `ListDeployments` answers, its deployments batch-read "
        f"(BatchGetDeployments, {BATCH_LIMIT} a call) into `deploymentsInfo`, filling the "
        "entries `GET /v1/deployments/{deploymentId}` answers from."
    ),
    response_model=BatchGetDeploymentsOutput,
    responses=cached_read("A page of deployments.", *READ, examples=NO_GROUP),
)
async def list_deployment_summaries(
    listed: DeploymentFilterDep,
    resolver: ResolverDep,
    budget: BudgetDep,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await _deployments_page(
        listed, resolver, budget, page_size, next_token, items=True, if_none_match=if_none_match
    )


class _Asked(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)

    application_name: str
    deployment_group_name: str
    created_after: datetime
    since: datetime = Field(deprecated=True, description="Deprecated: `createdAfter`.")


_COUNTED: dict[str, Any] = {
    name: (field.annotation, field) for name, field in GroupStats.model_fields.items()
}
DeploymentGroupStats = create_model(
    "DeploymentGroupStats",
    __base__=_Asked,
    __doc__="A group's deployments created since ``createdAfter``, counted.",
    **_COUNTED,
)
"""What was asked, then ``GroupStats``' own fields."""


@router.get(
    "/applications/{applicationName}/deployment-groups/{deploymentGroupName}/stats",
    operation_id="GetDeploymentGroupStats",
    summary="Count a deployment group's deployments",
    description=(
        "The group's deployments created since `createdAfter` (RFC 3339), counted by outcome, with "
        "the median duration and the change failure rate, from ListDeployments and "
        f"BatchGetDeployments read through the cache: at most {MAX_STATS_DEPLOYMENTS} "
        "deployments, the newest (5 list pages and 20 batch reads when nothing is cached)."
    ),
    response_model=DeploymentGroupStats,
    responses={
        200: {"headers": STATS_SINCE.documented("`since`")},
        **problem_responses(*READ, examples=NO_GROUP),
    },
)
async def get_deployment_group_stats(
    application: ApplicationName,
    group: GroupName,
    resolver: ResolverDep,
    budget: BudgetDep,
    response: Response,
    created_after: Annotated[
        str | None,
        Query(
            alias="createdAfter",
            description="Count the deployments created from here (inclusive); required.",
            json_schema_extra=RFC_3339,
        ),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            deprecated=True,
            description="Deprecated: `createdAfter`, as the lists call it. Answered with "
            "`Deprecation` and `Link` headers.",
            json_schema_extra=RFC_3339,
        ),
    ] = None,
) -> BaseModel:
    after, old = _moment(created_after, "createdAfter"), _moment(since, "since")
    moment = after or old
    if moment is None:
        raise InvalidRequest("createdAfter is required: count from when?")
    if since is not None:
        response.headers.update(STATS_SINCE.headers())
    await budget.spend(costs.STATS)
    stats = await group_stats(resolver, application, group, moment)
    return DeploymentGroupStats(
        application_name=application,
        deployment_group_name=group,
        created_after=moment,
        since=moment,
        **stats.model_dump(),
    )
