"""What REST has deprecated, and what a request that uses it is told: ``Deprecation``
(RFC 9745) from the release that deprecated it, ``Link`` to where the replacement is
documented, and ``Sunset`` (RFC 8594) once a removal date is set (docs: Change policy)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Deprecated:
    since: datetime
    sunset: datetime | None = None

    def documented(self, what: str) -> dict[str, dict[str, Any]]:
        """The headers as OpenAPI describes a response's."""
        when = f"Sent when the request uses {what}, deprecated"
        headers = {
            "Deprecation": f"{when}: RFC 9745, `@` and when it was deprecated.",
            "Link": f"{when}: where its replacement is documented (rel=deprecation).",
        }
        if self.sunset is not None:
            headers["Sunset"] = f"{when}: RFC 8594, when it will be removed."
        return {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }

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
