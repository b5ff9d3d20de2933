"""What CodeDeploy accepts as an id, a name or a time, checked before a call: a value it
would refuse gets CodeDeploy's own answer (code and status), and costs no call."""

import re
from datetime import UTC, datetime

from service import codes
from service.errors import GatewayError, InvalidRequest

# What an id CodeDeploy issues or accepts can hold: EC2 ids, on-premises names, ARNs,
# Lambda function:alias, ECS cluster:service. Anything else is refused before a call.
ID_PATTERN = r"[A-Za-z0-9._:/@+=,-]{1,256}"
_ID = re.compile(ID_PATTERN)
# Application and deployment group names: 1 to 100 characters, as CodeDeploy takes them.
NAME_PATTERN = r"[A-Za-z0-9._+=,@ -]{1,100}"
_NAME = re.compile(NAME_PATTERN)


def _id_error(value: str, what: str, required: str, invalid: str) -> GatewayError | None:
    if not value:
        return InvalidRequest(f"{what} is required.", code=required)
    if not _ID.fullmatch(value):
        return InvalidRequest(
            f"{what} must be 1 to 256 letters, digits or . _ : / @ + = , - characters.",
            code=invalid,
        )
    return None


def instance_id_error(instance_id: str) -> GatewayError | None:
    """CodeDeploy's answer for an empty or malformed instance id, if it is one: in a batch,
    that id's outcome, not the whole batch's."""
    return _id_error(
        instance_id, "Instance ID", codes.INSTANCE_ID_REQUIRED, codes.INVALID_INSTANCE_NAME
    )


def require_ids(
    *, deployment_id: str, instance_id: str | None = None, target_id: str | None = None
) -> None:
    error = _id_error(
        deployment_id, "Deployment ID", codes.DEPLOYMENT_ID_REQUIRED, codes.INVALID_DEPLOYMENT_ID
    )
    if error is None and instance_id is not None:
        error = instance_id_error(instance_id)
    if error is None and target_id is not None:
        error = _id_error(
            target_id,
            "Target ID",
            codes.DEPLOYMENT_TARGET_ID_REQUIRED,
            codes.INVALID_DEPLOYMENT_TARGET_ID,
        )
    if error is not None:
        raise error


def require_application(name: str) -> None:
    _require_name(
        name, "Application name", codes.APPLICATION_NAME_REQUIRED, codes.INVALID_APPLICATION_NAME
    )


def require_group(name: str) -> None:
    _require_name(
        name,
        "Deployment group name",
        codes.DEPLOYMENT_GROUP_NAME_REQUIRED,
        codes.INVALID_DEPLOYMENT_GROUP_NAME,
    )


def _require_name(value: str, what: str, required: str, invalid: str) -> None:
    if not value:
        raise InvalidRequest(f"{what} is required.", code=required)
    if not _NAME.fullmatch(value):
        raise InvalidRequest(
            f"{what} must be 1 to 100 letters, digits, spaces or . _ + = , @ - characters.",
            code=invalid,
        )


def utc(moment: datetime | None) -> datetime | None:
    """An instant in UTC, one key for every offset it can be written in."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # year 1 at +14:00 has no UTC year
        raise InvalidRequest(
            "A time is outside the years CodeDeploy can store.", code=codes.INVALID_TIME_RANGE
        ) from exc
