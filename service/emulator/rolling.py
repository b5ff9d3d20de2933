"""Deployments that move on their own: an in-place rolling deployment, one instance at a
time, that finishes, rests, and is deployed again, so live updates have something to show.
Each run is a new deployment of the group, with an id of its own, as CodeDeploy makes
one for every deployment: a finished run stays finished.

Its state is a function of the time since the emulator started: nothing runs in the
background, and a test moves it by moving the emulator's clock.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

LIFECYCLE = (
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
)
FAILING_EVENT = LIFECYCLE.index("ApplicationStart")


class Rolling(BaseModel):
    """The data file's ``rolling`` entries: a deployment that rolls over ``instances``."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, extra="forbid")

    application_name: str
    deployment_group_name: str
    instances: list[str] = Field(min_length=1)
    step_seconds: float = Field(default=2.0, gt=0)
    """Each lifecycle event's length: 7 events an instance, one instance at a time."""
    rest_seconds: float = Field(default=40.0, ge=0)
    """Time between a run's end and the next run's start."""
    fail_every: int = Field(default=3, ge=0)
    """Every this many runs, the last instance fails at ApplicationStart (0: never)."""

    @staticmethod
    def run_id(first: str, cycle: int) -> str:
        """The id of run ``cycle`` (from 0) of the deployment whose first run is ``first``:
        ``d-EXAMPLE07``, then ``d-EXAR00001``, ``d-EXAR00002``, ..."""
        return first if cycle == 0 else f"d-{first[2:5]}R{cycle:05d}"

    def runs(self, first: str, origin: float, moment: float) -> list[str]:
        """The ids of the runs started by ``moment``, oldest first."""
        elapsed = max(moment - origin, 0.0)
        return [self.run_id(first, cycle) for cycle in range(int(elapsed // self._cycle) + 1)]

    def find(
        self, first: str, deployment_id: str, origin: float, moment: float
    ) -> dict[str, Any] | None:
        """Run ``deployment_id`` at ``moment``, if it is one of these runs and has started."""
        for cycle, run_id in enumerate(self.runs(first, origin, moment)):
            if run_id == deployment_id:
                return self.at(deployment_id, origin, moment, cycle)
        return None

    @property
    def _cycle(self) -> float:
        return len(self.instances) * len(LIFECYCLE) * self.step_seconds + self.rest_seconds

    def at(
        self, deployment_id: str, origin: float, moment: float, cycle: int = 0
    ) -> dict[str, Any]:
        """Run ``cycle`` (counted from ``origin``) at ``moment`` (epoch seconds), as the
        data file would hold it: finished for good once it has ended."""
        per_instance = len(LIFECYCLE) * self.step_seconds
        run = len(self.instances) * per_instance
        started = origin + cycle * self._cycle
        into = max(moment - started, 0.0)
        failing = self.fail_every > 0 and cycle % self.fail_every == self.fail_every - 1
        failed_at = None
        if failing:  # the last instance, at ApplicationStart
            failed_at = (len(self.instances) - 1) * per_instance + FAILING_EVENT * self.step_seconds
        now = min(into, run if failed_at is None else failed_at + self.step_seconds)
        instances = [
            self._instance(
                deployment_id, instance_id, started, index * per_instance, now, failed_at
            )
            for index, instance_id in enumerate(self.instances)
        ]
        statuses = [instance["status"] for instance in instances]
        if "Failed" in statuses:
            status = "Failed"
        elif into >= run:
            status = "Succeeded"
        else:
            status = "InProgress"
        deployment: dict[str, Any] = {
            "computePlatform": "Server",
            "status": status,
            "instances": instances,
            "deploymentId": deployment_id,
            "applicationName": self.application_name,
            "deploymentGroupName": self.deployment_group_name,
            "deploymentConfigName": "CodeDeployDefault.OneAtATime",
            "creator": "user",
            "description": f"{self.application_name}, run {cycle + 1}",
            "createTime": started,
            "startTime": started,
            "deploymentStyle": {
                "deploymentType": "IN_PLACE",
                "deploymentOption": "WITHOUT_TRAFFIC_CONTROL",
            },
            "deploymentOverview": {
                name: statuses.count(name)
                for name in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")
            },
        }
        if status != "InProgress":
            deployment["completeTime"] = started + now
        if status == "Failed":
            deployment["errorInformation"] = {
                "code": "SCRIPT_FAILED",
                "message": "Script at specified location: scripts/start_server.sh run as user "
                "root failed with exit code 1",
            }
        return deployment

    def _instance(
        self,
        deployment_id: str,
        instance_id: str,
        started: float,
        begins: float,
        now: float,
        failed_at: float | None,
    ) -> dict[str, Any]:
        """One instance at offset ``now`` into the run; ``failed_at`` is the offset of the
        lifecycle event that fails, if this run fails."""
        failed = failed_at is not None and now >= failed_at + self.step_seconds
        events: list[dict[str, Any]] = []
        updated = started
        for index, name in enumerate(LIFECYCLE):
            start = begins + index * self.step_seconds
            end = start + self.step_seconds
            event: dict[str, Any] = {"lifecycleEventName": name, "status": "Pending"}
            if failed and start == failed_at:
                event.update(status="Failed", startTime=started + start, endTime=started + end)
                event["diagnostics"] = {
                    "errorCode": "ScriptFailed",
                    "scriptName": "scripts/start_server.sh",
                    "message": "Script at specified location: scripts/start_server.sh run as "
                    "user root failed with exit code 1",
                    "logTail": "[stderr] port 8080 is already in use\n",
                }
                updated = started + end
            elif failed and failed_at is not None and start > failed_at:
                event["status"] = "Skipped"
            elif now >= end:
                event.update(status="Succeeded", startTime=started + start, endTime=started + end)
                updated = started + end
            elif now >= start:
                event.update(status="InProgress", startTime=started + start)
                updated = started + start
            events.append(event)
        statuses = {event["status"] for event in events}
        if "Failed" in statuses:
            status = "Failed"
        elif statuses == {"Succeeded"}:
            status = "Succeeded"
        elif statuses <= {"Pending", "Skipped"}:
            status = "Skipped" if failed else "Pending"
        else:
            status = "InProgress"
        return {
            "deploymentId": deployment_id,
            "instanceId": instance_id,
            "status": status,
            "lastUpdatedAt": updated,
            "lifecycleEvents": events,
        }
