"""GraphQL types: CodeDeploy's fields in camelCase, enums in GraphQL style."""

from datetime import datetime
from enum import StrEnum
from typing import TypeVar

import strawberry

from service import models

# The domain enums become GraphQL enums; their member names are the GraphQL values.
strawberry.enum(models.InstanceStatus, description="An instance's deployment status.")
strawberry.enum(models.LifecycleEventStatus, description="A lifecycle event's status.")
strawberry.enum(models.LifecycleErrorCode, description="The outcome of a lifecycle script.")
strawberry.enum(models.InstanceType, description="A blue/green instance's environment.")

E = TypeVar("E", bound=StrEnum)


def _member(enum: type[E], value: str | None, fallback: E | None) -> E | None:
    """A value AWS adds later answers with the fallback instead of failing the query."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        return fallback


@strawberry.type(description="Diagnostic information about a lifecycle event.")
class Diagnostics:
    error_code: models.LifecycleErrorCode | None
    script_name: str | None
    message: str | None
    log_tail: str | None = strawberry.field(
        description="The last portion of the script's log, up to 4 KB."
    )

    @classmethod
    def from_model(cls, model: models.Diagnostics) -> "Diagnostics":
        return cls(
            error_code=_member(
                models.LifecycleErrorCode, model.error_code, models.LifecycleErrorCode.UNKNOWN_ERROR
            ),
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
    status: models.LifecycleEventStatus | None

    @classmethod
    def from_model(cls, model: models.LifecycleEvent) -> "LifecycleEvent":
        return cls(
            lifecycle_event_name=model.lifecycle_event_name,
            diagnostics=Diagnostics.from_model(model.diagnostics) if model.diagnostics else None,
            start_time=model.start_time,
            end_time=model.end_time,
            status=_member(
                models.LifecycleEventStatus, model.status, models.LifecycleEventStatus.UNKNOWN
            ),
        )


@strawberry.type(description="An instance in a deployment, as CodeDeploy reports it.")
class InstanceSummary:
    deployment_id: strawberry.ID | None
    instance_id: strawberry.ID | None = strawberry.field(
        description="The id as CodeDeploy returns it (the instance id, or its ARN)."
    )
    status: models.InstanceStatus | None
    last_updated_at: datetime | None
    lifecycle_events: list[LifecycleEvent]
    instance_type: models.InstanceType | None = strawberry.field(
        description="Blue or Green in a blue/green deployment; null otherwise."
    )

    @classmethod
    def from_model(cls, model: models.InstanceSummary) -> "InstanceSummary":
        return cls(
            deployment_id=strawberry.ID(model.deployment_id) if model.deployment_id else None,
            instance_id=strawberry.ID(model.instance_id) if model.instance_id else None,
            status=_member(models.InstanceStatus, model.status, models.InstanceStatus.UNKNOWN),
            last_updated_at=model.last_updated_at,
            lifecycle_events=[LifecycleEvent.from_model(e) for e in model.lifecycle_events],
            instance_type=_member(models.InstanceType, model.instance_type, None),
        )
