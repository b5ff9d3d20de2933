"""The emulator's discovery calls: applications, deployment groups and deployment lists,
from the data file's ``applications`` section and its deployments, with CodeDeploy's
paging, filters and validation."""

from collections.abc import Callable, Sequence
from typing import Any

from service.emulator.data import Deployment, EmulatorData
from service.emulator.errors import AwsError

Params = dict[str, Any]

DEPLOYMENT_STATUSES = frozenset(
    {"Created", "Queued", "InProgress", "Baking", "Succeeded", "Failed", "Stopped", "Ready"}
)
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
# BatchGetApplications and BatchGetDeploymentGroups take up to 100 names.
NAMES_LIMIT = 100
# BatchGetDeployments takes up to 25 ids.
IDS_LIMIT = 25


class Discovery:
    """The discovery operations over ``data``; ``deployment`` reads one deployment as
    the emulator does (moving ones included), ``page`` pages a list of names or ids."""

    def __init__(
        self,
        data: EmulatorData,
        deployment: Callable[[str], Deployment],
        page: Callable[[list[str], object], tuple[list[str], str | None]],
        runs: Callable[[], list[str]],
    ) -> None:
        self.data = data
        self.deployment = deployment
        self.page = page
        self.runs = runs

    def operations(self) -> dict[str, Callable[[Params], Params]]:
        return {
            "ListApplications": self.list_applications,
            "BatchGetApplications": self.batch_get_applications,
            "GetApplication": self.get_application,
            "ListDeploymentGroups": self.list_deployment_groups,
            "BatchGetDeploymentGroups": self.batch_get_deployment_groups,
            "GetDeploymentGroup": self.get_deployment_group,
            "ListDeployments": self.list_deployments,
            "BatchGetDeployments": self.batch_get_deployments,
        }

    # --- applications ------------------------------------------------------------------

    def list_applications(self, params: Params) -> Params:
        names, token = self.page(sorted(self.data.applications), params.get("nextToken"))
        return {"applications": names, **({"nextToken": token} if token else {})}

    def batch_get_applications(self, params: Params) -> Params:
        names = _names(params, "applicationNames", "ApplicationNameRequiredException")
        return {"applicationsInfo": [self._application(name) for name in names]}

    def get_application(self, params: Params) -> Params:
        return {"application": self._application(_application_name(params))}

    def _application(self, name: str) -> Params:
        application = self.data.applications.get(name)
        if application is None:
            raise _no_application(name)
        return {
            "applicationId": application.application_id(name),
            "applicationName": name,
            "linkedToGitHub": False,
            "computePlatform": application.compute_platform,
            **(application.model_extra or {}),
        }

    # --- deployment groups -------------------------------------------------------------

    def list_deployment_groups(self, params: Params) -> Params:
        name = _application_name(params)
        groups, token = self.page(sorted(self._groups(name)), params.get("nextToken"))
        reply: Params = {"applicationName": name, "deploymentGroups": groups}
        return {**reply, **({"nextToken": token} if token else {})}

    def batch_get_deployment_groups(self, params: Params) -> Params:
        name = _application_name(params)
        groups = self._groups(name)
        asked = _names(params, "deploymentGroupNames", "DeploymentGroupNameRequiredException")
        found = [self._group(name, group) for group in asked if group in groups]
        missing = [group for group in asked if group not in groups]
        reply: Params = {"deploymentGroupsInfo": found}
        if missing:
            reply["errorMessage"] = f"Deployment groups not found: {', '.join(missing)}"
        return reply

    def get_deployment_group(self, params: Params) -> Params:
        name = _application_name(params)
        group = _string(params, "deploymentGroupName", "DeploymentGroupNameRequiredException")
        if group not in self._groups(name):
            raise _no_group(group)
        return {"deploymentGroupInfo": self._group(name, group)}

    def _groups(self, application: str) -> dict[str, dict[str, Any]]:
        found = self.data.applications.get(application)
        if found is None:
            raise _no_application(application)
        return found.deployment_groups

    def _group(self, application: str, group: str) -> Params:
        info: Params = {
            "applicationName": application,
            "deploymentGroupName": group,
            "deploymentGroupId": f"{application}-{group}-0000",
            "computePlatform": self.data.applications[application].compute_platform,
            **self.data.applications[application].deployment_groups[group],
        }
        history = self._history(application, group)
        attempted = next((d for d in history if d[1].status in TERMINAL | {"InProgress"}), None)
        succeeded = next((d for d in history if d[1].status == "Succeeded"), None)
        if attempted is not None:
            info["lastAttemptedDeployment"] = _last(*attempted)
        if succeeded is not None:
            info["lastSuccessfulDeployment"] = _last(*succeeded)
        return info

    # --- deployments -------------------------------------------------------------------

    def list_deployments(self, params: Params) -> Params:
        application = params.get("applicationName")
        group = params.get("deploymentGroupName")
        if group and not application:
            raise AwsError("ApplicationNameRequiredException", "The application name is required.")
        if application and not group:
            raise AwsError(
                "DeploymentGroupNameRequiredException", "The deployment group name is required."
            )
        if application and group not in self._groups(str(application)):
            raise _no_group(str(group))
        statuses = params.get("includeOnlyStatuses") or []
        if not isinstance(statuses, list) or set(statuses) - DEPLOYMENT_STATUSES:
            raise AwsError("InvalidDeploymentStatusException", "The deployment status is invalid.")
        start, end = _time_range(params.get("createTimeRange"))
        ids = [
            deployment_id
            for deployment_id, deployment in self._history(application, group)
            if (not statuses or deployment.status in statuses)
            and start <= _created(deployment) <= end
        ]
        page, token = self.page(ids, params.get("nextToken"))
        return {"deployments": page, **({"nextToken": token} if token else {})}

    def batch_get_deployments(self, params: Params) -> Params:
        ids = _names(params, "deploymentIds", "DeploymentIdRequiredException", IDS_LIMIT)
        infos = []
        for deployment_id in ids:
            try:
                deployment = self.deployment(deployment_id)
            except LookupError:
                continue  # CodeDeploy leaves out what it does not know
            infos.append(deployment.info(deployment_id))
        return {"deploymentsInfo": infos}

    def _history(
        self, application: object = None, group: object = None
    ) -> list[tuple[str, Deployment]]:
        """The deployments (of a group), newest first, as ListDeployments orders them."""
        ids = {*self.data.deployments, *self.runs()}
        found = [(deployment_id, self.deployment(deployment_id)) for deployment_id in ids]
        matching = [
            (deployment_id, deployment)
            for deployment_id, deployment in found
            if not application
            or (
                deployment.extra("applicationName") == application
                and deployment.extra("deploymentGroupName") == group
            )
        ]
        return sorted(matching, key=lambda item: (_created(item[1]), item[0]), reverse=True)


def _no_application(name: str) -> AwsError:
    return AwsError("ApplicationDoesNotExistException", f"No application found for name: {name}")


def _no_group(name: str) -> AwsError:
    return AwsError("DeploymentGroupDoesNotExistException", f"No deployment group named {name}")


def _last(deployment_id: str, deployment: Deployment) -> Params:
    last: Params = {
        "deploymentId": deployment_id,
        "status": deployment.status,
        "createTime": _created(deployment),
    }
    if (end := deployment.extra("completeTime")) is not None:
        last["endTime"] = end
    return last


def _created(deployment: Deployment) -> float:
    created = deployment.extra("createTime")
    return float(created) if isinstance(created, int | float) else 0.0


def _time_range(value: object) -> tuple[float, float]:
    if value is None:
        return float("-inf"), float("inf")
    if not isinstance(value, dict):
        raise AwsError("InvalidTimeRangeException", "The time range is invalid.")
    start, end = value.get("start", float("-inf")), value.get("end", float("inf"))
    if not isinstance(start, int | float) or not isinstance(end, int | float) or start > end:
        raise AwsError("InvalidTimeRangeException", "The time range is invalid.")
    return float(start), float(end)


def _string(params: Params, name: str, required: str) -> str:
    value = params.get(name)
    if not value:
        raise AwsError(required, f"{name} is required.")
    if not isinstance(value, str):
        raise AwsError("SerializationException", f"{name} must be a string")
    return value


def _application_name(params: Params) -> str:
    name = _string(params, "applicationName", "ApplicationNameRequiredException")
    if len(name) > 100:
        raise AwsError("InvalidApplicationNameException", "The application name is too long.")
    return name


def _names(params: Params, name: str, required: str, limit: int = NAMES_LIMIT) -> Sequence[str]:
    values = params.get(name)
    if not values:
        raise AwsError(required, f"{name} is required.")
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise AwsError("SerializationException", f"{name} must be a list of strings")
    if len(values) > limit:
        raise AwsError("BatchLimitExceededException", f"At most {limit} {name}.")
    return values
