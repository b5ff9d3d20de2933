"""GraphQL types: CodeDeploy's fields in camelCase, enums in GraphQL style.

Enums come in two kinds. A filter (input) takes exactly the values CodeDeploy takes: the
domain enums themselves. An answer's enum (output) is the domain's values plus
``UNRECOGNIZED`` for one AWS added after this gateway was built, with CodeDeploy's own
spelling beside it in an ``upstream…`` field, so nothing AWS sends is lost.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import strawberry

from service import models
from service.accounts import AccountRegion
from service.graphql.ids import Kind, NodeKey

# Filters: the domain enums, whose member names are the GraphQL values.
strawberry.enum(
    models.InstanceStatus, description="An instance status to filter by (CodeDeploy's values)."
)
strawberry.enum(
    models.InstanceType, description="A blue/green environment to filter by (Blue or Green)."
)
strawberry.enum(
    models.DeploymentStatus, description="A deployment status to filter by (CodeDeploy's values)."
)

UNRECOGNIZED = "UNRECOGNIZED"
UPSTREAM_SPELLING = (
    "CodeDeploy's own spelling of the value beside, as sent: read it when that is UNRECOGNIZED."
)

# Answers: the domain's values (the Enum documentation's ``_ignore_`` idiom, so one added
# there is here too), then the sentinel for a value AWS added after this gateway.


@strawberry.enum(
    description="An instance's or target's status; UNRECOGNIZED: a value this gateway does "
    "not know yet (see upstreamStatus)."
)
class InstanceState(StrEnum):
    _ignore_ = "member members"
    members = vars()
    for member in models.InstanceStatus:
        members[member.name] = member.value
    UNRECOGNIZED = UNRECOGNIZED


@strawberry.enum(
    description="A deployment's status; UNRECOGNIZED: a value this gateway does not know "
    "yet (see upstreamStatus)."
)
class DeploymentState(StrEnum):
    _ignore_ = "member members"
    members = vars()
    for member in models.DeploymentStatus:
        members[member.name] = member.value
    UNRECOGNIZED = UNRECOGNIZED


@strawberry.enum(
    description="A blue/green instance's, target's or task set's environment; UNRECOGNIZED: "
    "a value this gateway does not know yet."
)
class InstanceLabel(StrEnum):
    _ignore_ = "member members"
    members = vars()
    for member in models.InstanceType:
        members[member.name] = member.value
    UNRECOGNIZED = UNRECOGNIZED


@strawberry.enum(
    description="A lifecycle event's status; UNRECOGNIZED: a value this gateway does not "
    "know yet (see upstreamStatus)."
)
class LifecycleEventStatus(StrEnum):
    _ignore_ = "member members"
    members = vars()
    for member in models.LifecycleEventStatus:
        members[member.name] = member.value
    UNRECOGNIZED = UNRECOGNIZED


@strawberry.enum(
    description="The outcome of a lifecycle script; UNRECOGNIZED: a value this gateway does "
    "not know yet (see upstreamErrorCode)."
)
class LifecycleErrorCode(StrEnum):
    _ignore_ = "member members"
    members = vars()
    for member in models.LifecycleErrorCode:
        members[member.name] = member.value
    UNRECOGNIZED = UNRECOGNIZED


E = TypeVar("E", bound=StrEnum)


def _member(enum: type[E], value: str | None) -> E | None:
    """CodeDeploy's value as ``enum``'s member; one AWS adds later is UNRECOGNIZED
    instead of failing the query."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        return enum(UNRECOGNIZED)


def upstream_field() -> Any:
    """The raw value beside an answer's enum."""
    return strawberry.field(description=UPSTREAM_SPELLING)


@strawberry.interface(
    description="An object a client can cache by its id and read again with node(id:) "
    "(GraphQL's Global Object Identification)."
)
class Node:
    def node_key(self) -> NodeKey:
        raise NotImplementedError

    id: strawberry.ID = strawberry.field(
        resolver=lambda root: root.node_key().id,
        description="Opaque and stable: the same object has the same id in every process "
        "and replica; it names the account and region too. Give it to node(id:) to read the "
        "object again; do not read anything into it.",
    )


@strawberry.type(description="Diagnostic information about a lifecycle event.")
class Diagnostics:
    error_code: LifecycleErrorCode | None
    upstream_error_code: str | None = upstream_field()
    script_name: str | None
    message: str | None
    log_tail: str | None = strawberry.field(
        description="The last portion of the script's log, up to 4 KB."
    )

    @classmethod
    def from_model(cls, model: models.Diagnostics) -> "Diagnostics":
        return cls(
            error_code=_member(LifecycleErrorCode, model.error_code),
            upstream_error_code=model.error_code,
            script_name=model.script_name,
            message=model.message,
            log_tail=model.log_tail,
        )


@strawberry.type(description="One deployment lifecycle event on an instance.")
class LifecycleEvent:
    lifecycle_event_name: str | None
    diagnostics: Diagnostics | None
    start_time: datetime | None
    end_time: datetime | None
    status: LifecycleEventStatus | None
    upstream_status: str | None = upstream_field()

    @classmethod
    def from_model(cls, model: models.LifecycleEvent) -> "LifecycleEvent":
        return cls(
            lifecycle_event_name=model.lifecycle_event_name,
            diagnostics=Diagnostics.from_model(model.diagnostics) if model.diagnostics else None,
            start_time=model.start_time,
            end_time=model.end_time,
            status=_member(LifecycleEventStatus, model.status),
            upstream_status=model.status,
        )


@strawberry.type(description="An instance in a deployment, as CodeDeploy reports it.")
class InstanceSummary(Node):
    key: strawberry.Private[NodeKey]
    account: str = strawberry.field(description="The alias of the account it was read in.")
    region: str = strawberry.field(description="The region it was read in.")
    deployment_id: strawberry.ID
    instance_id: strawberry.ID = strawberry.field(
        description="The instance's id (i-…, or an on-premises instance's name), as the "
        "deployment's instance list names it."
    )
    status: InstanceState | None
    upstream_status: str | None = upstream_field()
    last_updated_at: datetime | None
    lifecycle_events: list[LifecycleEvent]
    instance_type: InstanceLabel | None = strawberry.field(
        description="BLUE or GREEN in a blue/green deployment; null otherwise."
    )
    upstream_instance_type: str | None = upstream_field()

    def node_key(self) -> NodeKey:
        return self.key

    @classmethod
    def from_model(
        cls, model: models.InstanceSummary, where: AccountRegion, asked: tuple[str, str]
    ) -> "InstanceSummary":
        """``model`` read in ``where`` as ``asked`` (deployment id, instance id): CodeDeploy's
        own names first, what was asked where it left one out."""
        deployment_id = model.deployment_id or asked[0]
        instance_id = model.instance_id or asked[1]
        return cls(
            key=NodeKey(Kind.INSTANCE, where, (deployment_id, instance_id)),
            account=where.account,
            region=where.region,
            deployment_id=strawberry.ID(deployment_id),
            instance_id=strawberry.ID(instance_id),
            status=_member(InstanceState, model.status),
            upstream_status=model.status,
            last_updated_at=model.last_updated_at,
            lifecycle_events=[LifecycleEvent.from_model(e) for e in model.lifecycle_events],
            instance_type=_member(InstanceLabel, model.instance_type),
            upstream_instance_type=model.instance_type,
        )


@strawberry.type(description="Instance counts by status.")
class DeploymentOverview:
    pending: int | None
    in_progress: int | None
    succeeded: int | None
    failed: int | None
    skipped: int | None
    ready: int | None

    @classmethod
    def from_model(cls, model: models.DeploymentOverview) -> "DeploymentOverview":
        return cls(**model.model_dump())


@strawberry.type(description="In-place or blue/green, with or without a load balancer.")
class DeploymentStyle:
    deployment_type: str | None
    deployment_option: str | None


@strawberry.type(description="Why a deployment failed.")
class ErrorInformation:
    code: str | None
    message: str | None


# A deployment's less common parts: the domain's models as they are.
@strawberry.experimental.pydantic.type(
    model=models.S3Location, all_fields=True, description="A revision in S3."
)
class S3Location:
    pass


@strawberry.experimental.pydantic.type(
    model=models.GitHubLocation, all_fields=True, description="A revision in GitHub."
)
class GitHubLocation:
    pass


@strawberry.experimental.pydantic.type(
    model=models.AppSpecContent, all_fields=True, description="An AppSpec given inline."
)
class AppSpecContent:
    pass


@strawberry.experimental.pydantic.type(
    model=models.RevisionLocation,
    all_fields=True,
    description="Where the deployed revision came from.",
)
class RevisionLocation:
    pass


@strawberry.experimental.pydantic.type(
    model=models.RollbackInfo, all_fields=True, description="A rollback and what caused it."
)
class RollbackInfo:
    pass


@strawberry.experimental.pydantic.type(
    model=models.AutoRollbackConfiguration,
    all_fields=True,
    description="Whether, and on which events, CodeDeploy rolls the deployment back.",
)
class AutoRollbackConfiguration:
    pass


@strawberry.experimental.pydantic.type(
    model=models.RelatedDeployments,
    all_fields=True,
    description="Deployments CodeDeploy made to update outdated instances.",
)
class RelatedDeployments:
    pass


@strawberry.interface(description="What every kind of deployment target reports.")
class Target(Node):
    key: strawberry.Private[NodeKey]
    account: str = strawberry.field(description="The alias of the account it was read in.")
    region: str = strawberry.field(description="The region it was read in.")
    deployment_id: strawberry.ID
    target_id: strawberry.ID
    status: InstanceState | None
    upstream_status: str | None = upstream_field()
    last_updated_at: datetime | None
    lifecycle_events: list[LifecycleEvent]

    def node_key(self) -> NodeKey:
        return self.key


def _target_fields(
    model: models.TargetBase, where: AccountRegion, asked: tuple[str, str]
) -> dict[str, Any]:
    deployment_id = model.deployment_id or asked[0]
    target_id = model.target_id or asked[1]
    return {
        "key": NodeKey(Kind.TARGET, where, (deployment_id, target_id)),
        "account": where.account,
        "region": where.region,
        "deployment_id": strawberry.ID(deployment_id),
        "target_id": strawberry.ID(target_id),
        "status": _member(InstanceState, model.status),
        "upstream_status": model.status,
        "last_updated_at": model.last_updated_at,
        "lifecycle_events": [LifecycleEvent.from_model(e) for e in model.lifecycle_events],
    }


@strawberry.type(description="An EC2/on-premises instance (targets API).")
class InstanceTarget(Target):
    target_arn: str | None
    instance_label: InstanceLabel | None
    upstream_instance_label: str | None = upstream_field()

    @classmethod
    def from_model(
        cls, model: models.InstanceTarget, where: AccountRegion, asked: tuple[str, str]
    ) -> "InstanceTarget":
        return cls(
            **_target_fields(model, where, asked),
            target_arn=model.target_arn,
            instance_label=_member(InstanceLabel, model.instance_label),
            upstream_instance_label=model.instance_label,
        )


@strawberry.type(description="Traffic shifting between a Lambda alias's versions.")
class LambdaFunctionInfo:
    function_name: str | None
    function_alias: str | None
    current_version: str | None
    target_version: str | None
    target_version_weight: float | None


@strawberry.type(description="A Lambda function alias being shifted to a new version.")
class LambdaTarget(Target):
    target_arn: str | None
    lambda_function_info: LambdaFunctionInfo | None

    @classmethod
    def from_model(
        cls, model: models.LambdaTarget, where: AccountRegion, asked: tuple[str, str]
    ) -> "LambdaTarget":
        info = model.lambda_function_info
        return cls(
            **_target_fields(model, where, asked),
            target_arn=model.target_arn,
            lambda_function_info=LambdaFunctionInfo(**info.model_dump()) if info else None,
        )


@strawberry.type(description="An ECS task set (CodeDeploy spells its id `identifer`).")
class EcsTaskSet:
    identifier: str | None
    desired_count: int | None
    pending_count: int | None
    running_count: int | None
    status: str | None
    traffic_weight: float | None
    target_group_name: str | None
    task_set_label: InstanceLabel | None
    upstream_task_set_label: str | None = upstream_field()


@strawberry.type(description="An Amazon ECS service and its blue and green task sets.")
class EcsTarget(Target):
    target_arn: str | None
    task_sets_info: list[EcsTaskSet]

    @classmethod
    def from_model(
        cls, model: models.EcsTarget, where: AccountRegion, asked: tuple[str, str]
    ) -> "EcsTarget":
        return cls(
            **_target_fields(model, where, asked),
            target_arn=model.target_arn,
            task_sets_info=[
                EcsTaskSet(
                    identifier=task_set.identifer,
                    desired_count=task_set.desired_count,
                    pending_count=task_set.pending_count,
                    running_count=task_set.running_count,
                    status=task_set.status,
                    traffic_weight=task_set.traffic_weight,
                    target_group_name=task_set.target_group.name if task_set.target_group else None,
                    task_set_label=_member(InstanceLabel, task_set.task_set_label),
                    upstream_task_set_label=task_set.task_set_label,
                )
                for task_set in model.task_sets_info
            ],
        )


@strawberry.type(description="A resource of a CloudFormation blue/green deployment.")
class CloudFormationTarget(Target):
    resource_type: str | None
    target_version_weight: float | None

    @classmethod
    def from_model(
        cls, model: models.CloudFormationTarget, where: AccountRegion, asked: tuple[str, str]
    ) -> "CloudFormationTarget":
        return cls(
            **_target_fields(model, where, asked),
            resource_type=model.resource_type,
            target_version_weight=model.target_version_weight,
        )


DeploymentTarget = Annotated[
    InstanceTarget | LambdaTarget | EcsTarget | CloudFormationTarget,
    strawberry.union("DeploymentTarget", description="What a deployment deploys to."),
]


def target_from_model(
    model: models.DeploymentTarget, where: AccountRegion, asked: tuple[str, str]
) -> InstanceTarget | LambdaTarget | EcsTarget | CloudFormationTarget | None:
    """The GraphQL type of whichever kind of target CodeDeploy sent (None if a new kind),
    read in ``where`` as ``asked`` (deployment id, target id)."""
    if model.instance_target is not None:
        return InstanceTarget.from_model(model.instance_target, where, asked)
    if model.lambda_target is not None:
        return LambdaTarget.from_model(model.lambda_target, where, asked)
    if model.ecs_target is not None:
        return EcsTarget.from_model(model.ecs_target, where, asked)
    if model.cloud_formation_target is not None:
        return CloudFormationTarget.from_model(model.cloud_formation_target, where, asked)
    return None
