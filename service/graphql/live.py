"""``Subscription.deploymentEvents``: a deployment's live changes, typed, from the watcher
the REST event stream reads too (``service.live``)."""

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from service.graphql.context import AccountArgument, Info, Reads, RegionArgument
from service.graphql.deployment import Deployment, DeploymentGroup
from service.graphql.types import DeploymentTarget, InstanceSummary, target_from_model
from service.live import Change


@strawberry.type(
    description="The deployment changed (status, overview, times, ...): the whole "
    "deployment as it is now. A stream's first event is one of these."
)
class DeploymentChanged:
    event_id: strawberry.ID = strawberry.field(
        description="Resumes a stream from here: deploymentEvents(after: eventId)."
    )
    deployment: Deployment


@strawberry.type(description="An instance changed (status, lastUpdatedAt, lifecycle events).")
class InstanceChanged:
    event_id: strawberry.ID
    instance: InstanceSummary


@strawberry.type(description="A target changed (Lambda, ECS, CloudFormation, or targets mode).")
class TargetChanged:
    event_id: strawberry.ID
    target: DeploymentTarget | None = strawberry.field(
        description="Null for a kind of target this gateway does not know yet."
    )


@strawberry.type(
    description="A followed deployment group changed (its configuration, its last deployments)."
)
class GroupChanged:
    event_id: strawberry.ID
    deployment_group: DeploymentGroup


DeploymentEvent = Annotated[
    DeploymentChanged | InstanceChanged | TargetChanged,
    strawberry.union("DeploymentEvent", description="One change of a watched deployment."),
]
GroupEvent = Annotated[
    GroupChanged | DeploymentChanged | InstanceChanged | TargetChanged,
    strawberry.union(
        "GroupEvent",
        description="One change of a followed group: the group, or one of its deployments.",
    ),
]


def event_of(
    change: Change, reads: Reads, application: str = ""
) -> GroupChanged | DeploymentChanged | InstanceChanged | TargetChanged:
    event_id = strawberry.ID(change.event_id)
    if change.kind == "group":
        group = DeploymentGroup(
            reads=reads, application_name=application, deployment_group_name=change.item_id
        )
        return GroupChanged(event_id=event_id, deployment_group=group)
    if change.kind == "deployment":
        deployment = Deployment(
            deployment_id=strawberry.ID(change.item_id), reads=reads, snapshot=change.snapshot
        )
        return DeploymentChanged(event_id=event_id, deployment=deployment)
    model = change.snapshot.model
    if change.kind == "instance":
        asked = (model.deployment_id or "", change.item_id)
        return InstanceChanged(
            event_id=event_id, instance=InstanceSummary.from_model(model, reads.where, asked)
        )
    target = model.target
    asked = (target.deployment_id if target else None) or "", change.item_id
    return TargetChanged(event_id=event_id, target=target_from_model(model, reads.where, asked))


async def deployment_events(
    info: Info,
    deployment_id: strawberry.ID,
    after: strawberry.ID | None = None,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> AsyncGenerator[DeploymentEvent, None]:
    live = info.context.live
    assert live is not None, "subscriptions run only over the streaming transports"
    reads = info.context.at(account, region)
    watch = live.watchers.watch(reads.resolver, deployment_id, live.caller, after, live.budget)
    async with watch as view:
        async for batch in view.changes():
            for change in batch:
                # Each event reads the deployment as it is now, not as the subscription's
                # first event found it: its loaders start empty.
                info.context.forget()
                event = event_of(change, reads)
                assert not isinstance(event, GroupChanged)  # a deployment's stream has none
                yield event


async def _followed(
    info: Info,
    application_name: str,
    deployment_group_name: str | None,
    after: strawberry.ID | None,
    account: str | None,
    region: str | None,
) -> AsyncGenerator[GroupEvent, None]:
    live = info.context.live
    assert live is not None, "subscriptions run only over the streaming transports"
    reads = info.context.at(account, region)
    follow = live.follows.follow(
        reads.resolver, application_name, deployment_group_name, live.caller, after
    )
    async with follow as (feed, position):
        async for batch in feed.changes(position):
            for _, change in batch:
                info.context.forget()
                yield event_of(change, reads, application_name)


async def deployment_group_events(
    info: Info,
    application_name: str,
    deployment_group_name: str,
    after: strawberry.ID | None = None,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> AsyncGenerator[GroupEvent, None]:
    async for event in _followed(
        info, application_name, deployment_group_name, after, account, region
    ):
        yield event


async def application_events(
    info: Info,
    application_name: str,
    after: strawberry.ID | None = None,
    account: AccountArgument = None,
    region: RegionArgument = None,
) -> AsyncGenerator[GroupEvent, None]:
    async for event in _followed(info, application_name, None, after, account, region):
        yield event


FOLLOWED = (
    " as they happen: first each group and each of its unfinished deployments with their "
    "instances (or targets), then each change, a deployment starting included; never "
    "completes with a deployment. `after` resumes after an event's eventId."
)


@strawberry.type
class Subscription:
    deployment_events: AsyncGenerator[DeploymentEvent, None] = strawberry.subscription(
        resolver=deployment_events,
        description=(
            "A deployment's changes as they happen: first the deployment and each of its "
            "instances (or targets) as they are, then each change; the stream completes "
            "after the deployment's final status (Succeeded, Failed, Stopped). `after` "
            "resumes after an event's eventId (an unknown one starts afresh). Over "
            "graphql-transport-ws (WebSocket at /graphql) or GraphQL over SSE (POST with "
            "Accept: text/event-stream)."
        ),
    )
    deployment_group_events: AsyncGenerator[GroupEvent, None] = strawberry.subscription(
        resolver=deployment_group_events,
        description="A deployment group's changes" + FOLLOWED,
    )
    application_events: AsyncGenerator[GroupEvent, None] = strawberry.subscription(
        resolver=application_events,
        description="An application's deployment groups' changes" + FOLLOWED,
    )
