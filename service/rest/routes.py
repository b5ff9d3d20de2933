"""``/v1``: CodeDeploy's answers over plain REST, with AWS's field names."""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field

from service.cache import Cached
from service.codedeploy import BATCH_LIMIT
from service.codedeploy.inputs import ID_PATTERN
from service.edge.paths import API
from service.errors import CacheInfo, ErrorCode, GatewayError
from service.freshness import refresh_requested
from service.guard.ratelimit import Budget
from service.models import (
    BatchGetDeploymentInstancesOutput,
    BatchGetDeploymentTargetsOutput,
    GetDeploymentInstanceOutput,
    GetDeploymentOutput,
    GetDeploymentTargetOutput,
    InstanceStatus,
    InstanceType,
    ItemError,
    ListDeploymentInstancesOutput,
    ListDeploymentInstanceSummariesOutput,
    ListDeploymentTargetsOutput,
    ListDeploymentTargetSummariesOutput,
)
from service.reads import MAX_BATCH_IDS, Resolver, costs
from service.reads.pages import DEFAULT_PAGE_SIZE
from service.reads.resolver import ItemKind
from service.request import caller_key
from service.rest.dependencies import BudgetDep, ResolverDep, WatchersDep
from service.rest.pages import NextToken, PageSize, items_page, read_page
from service.rest.problems import problem_responses
from service.rest.render import instance_body, json_object, render_json
from service.snapshot import Snapshot

M = TypeVar("M", bound=BaseModel)

# What an instance read can fail with: a bad id, no such deployment or instance, one not
# started (409), not EC2/on-premises (422), throttled, CodeDeploy failing or too slow.
INSTANCE_READ = (400, 404, 409, 422, 429, 502, 504)
TARGET_LIST = (400, 404, 409, 429, 502, 504)
# The 404s of routes that read no instance.
NO_DEPLOYMENT = {404: (ErrorCode.DEPLOYMENT_NOT_FOUND, "The deployment does not exist.")}
NO_TARGET = {
    400: (ErrorCode.BAD_USER_INPUT, "The target id is not in a valid format."),
    404: (ErrorCode.TARGET_NOT_FOUND, "The deployment or target does not exist."),
}

# A path segment cannot hold `/` (an encoded one is decoded before routing): the ids a
# route's path can address.
PATH_ID_PATTERN = ID_PATTERN.replace("/", "")

router = APIRouter(prefix=API, tags=["deployments"])

DeploymentId = Annotated[
    str,
    Path(
        alias="deploymentId",
        description="The deployment's id, as CodeDeploy shows it (`d-` and nine characters).",
        # Documented, not enforced here: CodeDeploy itself answers a malformed id
        # (InvalidDeploymentIdException, 400), so a compatible endpoint keeps its say.
        json_schema_extra={"pattern": "^d-[A-Z0-9]{9}$"},
        openapi_examples={
            "in-place": {"summary": "Demo in-place deployment", "value": "d-EXAMPLE01"},
            "blue-green": {"summary": "Demo blue/green deployment", "value": "d-EXAMPLE02"},
        },
    ),
]
InstanceId = Annotated[
    str,
    Path(
        alias="instanceId",
        description="The instance's id (`i-...` for EC2) or on-premises name. An id with `/` "
        "(an instance ARN) cannot stand in a path: read it by batchGet or GraphQL.",
        json_schema_extra={"pattern": f"^{PATH_ID_PATTERN}$"},
        openapi_examples={
            "failed": {"summary": "Failed at ApplicationStart", "value": "i-0a1b2c3d4e5f60002"},
            "in-progress": {"summary": "In progress", "value": "i-0a1b2c3d4e5f60003"},
            "succeeded": {"summary": "Succeeded", "value": "i-0a1b2c3d4e5f60001"},
        },
    ),
]

_INSTANCE_EXAMPLE = {
    "instanceSummary": {
        "deploymentId": "d-EXAMPLE01",
        "instanceId": "i-0a1b2c3d4e5f60002",
        "status": "Failed",
        "lastUpdatedAt": "2026-11-24T10:00:42.800000Z",
        "lifecycleEvents": [
            {
                "lifecycleEventName": "ApplicationStart",
                "diagnostics": {
                    "errorCode": "ScriptFailed",
                    "scriptName": "scripts/start_server.sh",
                    "message": "Script at specified location: scripts/start_server.sh "
                    "run as user root failed with exit code 1",
                    "logTail": "[stderr]orders-api: error: DATABASE_URL is not set\n",
                },
                "startTime": "2026-11-24T10:00:11.500000Z",
                "endTime": "2026-11-24T10:00:42.700000Z",
                "status": "Failed",
            }
        ],
    }
}


# A waited answer is the watcher's latest read: nothing for a cache to keep.
WAITED = CacheInfo(hit=False, max_age=0)

CacheControl = Annotated[
    str | None, Header(description="`no-cache` skips the cache and refreshes it.")
]
IfNoneMatch = Annotated[
    str | None, Header(description="An ETag from an earlier answer; 304 if it still holds.")
]
TargetId = Annotated[
    str,
    Path(
        alias="targetId",
        json_schema_extra={"pattern": f"^{PATH_ID_PATTERN}$"},
        description="The target's id: an EC2 instance id, a Lambda `function:alias`, "
        "an ECS `cluster:service`, or a CloudFormation resource.",
        openapi_examples={
            "lambda": {"summary": "Lambda alias (d-EXAMPLE03)", "value": "pricing-fn:live"},
            "ecs": {
                "summary": "ECS service (d-EXAMPLE05)",
                "value": "storefront-cluster:storefront",
            },
            "instance": {"summary": "EC2 instance (d-EXAMPLE01)", "value": "i-0a1b2c3d4e5f60002"},
        },
    ),
]

CACHED_HEADERS = {
    "X-Cache": {
        "description": "HIT, MISS, or STALE: given past its lifetime because CodeDeploy's "
        "read failed (GATEWAY_STALE_IF_ERROR_SECONDS)",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "STALE"]},
    },
    "ETag": {"description": "For If-None-Match", "schema": {"type": "string"}},
    "Cache-Control": {"description": "max-age=<seconds>", "schema": {"type": "string"}},
    "Age": {
        "description": "With STALE: seconds since the answer was read from CodeDeploy",
        "schema": {"type": "integer"},
    },
    "X-Stale-Reason": {
        "description": "With STALE: the code of the failure it stands in for (THROTTLED, "
        "UPSTREAM_TIMEOUT, UPSTREAM_ERROR, ...)",
        "schema": {"type": "string"},
    },
}
NOT_MODIFIED = {"description": "Not modified: the ETag in If-None-Match still holds."}


def cached_read(
    description: str,
    *problems: int,
    examples: Mapping[int, tuple[ErrorCode, str]] | None = None,
    content: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """A cached read's OpenAPI responses: 200 with the cache's headers (and ``content``,
    an example), 304 for If-None-Match, and its ``problems``."""
    ok: dict[str, Any] = {"description": description}
    if content is not None:
        ok["content"] = content
    return {
        200: {**ok, "headers": CACHED_HEADERS},
        304: NOT_MODIFIED,
        **problem_responses(*problems, examples=examples),
    }


FILTER_ENUMS: dict[str, dict[str, Any]] = {}
"""The enums the filters name, as components of the OpenAPI document: one each, so a
generated client has one ``InstanceStatus`` rather than one per operation."""


def one_of(enum: type[StrEnum], description: str) -> Callable[[dict[str, Any]], None]:
    """Documents a repeatable filter's values as the shared component ``enum`` (generated
    clients get one enum) without checking them: CodeDeploy answers an unknown one
    (InvalidInstanceStatusException, 400), and may know values added after us."""
    FILTER_ENUMS[enum.__name__] = {
        "type": "string",
        "enum": [member.value for member in enum],
        "description": description,
    }

    def document(schema: dict[str, Any]) -> None:
        # Absent, not null: a query parameter is left out or given.
        schema.pop("anyOf", None)
        schema.update(type="array", items={"$ref": f"#/components/schemas/{enum.__name__}"})

    return document


StatusFilter = Annotated[
    list[str] | None,
    Query(
        description="Statuses to keep (repeatable).",
        json_schema_extra=one_of(
            InstanceStatus, "An instance's or target's status, as CodeDeploy spells it."
        ),
    ),
]
InstanceTypeFilter = Annotated[
    list[str] | None,
    Query(
        alias="instanceType",
        description="Blue or Green (repeatable).",
        json_schema_extra=one_of(
            InstanceType, "A blue/green environment, as CodeDeploy spells it."
        ),
    ),
]
Include = Annotated[
    Literal["summary"] | None,
    Query(
        deprecated=True,
        description="`summary`: batch-read each item on the page. Deprecated: the "
        "operation's `…Summaries` sibling answers that page in one shape.",
    ),
]


@dataclass(frozen=True, slots=True)
class FleetQuery:
    """What picks a page of a deployment's instances or targets."""

    status: list[str] | None
    instance_type: list[str] | None
    page_size: int
    next_token: str | None


def fleet_query(
    status: StatusFilter = None,
    instance_type: InstanceTypeFilter = None,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> FleetQuery:
    return FleetQuery(status, instance_type, page_size, next_token)


FleetQueryDep = Annotated[FleetQuery, Depends(fleet_query)]


def _split(
    ids: Sequence[str], outcomes: Sequence[Cached[Snapshot[M]] | GatewayError], missing: ErrorCode
) -> tuple[list[Cached[Snapshot[M]]], list[ItemError]]:
    """Splits batch outcomes (one per distinct id, in order): an item that is not there
    (``missing``) is an entry of its own; any other error (the deployment, the upstream)
    fails the request."""
    found: list[Cached[Snapshot[M]]] = []
    errors: list[ItemError] = []
    for id_, outcome in zip(dict.fromkeys(ids), outcomes, strict=True):
        if isinstance(outcome, Cached):
            found.append(outcome)
        elif outcome.code == missing:
            errors.append(ItemError.of(id_, outcome))
        else:
            raise outcome
    return found, errors


@router.get(
    "/deployments/{deploymentId}",
    operation_id="GetDeployment",
    summary="Get a deployment",
    description=(
        "CodeDeploy's GetDeployment `deploymentInfo`, any compute platform. The fields "
        "below are typed; every other field CodeDeploy sends passes through unchanged."
    ),
    response_model=GetDeploymentOutput,
    responses=cached_read(
        "The deployment (with `wait`: once final, changed, or the wait is up; `Wait-Result` "
        "says which).",
        400,
        404,
        429,
        502,
        503,
        504,
        examples=NO_DEPLOYMENT,
    ),
)
async def get_deployment(
    deployment_id: DeploymentId,
    request: Request,
    resolver: ResolverDep,
    watchers: WatchersDep,
    budget: BudgetDep,
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            description="Seconds to wait for the deployment to reach a final status (with "
            "`If-None-Match`: to differ from that entity tag) before answering; at most "
            "GATEWAY_MAX_WAIT_SECONDS. The answer's `Wait-Result` header is `final`, "
            "`changed` or `timeout`. Waits ride the deployment's watcher: any number of "
            "waiting callers cost CodeDeploy what one stream does.",
        ),
    ] = None,
    cache_control: CacheControl = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    if wait is None:
        result = await resolver.deployment(deployment_id, refresh=refresh_requested(cache_control))
        body = json_object(deploymentInfo=result.value.body)
        return render_json(body, result.cache, if_none_match, result.value.etag).response()
    snapshot, outcome = await watchers.wait(
        resolver,
        deployment_id,
        caller_key(request.scope),
        seconds=wait,
        if_none_match=if_none_match,
        budget=budget,
    )
    body = json_object(deploymentInfo=snapshot.body)
    response = render_json(body, WAITED, if_none_match, snapshot.etag).response()
    response.headers["wait-result"] = outcome
    return response


@dataclass(frozen=True, slots=True)
class _Fleet:
    """How a page of a deployment's instances or targets is answered."""

    kind: ItemKind
    ids: str
    items: str
    missing: ErrorCode


INSTANCES = _Fleet("instance", "instancesList", "instancesSummary", ErrorCode.INSTANCE_NOT_FOUND)
TARGETS = _Fleet("target", "targetIds", "deploymentTargets", ErrorCode.TARGET_NOT_FOUND)


async def _fleet_page(
    fleet: _Fleet,
    deployment_id: str,
    resolver: Resolver,
    budget: Budget,
    query: FleetQuery,
    *,
    items: bool,
    if_none_match: str | None,
) -> Response:
    """A page of ids, or of the ``items`` they name."""
    listing = resolver.fleet_list(
        fleet.kind,
        deployment_id,
        statuses=query.status or (),
        instance_types=query.instance_type or (),
    )
    page = await read_page(listing, query.page_size, query.next_token, budget)
    if not items:
        listed = [json.dumps(item_id).encode() for item_id in page.ids]
        body = json_object(**{fleet.ids: listed}, nextToken=page.next_token)
        return render_json(body, page.cache, if_none_match).response()
    await budget.spend(costs.page_of_items(len(page.ids)))
    outcomes = await resolver.fleet_of(fleet.kind).items(deployment_id, page.ids)
    found, _ = _split(page.ids, outcomes, fleet.missing)
    return items_page(page, fleet.items, found, if_none_match)


async def _fleet_batch(
    fleet: _Fleet, deployment_id: str, ids: Sequence[str], resolver: Resolver, budget: Budget
) -> Response:
    """Up to 100 instances or targets: those found, and an entry of ``errors`` for each
    missing one (instances also in the deprecated prose ``errorMessage``)."""
    await budget.spend(costs.chosen_batch(len(set(ids)), alone=resolver.reads_alone(fleet.kind)))
    outcomes = await resolver.fleet_of(fleet.kind).items(deployment_id, ids)
    found, missing = _split(ids, outcomes, fleet.missing)
    prose = " ".join(error.detail for error in missing) or None
    body = json_object(
        **{fleet.items: [item.value.body for item in found]},
        errors=[error.model_dump_json(by_alias=True).encode() for error in missing],
        errorMessage=prose if fleet is INSTANCES else None,
    )
    return Response(body, media_type="application/json")


@router.get(
    "/deployments/{deploymentId}/instances",
    operation_id="ListDeploymentInstances",
    summary="List a deployment's instances",
    description=(
        "A page of CodeDeploy's ListDeploymentInstances, filtered by status and "
        "blue/green type; pass `nextToken` back for the next page. "
        "`ListDeploymentInstanceSummaries` answers the same page with each instance read."
    ),
    response_model=ListDeploymentInstancesOutput | ListDeploymentInstanceSummariesOutput,
    responses=cached_read(
        "A page of instance ids (of summaries with the deprecated `include=summary`).",
        *INSTANCE_READ,
        examples=NO_DEPLOYMENT,
    ),
)
async def list_deployment_instances(
    deployment_id: DeploymentId,
    resolver: ResolverDep,
    budget: BudgetDep,
    query: FleetQueryDep,
    include: Include = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    items = include is not None
    return await _fleet_page(
        INSTANCES, deployment_id, resolver, budget, query, items=items, if_none_match=if_none_match
    )


@router.get(
    "/deployments/{deploymentId}/instance-summaries",
    operation_id="ListDeploymentInstanceSummaries",
    summary="List a deployment's instances, each read",
    description=(
        "The page `ListDeploymentInstances` answers, each id batch-read "
        f"(BatchGetDeploymentInstances, {BATCH_LIMIT} a call) into its summary: "
        "`instancesSummary`, in the list's order."
    ),
    response_model=ListDeploymentInstanceSummariesOutput,
    responses=cached_read("A page of instance summaries.", *INSTANCE_READ, examples=NO_DEPLOYMENT),
)
async def list_deployment_instance_summaries(
    deployment_id: DeploymentId,
    resolver: ResolverDep,
    budget: BudgetDep,
    query: FleetQueryDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await _fleet_page(
        INSTANCES, deployment_id, resolver, budget, query, items=True, if_none_match=if_none_match
    )


class BatchGetRequest(BaseModel):
    instance_ids: list[Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]] = Field(
        alias="instanceIds",
        min_length=1,
        max_length=MAX_BATCH_IDS,
        description=f"1 to {MAX_BATCH_IDS} instance ids; read in upstream batches of "
        f"{BATCH_LIMIT}.",
        examples=[["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-nothere"]],
    )


@router.post(
    "/deployments/{deploymentId}/instances:batchGet",
    operation_id="BatchGetDeploymentInstances",
    summary="Get several deployment instances",
    description=(
        f"BatchGetDeploymentInstances for up to {MAX_BATCH_IDS} ids (CodeDeploy's own limit "
        f"of {BATCH_LIMIT} is handled by concurrent calls). With a rate limit, each call it "
        "may make counts against it. Cached instances are answered without a call; each "
        "id CodeDeploy does not know is an entry of `errors` (code, status, detail)."
    ),
    response_model=BatchGetDeploymentInstancesOutput,
    responses=problem_responses(400, 404, 413, 422, 429, 502, 504),
)
async def batch_get_deployment_instances(
    deployment_id: DeploymentId,
    request: Annotated[BatchGetRequest, Body()],
    resolver: ResolverDep,
    budget: BudgetDep,
) -> Response:
    return await _fleet_batch(INSTANCES, deployment_id, request.instance_ids, resolver, budget)


@router.get(
    "/deployments/{deploymentId}/instances/{instanceId}",
    operation_id="GetDeploymentInstance",
    summary="Get a deployment instance",
    description=(
        "CodeDeploy's GetDeploymentInstance for an EC2/on-premises deployment, with "
        "AWS's field names and enum values. Timestamps are ISO-8601 in UTC. Answers are "
        "cached briefly (`X-Cache`, `Cache-Control`); send `Cache-Control: no-cache` to "
        "refresh, `If-None-Match` to get 304 when nothing changed."
    ),
    response_model=GetDeploymentInstanceOutput,
    responses=cached_read(
        "The instance's summary.",
        *INSTANCE_READ,
        content={"application/json": {"example": _INSTANCE_EXAMPLE}},
    ),
)
async def get_deployment_instance(
    deployment_id: DeploymentId,
    instance_id: InstanceId,
    resolver: ResolverDep,
    cache_control: CacheControl = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    result = await resolver.deployment_instance(
        deployment_id, instance_id, refresh=refresh_requested(cache_control)
    )
    return render_json(
        instance_body(result.value), result.cache, if_none_match, result.value.etag
    ).response()


@router.get(
    "/deployments/{deploymentId}/targets/{targetId}",
    operation_id="GetDeploymentTarget",
    summary="Get a deployment target",
    description=(
        "CodeDeploy's GetDeploymentTarget for any compute platform: exactly one of "
        "`instanceTarget`, `lambdaTarget`, `ecsTarget`, `cloudFormationTarget` is set, "
        "as `deploymentTargetType` says."
    ),
    response_model=GetDeploymentTargetOutput,
    responses=cached_read("The target.", 400, 404, 409, 429, 502, 504, examples=NO_TARGET),
)
async def get_deployment_target(
    deployment_id: DeploymentId,
    target_id: TargetId,
    resolver: ResolverDep,
    cache_control: CacheControl = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    result = await resolver.deployment_target(
        deployment_id, target_id, refresh=refresh_requested(cache_control)
    )
    body = json_object(deploymentTarget=result.value.body)
    return render_json(body, result.cache, if_none_match, result.value.etag).response()


@router.get(
    "/deployments/{deploymentId}/targets",
    operation_id="ListDeploymentTargets",
    summary="List a deployment's targets",
    description=(
        "A page of CodeDeploy's ListDeploymentTargets, any compute platform, filtered by "
        "status and blue/green label as the instance list is; pass `nextToken` back for the "
        "next page. `ListDeploymentTargetSummaries` answers the same page with each target "
        "read."
    ),
    response_model=ListDeploymentTargetsOutput | ListDeploymentTargetSummariesOutput,
    responses=cached_read(
        "A page of target ids (of targets with the deprecated `include=summary`).",
        *TARGET_LIST,
        examples=NO_DEPLOYMENT,
    ),
)
async def list_deployment_targets(
    deployment_id: DeploymentId,
    resolver: ResolverDep,
    budget: BudgetDep,
    query: FleetQueryDep,
    include: Include = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    items = include is not None
    return await _fleet_page(
        TARGETS, deployment_id, resolver, budget, query, items=items, if_none_match=if_none_match
    )


@router.get(
    "/deployments/{deploymentId}/target-summaries",
    operation_id="ListDeploymentTargetSummaries",
    summary="List a deployment's targets, each read",
    description=(
        "The page `ListDeploymentTargets` answers, each id batch-read "
        f"(BatchGetDeploymentTargets, {BATCH_LIMIT} a call): `deploymentTargets`, in the "
        "list's order."
    ),
    response_model=ListDeploymentTargetSummariesOutput,
    responses=cached_read("A page of targets.", *TARGET_LIST, examples=NO_DEPLOYMENT),
)
async def list_deployment_target_summaries(
    deployment_id: DeploymentId,
    resolver: ResolverDep,
    budget: BudgetDep,
    query: FleetQueryDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await _fleet_page(
        TARGETS, deployment_id, resolver, budget, query, items=True, if_none_match=if_none_match
    )


class BatchGetTargetsRequest(BaseModel):
    target_ids: list[Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]] = Field(
        alias="targetIds",
        min_length=1,
        max_length=MAX_BATCH_IDS,
        description=f"1 to {MAX_BATCH_IDS} target ids; read in upstream batches of {BATCH_LIMIT}.",
        examples=[["i-0a1b2c3d4e5f60001", "i-nothere"]],
    )


@router.post(
    "/deployments/{deploymentId}/targets:batchGet",
    operation_id="BatchGetDeploymentTargets",
    summary="Get several deployment targets",
    description=(
        f"BatchGetDeploymentTargets for up to {MAX_BATCH_IDS} ids of any compute platform "
        f"(CodeDeploy's own limit of {BATCH_LIMIT} is handled by concurrent calls). Cached "
        "targets are answered without a call; each id CodeDeploy does not know is an entry "
        "of `errors` (code, status, detail)."
    ),
    response_model=BatchGetDeploymentTargetsOutput,
    responses=problem_responses(400, 404, 409, 413, 429, 502, 504, examples=NO_DEPLOYMENT),
)
async def batch_get_deployment_targets(
    deployment_id: DeploymentId,
    request: Annotated[BatchGetTargetsRequest, Body()],
    resolver: ResolverDep,
    budget: BudgetDep,
) -> Response:
    return await _fleet_batch(TARGETS, deployment_id, request.target_ids, resolver, budget)
