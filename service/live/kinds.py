"""What a live event can be about, and how each kind is written: one table for the
watchers' events and for the fleet's record of them."""

from dataclasses import dataclass
from typing import Any, Literal

from service.models import DeploymentInfo, DeploymentTarget, InstanceSummary

Kind = Literal["deployment", "instance", "target"]


@dataclass(frozen=True, slots=True)
class EventKind:
    member: bytes
    """An event's data is what GET answers for its item: the item's JSON under this member."""
    model: type[Any]
    """What the item's JSON is, read back from the fleet's store."""


KINDS: dict[Kind, EventKind] = {
    "deployment": EventKind(b"deploymentInfo", DeploymentInfo),
    "instance": EventKind(b"instanceSummary", InstanceSummary),
    "target": EventKind(b"deploymentTarget", DeploymentTarget),
}
