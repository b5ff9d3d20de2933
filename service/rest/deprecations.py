"""What REST has deprecated, and what a request that uses it is told: ``Deprecation``
(RFC 9745) from the release that deprecated it, ``Link`` to where the replacement is
documented, and ``Sunset`` (RFC 8594) once a removal date is set (docs: Change policy)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime


@dataclass(frozen=True, slots=True)
class Deprecated:
    since: datetime
    sunset: datetime | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "Deprecation": f"@{int(self.since.timestamp())}",
            "Link": '</docs>; rel="deprecation"; type="text/html"',
        }
        if self.sunset is not None:
            headers["Sunset"] = format_datetime(self.sunset, usegmt=True)
        return headers


# GetDeploymentGroupStats' `since`: the lists call the same filter `createdAfter` (1.0.0).
STATS_SINCE = Deprecated(since=datetime(2026, 12, 6, tzinfo=UTC))
