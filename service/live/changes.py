"""What the watchers find: changes, each of one kind of item, and how each kind is
written, one table for the watchers' events and for the fleet's record of them."""

from dataclasses import dataclass
from typing import Any, Literal

from service.accounts import AccountRegion
from service.models import DeploymentGroupInfo, DeploymentInfo, DeploymentTarget, InstanceSummary
from service.snapshot import Snapshot

Kind = Literal["group", "deployment", "instance", "target"]


@dataclass(frozen=True, slots=True)
class EventKind:
    member: bytes
    """An event's data is what GET answers for its item: the item's JSON under this member."""
    model: type[Any]
    """What the item's JSON is, read back from the fleet's store."""


KINDS: dict[Kind, EventKind] = {
    "group": EventKind(b"deploymentGroupInfo", DeploymentGroupInfo),
    "deployment": EventKind(b"deploymentInfo", DeploymentInfo),
    "instance": EventKind(b"instanceSummary", InstanceSummary),
    "target": EventKind(b"deploymentTarget", DeploymentTarget),
}


@dataclass(frozen=True, slots=True)
class Change:
    """An item as it is now, numbered by the change that made it so."""

    seq: int
    kind: Kind
    item_id: str
    snapshot: Snapshot[Any]
    event_id: str

    @property
    def frame(self) -> bytes:
        """The server-sent event. Made for each viewer rather than kept: the snapshot is
        the cache's own object, and a kept copy would double what a watcher holds."""
        return b'id: %s\nevent: %s\ndata: {"%s":%s}\n\n' % (
            self.event_id.encode(),
            self.kind.encode(),
            KINDS[self.kind].member,
            self.snapshot.body,
        )


@dataclass(frozen=True, slots=True)
class Watched:
    """What one watcher reads: a deployment of one account in one region."""

    where: AccountRegion
    deployment_id: str
