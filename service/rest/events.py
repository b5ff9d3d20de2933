"""``GET /v1/deployments/{deploymentId}/events``: a deployment's changes as server-sent
events, from the watcher its GraphQL subscription reads too (``service.live``)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from service.edge.paths import API
from service.guard.ratelimit import Budget
from service.live import View, Watchers
from service.live.changes import Change
from service.live.follow import Follows, Key
from service.live.stream import EVENT_STREAM, EventStream
from service.metrics import Metrics
from service.reads import Resolver
from service.request import caller_key, context_of
from service.rest.dependencies import BudgetDep, FollowsDep, MetricsDep, ResolverDep, WatchersDep
from service.rest.discovery import NO_GROUP, ApplicationName, GroupName
from service.rest.problems import problem_responses
from service.rest.routes import NO_DEPLOYMENT, DeploymentId

router = APIRouter(prefix=API, tags=["deployments"])

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="The id of the last event received: the stream resumes after it.",
    ),
]

# Events joined into one write up to this size: the transport's high-water mark.
CHUNK_BYTES = 65_536

EXAMPLE = (
    "id: 3f9a1c2e-1\nevent: deployment\n"
    'data: {"deploymentInfo":{"deploymentId":"d-EXAMPLE07","status":"InProgress",...}}\n\n'
    "id: 3f9a1c2e-2\nevent: instance\n"
    'data: {"instanceSummary":{"instanceId":"i-0e1f2a3b4c5d60001","status":"InProgress",...}}\n\n'
    ": heartbeat\n\n"
)


# One event of the stream: its fields, `data` a JSON document.
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Send back as Last-Event-ID to resume."},
        "event": {"type": "string", "enum": ["deployment", "instance", "target"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": '{"deploymentInfo": …}, {"instanceSummary": …} or '
            '{"deploymentTarget": …}: what the GET of the item answers.',
        },
    },
    "required": ["id", "event", "data"],
}


def _stream(event: dict[str, Any]) -> dict[str, Any]:
    """An event stream's media type: the body a string (so a generated client hands the
    stream's text over unparsed, and OAS 3.1 linters accept it), each event described by
    what OpenAPI 3.2 calls ``itemSchema``, kept as the extension ``x-itemSchema``."""
    return {
        "schema": {"type": "string", "description": "Server-sent events; each as x-itemSchema."},
        "x-itemSchema": event,
        "example": EXAMPLE,
    }


@router.get(
    "/deployments/{deploymentId}/events",
    operation_id="StreamDeploymentEvents",
    summary="Follow a deployment live (server-sent events)",
    description=(
        "A `text/event-stream` of the deployment's changes. First `event: deployment` "
        '(data: `{"deploymentInfo": ...}`, as GetDeployment answers), then one '
        '`event: instance` (`{"instanceSummary": ...}`) per instance, or `event: target` '
        '(`{"deploymentTarget": ...}`) per target of a Lambda, ECS or CloudFormation '
        "deployment; after that, an event for each item whose answer changes. Every event "
        "has an `id`: reconnecting with `Last-Event-ID` resumes with what changed since "
        "(an id the gateway no longer knows starts afresh). A `: heartbeat` comment comes "
        "after 15 s of silence. The stream ends after the deployment's final status "
        "(Succeeded, Failed, Stopped); a reconnect after that is answered 204, which "
        "stops EventSource from reconnecting. One watcher per deployment reads CodeDeploy "
        "every GATEWAY_WATCH_INTERVAL_SECONDS, however many follow it."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The event stream.",
            "content": {EVENT_STREAM: _stream(EVENT_SCHEMA)},
        },
        204: {"description": "The deployment finished and this client has seen its end."},
        **problem_responses(400, 404, 429, 502, 503, 504, examples=NO_DEPLOYMENT),
    },
)
async def stream_deployment_events(
    deployment_id: DeploymentId,
    request: Request,
    resolver: ResolverDep,
    watchers: WatchersDep,
    metrics: MetricsDep,
    budget: BudgetDep,
    last_event_id: LastEventId = None,
) -> Response:
    if context_of(request.scope).head:  # the headers only: no watcher, no read
        return Response(media_type=EVENT_STREAM, headers={"cache-control": "no-store"})
    frames = _frames(
        watchers, resolver, deployment_id, caller_key(request.scope), last_event_id, budget
    )
    return EventStream(frames, metrics)


@asynccontextmanager
async def _frames(
    watchers: Watchers,
    resolver: Resolver,
    deployment_id: str,
    caller: str,
    last_event_id: str | None,
    budget: Budget,
) -> AsyncIterator[AsyncIterator[bytes] | None]:
    async with watchers.watch(resolver, deployment_id, caller, last_event_id, budget) as view:
        yield None if view.finished else _chunks(view)


async def _chunks(view: View) -> AsyncIterator[bytes]:
    async for chunk in _joined(view.changes()):
        yield chunk


async def _joined(batches: AsyncIterator[list[Change]]) -> AsyncIterator[bytes]:
    """The changes' events, joined into writes of up to ``CHUNK_BYTES``: a whole picture
    of a large fleet goes out in pieces, each waiting for the client to take the last."""
    async for batch in batches:
        chunk = bytearray()
        for change in batch:
            chunk += change.frame
            if len(chunk) >= CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if chunk:
            yield bytes(chunk)


FOLLOWED = (
    "A `text/event-stream` that follows {what} and never ends with a deployment: first "
    '`event: group` per group (`{{"deploymentGroupInfo": ...}}`, as GetDeploymentGroup '
    "answers), then `event: deployment` for each of its deployments not finished, and "
    "their `instance` or `target` events; then, as they happen, a `deployment` event when "
    "one starts or changes status, and the items of every running one. Same events, ids "
    "and `Last-Event-ID` resumption as a deployment's stream. The group is read and its "
    "running deployments listed every GATEWAY_WATCH_INTERVAL_SECONDS (two calls, however "
    "many follow it); each deployment through its one watcher."
)
# A followed stream's events: a deployment's, and its groups'.
FOLLOWED_EVENT = {
    **EVENT_SCHEMA,
    "properties": {
        **EVENT_SCHEMA["properties"],
        "event": {"type": "string", "enum": ["group", "deployment", "instance", "target"]},
    },
}
FOLLOWED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The event stream.",
        "content": {EVENT_STREAM: _stream(FOLLOWED_EVENT)},
    },
    **problem_responses(400, 404, 429, 502, 503, 504, examples=NO_GROUP),
}


@router.get(
    "/applications/{applicationName}/deployment-groups/{deploymentGroupName}/events",
    operation_id="StreamDeploymentGroupEvents",
    summary="Follow a deployment group live (server-sent events)",
    description=FOLLOWED.format(what="a deployment group"),
    response_class=Response,
    responses=FOLLOWED_RESPONSES,
)
async def stream_deployment_group_events(
    application: ApplicationName,
    group: GroupName,
    request: Request,
    resolver: ResolverDep,
    follows: FollowsDep,
    metrics: MetricsDep,
    last_event_id: LastEventId = None,
) -> Response:
    return _followed(request, follows, metrics, resolver, application, group, last_event_id)


@router.get(
    "/applications/{applicationName}/events",
    operation_id="StreamApplicationEvents",
    summary="Follow an application's deployment groups live (server-sent events)",
    description=FOLLOWED.format(what="every deployment group of an application"),
    response_class=Response,
    responses=FOLLOWED_RESPONSES,
)
async def stream_application_events(
    application: ApplicationName,
    request: Request,
    resolver: ResolverDep,
    follows: FollowsDep,
    metrics: MetricsDep,
    last_event_id: LastEventId = None,
) -> Response:
    return _followed(request, follows, metrics, resolver, application, None, last_event_id)


def _followed(
    request: Request,
    follows: Follows,
    metrics: Metrics,
    resolver: Resolver,
    application: str,
    group: str | None,
    last_event_id: str | None,
) -> Response:
    if context_of(request.scope).head:
        return Response(media_type=EVENT_STREAM, headers={"cache-control": "no-store"})
    caller = caller_key(request.scope)

    @asynccontextmanager
    async def frames() -> AsyncIterator[AsyncIterator[bytes]]:
        async with follows.follow(resolver, application, group, caller, last_event_id) as (
            feed,
            position,
        ):
            yield _joined(_changes(feed.changes(position)))

    return EventStream(frames(), metrics)


async def _changes(
    batches: AsyncIterator[list[tuple[Key, Change]]],
) -> AsyncIterator[list[Change]]:
    async for batch in batches:
        yield [change for _, change in batch]
