"""``GET /v1/deployments/{deploymentId}/events``: a deployment's changes as server-sent
events, from the watcher its GraphQL subscription reads too (``service.live``)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from service.edge.paths import API
from service.guard.ratelimit import Budget
from service.live import View, Watchers
from service.live.stream import EVENT_STREAM, EventStream
from service.reads import Resolver
from service.request import caller_key, context_of
from service.rest.dependencies import BudgetDep, MetricsDep, ResolverDep, WatchersDep
from service.rest.problems import problem_responses
from service.rest.routes import NO_DEPLOYMENT, DeploymentId

router = APIRouter(prefix=API, tags=["deployments"])

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
EVENT_SCHEMA = {
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
            # OpenAPI 3.2's itemSchema: a schema for each event, not the body as a whole
            # (a generated client then hands over the stream's text unparsed).
            "content": {EVENT_STREAM: {"itemSchema": EVENT_SCHEMA, "example": EXAMPLE}},
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
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The id of the last event received: the stream resumes after it.",
        ),
    ] = None,
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
    """The changes' events, joined into writes of up to ``CHUNK_BYTES``: a whole picture
    of a large fleet goes out in pieces, each waiting for the client to take the last."""
    async for batch in view.changes():
        chunk = bytearray()
        for change in batch:
            chunk += change.frame
            if len(chunk) >= CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if chunk:
            yield bytes(chunk)
