"""Object ids (GraphQL's Global Object Identification): what an object is, in which account
and region, as one opaque string a client keeps and gives back to ``node(id:)``.

An id is the URL-safe base64 of a JSON array, ``[kind, account, region, *natural key]``:
made from what names the object, never from a secret, so every process and replica makes
the same one and reads it back. Clients treat it as opaque; only this module reads it.
"""

import binascii
import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from enum import StrEnum

import strawberry

from service.accounts import AccountRegion
from service.cache import Recording
from service.codedeploy.inputs import require_application, require_group, require_ids
from service.errors import InvalidRequest
from service.reads import Caches

# Longer than any id made here (an ARN-sized target id in a long account alias), short
# enough that reading one costs nothing: longer input is refused before it is decoded.
MAX_ID_LENGTH = 2048
NAMES_NOTHING = "Not an id of this gateway: it names no object it reads."


class Kind(StrEnum):
    """What an id names, and so how ``node(id:)`` reads it."""

    APPLICATION = "Application"
    DEPLOYMENT_GROUP = "DeploymentGroup"
    DEPLOYMENT = "Deployment"
    INSTANCE = "Instance"
    TARGET = "Target"


# The natural key's parts, in order, per kind.
PARTS: dict[Kind, tuple[str, ...]] = {
    Kind.APPLICATION: ("applicationName",),
    Kind.DEPLOYMENT_GROUP: ("applicationName", "deploymentGroupName"),
    Kind.DEPLOYMENT: ("deploymentId",),
    Kind.INSTANCE: ("deploymentId", "instanceId"),
    Kind.TARGET: ("deploymentId", "targetId"),
}


@dataclass(frozen=True, slots=True)
class NodeKey:
    """One object: its kind, where it lives, and its natural key (``PARTS[kind]``)."""

    kind: Kind
    where: AccountRegion
    parts: tuple[str, ...]

    @property
    def id(self) -> strawberry.ID:
        named = [self.kind.value, self.where.account, self.where.region, *self.parts]
        encoded = urlsafe_b64encode(json.dumps(named, separators=(",", ":")).encode())
        return strawberry.ID(encoded.rstrip(b"=").decode())

    @classmethod
    def parse(cls, value: str) -> "NodeKey":
        """The key ``value`` names; ``InvalidRequest`` (BAD_USER_INPUT) for anything this
        gateway never made. Where it lives is checked when it is read, not here."""
        if len(value) > MAX_ID_LENGTH:
            raise InvalidRequest(f"Not an id: longer than {MAX_ID_LENGTH} characters.")
        try:
            named = json.loads(urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        # RecursionError: JSON nested past the parser's depth fits in a short id.
        except (binascii.Error, ValueError, RecursionError) as error:
            raise InvalidRequest(NAMES_NOTHING) from error
        if not isinstance(named, list) or len(named) < 3:
            raise InvalidRequest(NAMES_NOTHING)
        kind, account, region, *parts = named
        return cls.of(kind, account, region, parts)

    @classmethod
    def of(cls, kind: object, account: object, region: object, parts: list[object]) -> "NodeKey":
        """A key from its parts as a client sent them: every one a non-empty string."""
        named = (kind, account, region, *parts)
        if (
            not all(isinstance(part, str) and part for part in named)
            or kind not in PARTS
            or len(parts) != len(PARTS[Kind(str(kind))])
        ):
            raise InvalidRequest(NAMES_NOTHING)
        known = Kind(str(kind))
        key = cls(known, AccountRegion(str(account), str(region)), tuple(map(str, parts)))
        key.require()
        return key

    def require(self) -> None:
        """The checks the root fields make of the same names: a name CodeDeploy would refuse
        is ``BAD_USER_INPUT`` here, before any call or log line carries it."""
        match self.kind, self.parts:
            case Kind.APPLICATION, (application,):
                require_application(application)
            case Kind.DEPLOYMENT_GROUP, (application, group):
                require_application(application)
                require_group(group)
            case Kind.DEPLOYMENT, (deployment_id,):
                require_ids(deployment_id=deployment_id)
            case Kind.INSTANCE, (deployment_id, instance_id):
                require_ids(deployment_id=deployment_id, instance_id=instance_id)
            case Kind.TARGET, (deployment_id, target_id):
                require_ids(deployment_id=deployment_id, target_id=target_id)


# Federation's entity types by their __typename: what each representation names.
ENTITIES: dict[str, Kind] = {
    "Application": Kind.APPLICATION,
    "DeploymentGroup": Kind.DEPLOYMENT_GROUP,
    "Deployment": Kind.DEPLOYMENT,
    "InstanceSummary": Kind.INSTANCE,
    "InstanceTarget": Kind.TARGET,
    "LambdaTarget": Kind.TARGET,
    "EcsTarget": Kind.TARGET,
    "CloudFormationTarget": Kind.TARGET,
}


def entity_key(representation: object) -> NodeKey:
    """The key a federation representation names: by its ``id``, or by its natural key
    (``account``, ``region`` and the kind's ``PARTS``, as the type's @key fields say)."""
    if not isinstance(representation, dict):
        raise InvalidRequest("A representation is an object with its __typename.")
    typename = representation.get("__typename")
    kind = ENTITIES.get(typename) if isinstance(typename, str) else None
    if kind is None:
        raise InvalidRequest("A representation's __typename is not an entity of this subgraph.")
    if "id" in representation:
        key = NodeKey.parse(representation["id"]) if isinstance(representation["id"], str) else None
        if key is None or key.kind is not kind:
            raise InvalidRequest(f"Not an id of a {typename}.")
        return key
    parts = [representation.get(name) for name in PARTS[kind]]
    try:
        return NodeKey.of(kind, representation.get("account"), representation.get("region"), parts)
    except InvalidRequest as error:
        fields = ", ".join(("account", "region", *PARTS[kind]))
        raise InvalidRequest(f"A {typename} is named by its id, or by {fields}.") from error


def stale_objects(reads: Recording, caches: Caches) -> list[dict[str, object]]:
    """What an answer gave past its lifetime, for ``extensions.stale``: each object by
    its id (a normalised cache marks it), a list page as ``list``; with its age in seconds
    and the code of the failure it stands in for."""
    kinds = {
        id(caches.applications): Kind.APPLICATION,
        id(caches.groups): Kind.DEPLOYMENT_GROUP,
        id(caches.deployments): Kind.DEPLOYMENT,
        id(caches.instances): Kind.INSTANCE,
        id(caches.targets): Kind.TARGET,
    }
    named: dict[str, dict[str, object]] = {}
    for cache, key, info in reads.stale:
        kind = kinds.get(id(cache))
        parts = tuple(map(str, key)) if isinstance(key, tuple) else ()
        name: dict[str, object]
        if kind is None or len(parts) < 2 + len(PARTS[kind]):
            name = {"list": True}
        else:
            where = AccountRegion(parts[0], parts[1])
            name = {"id": NodeKey(kind, where, parts[-len(PARTS[kind]) :]).id}
        before = named.get(str(name), {"age": -1})
        if info.age > int(str(before["age"])):  # the oldest, when a name comes twice
            named[str(name)] = {**name, "age": info.age, "reason": info.stale}
    return list(named.values())
