"""Domain models: CodeDeploy's answers, typed, with AWS's own field names on the wire.

Enumerated fields stay plain strings so a value AWS adds later passes through REST
unchanged; the ``StrEnum`` classes name the values known today for the faces that
need them (GraphQL, cache policy).
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


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


TERMINAL_STATUSES = frozenset(
    {InstanceStatus.SUCCEEDED, InstanceStatus.FAILED, InstanceStatus.SKIPPED}
)


def _as_utc(value: datetime) -> datetime:
    # botocore hands timestamps over in the machine's local zone.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def _open_enum(enum: type[StrEnum], example: str) -> object:
    known = ", ".join(member.value for member in enum)
    return Field(
        default=None,
        description=f"Known values: {known}. A value AWS adds later is passed through as sent.",
        examples=[example],
    )


class AwsModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, frozen=True, extra="ignore"
    )


class Diagnostics(AwsModel):
    """Diagnostic information about a lifecycle event."""

    error_code: str | None = _open_enum(LifecycleErrorCode, "ScriptFailed")  # type: ignore[assignment]
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
    status: str | None = _open_enum(LifecycleEventStatus, "Failed")  # type: ignore[assignment]


class InstanceSummary(AwsModel):
    """An instance in a deployment, as CodeDeploy's GetDeploymentInstance returns it."""

    deployment_id: str | None = Field(default=None, examples=["d-EXAMPLE01"])
    instance_id: str | None = Field(
        default=None, examples=["arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60002"]
    )
    status: str | None = _open_enum(InstanceStatus, "Failed")  # type: ignore[assignment]
    last_updated_at: UtcDatetime | None = None
    lifecycle_events: list[LifecycleEvent] = Field(default_factory=list)
    instance_type: str | None = _open_enum(InstanceType, "Blue")  # type: ignore[assignment]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class GetDeploymentInstanceOutput(AwsModel):
    """GetDeploymentInstance's output shape."""

    instance_summary: InstanceSummary
