"""Domain models: CodeDeploy's answers, typed, with AWS's own field names on the wire.

Enumerated fields stay plain strings so a value AWS adds later passes through REST
unchanged; the ``StrEnum`` classes name the values known today for the faces that
need them (GraphQL, cache policy).
"""

from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.alias_generators import to_camel

from service.errors import ErrorCode, GatewayError
from service.moments import UtcDatetime, utc_everywhere


class InstanceStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    UNKNOWN = "Unknown"
    READY = "Ready"


class LifecycleEventStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    UNKNOWN = "Unknown"


class LifecycleErrorCode(StrEnum):
    SUCCESS = "Success"
    SCRIPT_MISSING = "ScriptMissing"
    SCRIPT_NOT_EXECUTABLE = "ScriptNotExecutable"
    SCRIPT_TIMED_OUT = "ScriptTimedOut"
    SCRIPT_FAILED = "ScriptFailed"
    UNKNOWN_ERROR = "UnknownError"


class InstanceType(StrEnum):
    BLUE = "Blue"
    GREEN = "Green"


class DeploymentStatus(StrEnum):
    CREATED = "Created"
    QUEUED = "Queued"
    IN_PROGRESS = "InProgress"
    BAKING = "Baking"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPED = "Stopped"
    READY = "Ready"


TERMINAL_STATUSES = frozenset(
    {InstanceStatus.SUCCEEDED, InstanceStatus.FAILED, InstanceStatus.SKIPPED}
)
TERMINAL_DEPLOYMENT_STATUSES = frozenset(
    {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.STOPPED}
)


def _open_enum(enum: type[StrEnum], example: str) -> Any:
    """A field documented with ``enum``'s values, taking any string: a pydantic ``Field``,
    typed ``Any`` as ``Field`` itself is, so it stands for the field's own type."""
    known: list[JsonValue] = [member.value for member in enum]
    return Field(
        default=None,
        description=f"Known values: {', '.join(enum)}. A value AWS adds later is passed "
        "through as sent.",
        examples=[example],
        json_schema_extra={"x-extensible-enum": known},
    )


M = TypeVar("M", bound=BaseModel)


class AwsModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, frozen=True, extra="ignore"
    )


def _always_sent(*fields: str) -> ConfigDict:
    """Marks fields the gateway always sends (a default, never None) as required in the
    schema, so generated clients need not treat them as optional."""

    def mark(schema: dict[str, Any]) -> None:
        schema["required"] = [*schema.get("required", []), *fields]

    return ConfigDict(json_schema_extra=mark)


class PassThroughModel(AwsModel):
    """Typed where the gateway needs it; every other field CodeDeploy sends passes through."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _normalise_extra_timestamps(cls, data: Any) -> Any:
        return utc_everywhere(data)


class Diagnostics(AwsModel):
    """Diagnostic information about a lifecycle event."""

    error_code: str | None = _open_enum(LifecycleErrorCode, "ScriptFailed")
    script_name: str | None = None
    message: str | None = None
    log_tail: str | None = Field(
        default=None, description="The last portion of the script's log, up to 4 KB."
    )


class LifecycleEvent(AwsModel):
    """One deployment lifecycle event on an instance (ApplicationStop, BeforeInstall, ...)."""

    lifecycle_event_name: str | None = Field(default=None, examples=["ApplicationStart"])
    diagnostics: Diagnostics | None = None
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None
    status: str | None = _open_enum(LifecycleEventStatus, "Failed")


class InstanceSummary(AwsModel):
    """An instance in a deployment, as CodeDeploy's GetDeploymentInstance returns it."""

    model_config = _always_sent("lifecycleEvents")

    deployment_id: str | None = Field(default=None, examples=["d-EXAMPLE01"])
    instance_id: str | None = Field(default=None, examples=["i-0a1b2c3d4e5f60002"])
    status: str | None = _open_enum(InstanceStatus, "Failed")
    last_updated_at: UtcDatetime | None = None
    lifecycle_events: list[LifecycleEvent] = Field(default_factory=list)
    instance_type: str | None = _open_enum(InstanceType, "Blue")

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_target(cls, target: "InstanceTarget") -> "InstanceSummary":
        """The targets API's view of an EC2/on-premises instance, in the instances API's shape."""
        return cls(
            deployment_id=target.deployment_id,
            instance_id=target.target_id,
            status=target.status,
            last_updated_at=target.last_updated_at,
            lifecycle_events=target.lifecycle_events,
            instance_type=target.instance_label,
        )


class GetDeploymentInstanceOutput(AwsModel):
    """GetDeploymentInstance's output shape."""

    instance_summary: InstanceSummary


# The codes as OpenAPI declares them: this version's set, which a minor release may grow.
OPEN_CODES: dict[str, JsonValue] = {"x-extensible-enum": [code.value for code in ErrorCode]}


class ItemError(AwsModel):
    """One id a batch read could not return, told as a problem of its own."""

    id: str = Field(examples=["i-nothere"])
    code: ErrorCode = Field(examples=[ErrorCode.INSTANCE_NOT_FOUND], json_schema_extra=OPEN_CODES)
    status: int = Field(examples=[404])
    detail: str

    @classmethod
    def of(cls, id_: str, error: GatewayError) -> "ItemError":
        return cls(id=id_, code=error.code, status=error.status, detail=error.detail)


class BatchGetDeploymentInstancesOutput(AwsModel):
    """BatchGetDeploymentInstances' output shape, and one entry per id it could not return."""

    model_config = _always_sent("errors")

    instances_summary: list[InstanceSummary]
    errors: list[ItemError] = Field(
        default_factory=list,
        description="One entry per requested id that could not be returned, in the order asked.",
    )
    error_message: str | None = Field(
        default=None,
        deprecated=True,
        description="Deprecated: read `errors`. The same failures, in prose.",
    )


class ListDeploymentInstancesOutput(AwsModel):
    """ListDeploymentInstances' output shape: one page of instance ids."""

    instances_list: list[str]
    next_token: str | None = Field(
        default=None, description="Pass as `nextToken` for the next page."
    )


class ListDeploymentInstanceSummariesOutput(AwsModel):
    """One page of the list, each id batch-read into its summary."""

    instances_summary: list[InstanceSummary]
    next_token: str | None = None


class IdPage(AwsModel):
    """One page of ids from a List* call; ``next_token`` is CodeDeploy's, opaque."""

    ids: list[str]
    next_token: str | None = None


# --- GetDeployment ---------------------------------------------------------------------


class DeploymentOverview(BaseModel):
    """Instance counts by status; CodeDeploy capitalises these keys."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    pending: int | None = Field(default=None, alias="Pending")
    in_progress: int | None = Field(default=None, alias="InProgress")
    succeeded: int | None = Field(default=None, alias="Succeeded")
    failed: int | None = Field(default=None, alias="Failed")
    skipped: int | None = Field(default=None, alias="Skipped")
    ready: int | None = Field(default=None, alias="Ready")


class DeploymentStyle(AwsModel):
    deployment_type: str | None = Field(default=None, examples=["IN_PLACE"])
    deployment_option: str | None = Field(default=None, examples=["WITHOUT_TRAFFIC_CONTROL"])


class ErrorInformation(AwsModel):
    code: str | None = Field(default=None, examples=["HEALTH_CONSTRAINTS"])
    message: str | None = None


class S3Location(PassThroughModel):
    bucket: str | None = None
    key: str | None = None
    bundle_type: str | None = Field(default=None, examples=["zip"])
    version: str | None = None
    e_tag: str | None = None


class GitHubLocation(PassThroughModel):
    repository: str | None = None
    commit_id: str | None = None


class AppSpecContent(PassThroughModel):
    content: str | None = None
    sha256: str | None = None


class RevisionLocation(PassThroughModel):
    """Where the deployed revision came from: S3, GitHub, or an AppSpec given inline."""

    revision_type: str | None = Field(default=None, examples=["S3"])
    s3_location: S3Location | None = None
    git_hub_location: GitHubLocation | None = None
    app_spec_content: AppSpecContent | None = None


class AutoRollbackConfiguration(PassThroughModel):
    enabled: bool | None = None
    events: list[str] | None = Field(default=None, examples=[["DEPLOYMENT_FAILURE"]])


class RelatedDeployments(PassThroughModel):
    auto_update_outdated_instances_root_deployment_id: str | None = None
    auto_update_outdated_instances_deployment_ids: list[str] | None = None


class RollbackInfo(PassThroughModel):
    rollback_deployment_id: str | None = None
    rollback_triggering_deployment_id: str | None = None
    rollback_message: str | None = None


class DeploymentInfo(PassThroughModel):
    """A deployment as GetDeployment returns it; fields not named here pass through."""

    deployment_id: str | None = Field(default=None, examples=["d-EXAMPLE01"])
    application_name: str | None = None
    deployment_group_name: str | None = None
    deployment_config_name: str | None = None
    status: str | None = _open_enum(DeploymentStatus, "Failed")
    compute_platform: str | None = Field(default=None, examples=["Server"])
    deployment_style: DeploymentStyle | None = None
    create_time: UtcDatetime | None = None
    start_time: UtcDatetime | None = None
    complete_time: UtcDatetime | None = None
    deployment_overview: DeploymentOverview | None = None
    error_information: ErrorInformation | None = None
    description: str | None = None
    creator: str | None = Field(default=None, examples=["user"])
    revision: RevisionLocation | None = None
    previous_revision: RevisionLocation | None = None
    rollback_info: RollbackInfo | None = None
    auto_rollback_configuration: AutoRollbackConfiguration | None = None
    related_deployments: RelatedDeployments | None = None
    instance_termination_wait_time_started: bool | None = None
    deployment_status_messages: list[str] | None = None
    ignore_application_stop_failures: bool | None = None
    update_outdated_instances_only: bool | None = None
    file_exists_behavior: str | None = Field(default=None, examples=["DISALLOW"])
    external_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_DEPLOYMENT_STATUSES


class GetDeploymentOutput(AwsModel):
    deployment_info: DeploymentInfo


class BatchGetDeploymentsOutput(AwsModel):
    deployments_info: list[DeploymentInfo]


class ListDeploymentsOutput(AwsModel):
    """ListDeployments' output shape: deployment ids, newest first."""

    deployments: list[str]
    next_token: str | None = Field(
        default=None, description="Pass as `nextToken` for the next page."
    )


# --- Applications and deployment groups --------------------------------------------------


class ApplicationInfo(PassThroughModel):
    """An application as GetApplication returns it; fields not named here pass through."""

    application_id: str | None = None
    application_name: str | None = Field(default=None, examples=["orders-api"])
    create_time: UtcDatetime | None = None
    compute_platform: str | None = Field(default=None, examples=["Server"])


class GetApplicationOutput(AwsModel):
    application: ApplicationInfo


class BatchGetApplicationsOutput(AwsModel):
    applications_info: list[ApplicationInfo]


class LastDeploymentInfo(AwsModel):
    """A deployment group's last successful or last attempted deployment."""

    deployment_id: str | None = Field(default=None, examples=["d-EXAMPLE01"])
    status: str | None = _open_enum(DeploymentStatus, "Failed")
    end_time: UtcDatetime | None = None
    create_time: UtcDatetime | None = None


class DeploymentGroupInfo(PassThroughModel):
    """A deployment group as GetDeploymentGroup returns it (its configuration, and its
    last deployments); fields not named here pass through."""

    application_name: str | None = None
    deployment_group_id: str | None = None
    deployment_group_name: str | None = Field(default=None, examples=["orders-api-prod"])
    deployment_config_name: str | None = None
    service_role_arn: str | None = None
    compute_platform: str | None = None
    deployment_style: DeploymentStyle | None = None
    last_successful_deployment: LastDeploymentInfo | None = None
    last_attempted_deployment: LastDeploymentInfo | None = None


class GetDeploymentGroupOutput(AwsModel):
    deployment_group_info: DeploymentGroupInfo


class BatchGetDeploymentGroupsOutput(AwsModel):
    deployment_groups_info: list[DeploymentGroupInfo]
    error_message: str | None = None


class ListDeploymentGroupsOutput(AwsModel):
    application_name: str | None = None
    deployment_groups: list[str]
    next_token: str | None = None


class ListApplicationsOutput(AwsModel):
    applications: list[str]
    next_token: str | None = None


# --- Deployment targets ------------------------------------------------------------------


class TargetBase(PassThroughModel):
    model_config = _always_sent("lifecycleEvents")

    deployment_id: str | None = None
    target_id: str | None = None
    status: str | None = _open_enum(InstanceStatus, "Succeeded")
    last_updated_at: UtcDatetime | None = None
    lifecycle_events: list[LifecycleEvent] = Field(default_factory=list)


class InstanceTarget(TargetBase):
    """An EC2/on-premises instance in a deployment."""

    target_arn: str | None = None
    instance_label: str | None = _open_enum(InstanceType, "Blue")


class LambdaFunctionInfo(AwsModel):
    function_name: str | None = None
    function_alias: str | None = None
    current_version: str | None = None
    target_version: str | None = None
    target_version_weight: float | None = None


class LambdaTarget(TargetBase):
    """A Lambda function's alias being shifted to a new version."""

    target_arn: str | None = None
    lambda_function_info: LambdaFunctionInfo | None = None


class TargetGroup(AwsModel):
    name: str | None = None


class EcsTaskSet(AwsModel):
    # "identifer" is CodeDeploy's own spelling.
    identifer: str | None = None
    desired_count: int | None = None
    pending_count: int | None = None
    running_count: int | None = None
    status: str | None = None
    traffic_weight: float | None = None
    target_group: TargetGroup | None = None
    task_set_label: str | None = None


class EcsTarget(TargetBase):
    """An Amazon ECS service's task sets."""

    target_arn: str | None = None
    task_sets_info: list[EcsTaskSet] = Field(default_factory=list)


class CloudFormationTarget(TargetBase):
    """A CloudFormation blue/green deployment's resource."""

    resource_type: str | None = None
    target_version_weight: float | None = None


class DeploymentTarget(PassThroughModel):
    """GetDeploymentTarget's ``deploymentTarget``: exactly one of the four kinds is set."""

    deployment_target_type: str | None = Field(
        default=None,
        description="InstanceTarget, LambdaTarget, ECSTarget or CloudFormationTarget.",
        examples=["LambdaTarget"],
    )
    instance_target: InstanceTarget | None = None
    lambda_target: LambdaTarget | None = None
    ecs_target: EcsTarget | None = None
    cloud_formation_target: CloudFormationTarget | None = None

    @property
    def target(self) -> TargetBase | None:
        return (
            self.instance_target
            or self.lambda_target
            or self.ecs_target
            or self.cloud_formation_target
        )

    @property
    def is_terminal(self) -> bool:
        target = self.target
        return target is not None and target.status in TERMINAL_STATUSES


class GetDeploymentTargetOutput(AwsModel):
    deployment_target: DeploymentTarget


class BatchGetDeploymentTargetsOutput(AwsModel):
    """BatchGetDeploymentTargets' output shape, and one entry per id it could not return."""

    model_config = _always_sent("errors")

    deployment_targets: list[DeploymentTarget]
    errors: list[ItemError] = Field(
        default_factory=list,
        description="One entry per requested id that could not be returned, in the order asked.",
    )


class ListDeploymentTargetsOutput(AwsModel):
    """ListDeploymentTargets' output shape: one page of target ids."""

    target_ids: list[str]
    next_token: str | None = Field(
        default=None, description="Pass as `nextToken` for the next page."
    )


class ListDeploymentTargetSummariesOutput(AwsModel):
    """One page of the list, each id batch-read into its target."""

    deployment_targets: list[DeploymentTarget]
    next_token: str | None = None
