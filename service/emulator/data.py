"""The emulator's data file: deployments, their instances, and injected errors."""

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
)

from service.emulator.rolling import Rolling

DEMO_DATA = Path(__file__).with_name("demo.json")
DEMO_ACCOUNTS = Path(__file__).with_name("demo-accounts.json")
"""The gateway's accounts file for the demo data: its own account and two others."""

HOME_ACCOUNT = "123456789012"
_TIMESTAMP_FIELDS = ("lastUpdatedAt", "startTime", "endTime", "createTime", "completeTime")


class DataError(Exception):
    """The data file cannot be used; the message says where."""


class InjectedError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    message: str = ""
    status: int = Field(default=400, ge=400, le=599)


class Deployment(BaseModel):
    """A deployment: its GetDeployment fields (any extra key passes through), its EC2 or
    on-premises ``instances`` (InstanceSummary objects), and for other compute platforms
    its ``targets`` (DeploymentTarget objects)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    compute_platform: str = Field(default="Server", alias="computePlatform")
    status: str = "Succeeded"
    instances: list[dict[str, Any]] = Field(default_factory=list)
    targets: list[dict[str, Any]] = Field(default_factory=list)

    # Lookups by id, rebuilt when the lists grow (tests append to them); a benchmark
    # fleet of 20,000 instances must not cost a scan per call.
    _index: tuple[int, int, dict[str, dict[str, Any]], dict[str, dict[str, Any]]] = PrivateAttr(
        default=(-1, -1, {}, {})
    )

    def _indexes(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        instances, targets = len(self.instances), len(self.targets)
        if self._index[:2] != (instances, targets):
            self._index = (
                instances,
                targets,
                _by_id(self.instances, lambda summary: str(summary.get("instanceId", ""))),
                _by_id(self.targets, target_id_of),
            )
        return self._index[2], self._index[3]

    def extra(self, name: str) -> Any:
        """A GetDeployment field the file gives beyond the typed ones (None if not)."""
        return (self.model_extra or {}).get(name)

    def info(self, deployment_id: str) -> dict[str, Any]:
        """GetDeployment's ``deploymentInfo``; the overview counted when not given."""
        info: dict[str, Any] = {
            "deploymentId": deployment_id,
            **(self.model_extra or {}),
            "status": self.status,
            "computePlatform": self.compute_platform,
        }
        if "deploymentOverview" not in info:
            counts = Counter(str(target_body(t).get("status")) for t in self.all_targets())
            info["deploymentOverview"] = {status: counts[status] for status in OVERVIEW_STATUSES}
        return info

    def find_instance(self, instance_id: str) -> dict[str, Any] | None:
        """By the id as given or by the last part of an instance ARN, as CodeDeploy does."""
        return self._indexes()[0].get(instance_id)

    def all_targets(self) -> list[dict[str, Any]]:
        """Explicit targets, or for EC2/on-premises the instances seen as InstanceTargets."""
        return self.targets or [_instance_target(summary) for summary in self.instances]

    def find_target(self, target_id: str) -> dict[str, Any] | None:
        if self.targets:
            return self._indexes()[1].get(target_id)
        summary = self.find_instance(target_id)
        return None if summary is None else _instance_target(summary)


def _by_id(
    items: list[dict[str, Any]], id_of: Callable[[dict[str, Any]], str]
) -> dict[str, dict[str, Any]]:
    """Each item under its id and, for an ARN, under the id's last part too."""
    index: dict[str, dict[str, Any]] = {}
    for item in items:
        stored = id_of(item)
        index.setdefault(stored, item)
        index.setdefault(stored.rsplit("/", 1)[-1], item)
    return index


OVERVIEW_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")
TARGET_BODIES = {
    "InstanceTarget": "instanceTarget",
    "LambdaTarget": "lambdaTarget",
    "ECSTarget": "ecsTarget",
    "CloudFormationTarget": "cloudFormationTarget",
}


def target_body(target: dict[str, Any]) -> dict[str, Any]:
    """The one of instanceTarget, lambdaTarget, ... that ``deploymentTargetType`` names."""
    body: dict[str, Any] = target.get(
        TARGET_BODIES.get(target.get("deploymentTargetType", ""), ""), {}
    )
    return body


def target_id_of(target: dict[str, Any]) -> str:
    return str(target_body(target).get("targetId", ""))


def _instance_target(summary: dict[str, Any]) -> dict[str, Any]:
    instance_id = str(summary.get("instanceId", ""))
    target = {
        "deploymentId": summary.get("deploymentId"),
        "targetId": instance_id.rsplit("/", 1)[-1],
        "targetArn": instance_id
        if instance_id.startswith("arn:")
        else f"arn:aws:ec2:us-east-1:{HOME_ACCOUNT}:instance/{instance_id}",
        "status": summary.get("status"),
        "lastUpdatedAt": summary.get("lastUpdatedAt"),
        "lifecycleEvents": summary.get("lifecycleEvents", []),
        "instanceLabel": summary.get("instanceType"),
    }
    return {
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {key: value for key, value in target.items() if value is not None},
    }


class Application(BaseModel):
    """An application: its compute platform, its deployment groups (each a
    DeploymentGroupInfo's fields, passed through), any other ApplicationInfo field."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    compute_platform: str = Field(default="Server", alias="computePlatform")
    deployment_groups: dict[str, dict[str, Any]] = Field(
        default_factory=dict, alias="deploymentGroups"
    )

    @staticmethod
    def application_id(name: str) -> str:
        """A stable id, shaped like CodeDeploy's (a UUID), from the name."""
        digest = hashlib.sha256(name.encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class Role(BaseModel):
    """An IAM role STS lets anyone assume (it is an emulator), unless told to refuse."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    external_id: str | None = Field(default=None, alias="externalId")
    """AssumeRole must present this ExternalId, or it is refused."""
    refuse: InjectedError | None = None
    """What AssumeRole answers instead of credentials."""
    max_session_seconds: int = Field(default=3600, ge=3600, le=43200, alias="maxSessionSeconds")
    """Its MaxSessionDuration: AssumeRole asking for longer is refused, as STS does."""


class EmulatorData(BaseModel):
    """One account's CodeDeploy in one region; the top-level file is the home account's
    (read by any credentials STS did not mint, in every region), and ``accounts`` holds
    the others' by account id and region, read with credentials of their ``roles``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    applications: dict[str, Application] = Field(default_factory=dict)
    """Applications and their deployment groups; deployments name theirs."""
    deployments: dict[str, Deployment] = Field(default_factory=dict)
    errors: dict[str, InjectedError] = Field(default_factory=dict)
    rolling: dict[str, Rolling] = Field(default_factory=dict)
    """Deployments that move on their own (``rolling.py``), by id."""
    account_id: str = Field(default=HOME_ACCOUNT, alias="accountId", pattern=r"^\d{12}$")
    accounts: dict[
        Annotated[str, StringConstraints(pattern=r"^\d{12}$")], dict[str, "EmulatorData"]
    ] = Field(default_factory=dict)
    roles: dict[str, Role] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> "EmulatorData":
        try:
            data = cls.model_validate(raw)
        except ValidationError as exc:
            raise DataError(str(exc)) from exc
        for region in data.regions():
            if region is not data and (region.accounts or region.roles):
                raise DataError("accounts and roles belong at the top level only")
            for deployment in region.deployments.values():
                _epoch_timestamps(deployment.instances)
                _epoch_timestamps(deployment.targets)
                _epoch_timestamps(deployment.model_extra)
        for arn in data.roles:
            if role_account(arn) is None:
                raise DataError(f"roles: {arn!r} is not an IAM role ARN")
        return data

    def regions(self) -> list["EmulatorData"]:
        """Every account's data in every region, the home account's first."""
        return [self, *(data for regions in self.accounts.values() for data in regions.values())]


ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+")


def role_account(arn: str) -> str | None:
    """The account id in a role's ARN; None if ``arn`` is not a role's."""
    match = ROLE_ARN.fullmatch(arn)
    return match.group(1) if match else None


def load_data(path: Path | None = None) -> EmulatorData:
    """The data in ``path``, or the built-in demo data."""
    source = path or DEMO_DATA
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: {exc}") from exc
    try:
        return EmulatorData.from_json(raw)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc


def _epoch_timestamps(node: Any) -> None:
    """AWS's JSON protocol sends timestamps as epoch seconds; the file may use ISO-8601."""
    if isinstance(node, list):
        for item in node:
            _epoch_timestamps(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _TIMESTAMP_FIELDS and isinstance(value, str):
                try:
                    moment = datetime.fromisoformat(value)
                except ValueError as exc:
                    raise DataError(f"{key}: {value!r} is not ISO-8601") from exc
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                node[key] = moment.timestamp()
            else:
                _epoch_timestamps(value)
