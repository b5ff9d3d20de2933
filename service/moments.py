"""Moments as both faces take and give them: RFC 3339 in, ISO 8601 in UTC with ``Z`` out,
whatever zone botocore or a caller used."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, TypeAdapter


def as_utc(value: datetime) -> datetime:
    # botocore hands timestamps over in the machine's local zone.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
_UTC_DATETIME: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)


# An RFC 3339 date-time with its offset, and nothing else (no epoch numbers, no dates, no
# local times): what both faces take as a moment. Years 0002 to 9998: at the ends, an
# offset moves the moment out of the years a UTC datetime can hold.
_YEAR = r"(?:[1-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8]|0[1-9]\d{2}|00[1-9]\d|000[2-9])"
_TIME = r"\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
RFC_3339 = rf"^{_YEAR}-\d{{2}}-\d{{2}}[Tt ]{_TIME}$"
_RFC_3339 = re.compile(RFC_3339)


def parse_moment(value: object) -> datetime:
    """``value`` as a moment; ``ValueError`` for anything but an RFC 3339 date-time with
    its offset (a time without one names no instant)."""
    if not isinstance(value, str) or not _RFC_3339.match(value):
        raise ValueError("an RFC 3339 date-time with its offset, e.g. 2026-11-01T00:00:00Z")
    return datetime.fromisoformat(value.upper().replace(" ", "T"))


def wire_time(value: datetime) -> str:
    """A timestamp as every face sends it: ISO 8601 in UTC with ``Z``, as REST's JSON has it."""
    text: str = _UTC_DATETIME.dump_python(as_utc(value), mode="json")
    return text


def utc_everywhere(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, dict):
        return {key: utc_everywhere(item) for key, item in value.items()}
    if isinstance(value, list):
        return [utc_everywhere(item) for item in value]
    return value
