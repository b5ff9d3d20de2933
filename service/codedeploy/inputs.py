"""What CodeDeploy accepts as an id, a name or a time, checked before a call: a value it
would refuse gets the answer CodeDeploy's refusal would (BAD_USER_INPUT), and costs no call."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from service.errors import ErrorCode, GatewayError, InvalidRequest

# What an id CodeDeploy issues or accepts can hold: EC2 ids, on-premises names, ARNs,
# Lambda function:alias, ECS cluster:service. Anything else is refused before a call.
ID_PATTERN = r"[A-Za-z0-9._:/@+=,-]{1,256}"
# Application and deployment group names: 1 to 100 characters, as CodeDeploy takes them.
NAME_PATTERN = r"[A-Za-z0-9._+=,@ -]{1,100}"


@dataclass(frozen=True, slots=True)
class _Form:
    """What one kind of value must look like."""

    pattern: re.Pattern[str]
    rule: str
    what: str

    def error(self, value: str) -> GatewayError | None:
        if not value:
            return InvalidRequest(f"{self.what} is required.")
        if not self.pattern.fullmatch(value):
            return InvalidRequest(f"{self.what} must be {self.rule}.")
        return None

    def require(self, value: str) -> None:
        if (error := self.error(value)) is not None:
            raise error


def _id(what: str) -> _Form:
    rule = "1 to 256 letters, digits or . _ : / @ + = , - characters"
    return _Form(re.compile(ID_PATTERN), rule, what)


def _name(what: str) -> _Form:
    rule = "1 to 100 letters, digits, spaces or . _ + = , @ - characters"
    return _Form(re.compile(NAME_PATTERN), rule, what)


_DEPLOYMENT = _id("Deployment ID")
_INSTANCE = _id("Instance ID")
_TARGET = _id("Target ID")
_APPLICATION = _name("Application name")
_GROUP = _name("Deployment group name")


def instance_id_error(instance_id: str) -> GatewayError | None:
    """CodeDeploy's answer for an empty or malformed instance id, if it is one: in a batch,
    that id's outcome, not the whole batch's."""
    return _INSTANCE.error(instance_id)


def require_ids(
    *, deployment_id: str, instance_id: str | None = None, target_id: str | None = None
) -> None:
    _DEPLOYMENT.require(deployment_id)
    if instance_id is not None:
        _INSTANCE.require(instance_id)
    if target_id is not None:
        _TARGET.require(target_id)


def require_application(name: str) -> None:
    _APPLICATION.require(name)


def require_group(name: str) -> None:
    _GROUP.require(name)


def utc(moment: datetime | None) -> datetime | None:
    """An instant in UTC, one key for every offset it can be written in."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # year 1 at +14:00 has no UTC year
        raise InvalidRequest(
            "A time is outside the years CodeDeploy can store.", code=ErrorCode.BAD_USER_INPUT
        ) from exc
