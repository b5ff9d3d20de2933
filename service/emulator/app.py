"""A CodeDeploy emulator speaking AWS's JSON 1.1 protocol, so any SDK talks to it as to AWS."""

import asyncio
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.emulator.data import EmulatorData

TARGET_PREFIX = "CodeDeploy_20141006."
CONTENT_TYPE = "application/x-amz-json-1.1"
DEPLOYMENT_ID = re.compile(r"d-[A-Z0-9]{9}")

Params = dict[str, Any]


class AwsError(Exception):
    """An error answer: ``__type`` and ``message`` in the body, like CodeDeploy's."""

    def __init__(self, type_: str, message: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status


class MalformedReply(Exception):
    """Answer 200 with a body cut off mid-JSON, as a broken proxy or connection would."""


@dataclass(slots=True)
class Faults:
    """Knobs that make the emulator misbehave like a loaded or failing AWS endpoint.

    Rates are probabilities per call, rolled in this order: throttle, error, malformed.
    """

    latency_seconds: float = 0.0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    malformed_rate: float = 0.0


class Emulator:
    """CodeDeploy's state and operations; ``calls`` counts requests per operation."""

    def __init__(
        self, data: EmulatorData, faults: Faults | None = None, seed: int | None = None
    ) -> None:
        self.data = data
        self.faults = faults or Faults()
        self.calls: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._operations: dict[str, Callable[[Params], Awaitable[Params]]] = {
            "GetDeploymentInstance": self.get_deployment_instance,
        }

    async def handle(self, operation: str, params: Params) -> Params:
        handler = self._operations.get(operation)
        if handler is None:
            raise AwsError("UnknownOperationException", f"Unknown operation {operation}")
        self.calls[operation] += 1
        faults = self.faults
        if faults.latency_seconds > 0:
            await asyncio.sleep(faults.latency_seconds)
        if self._random.random() < faults.throttle_rate:
            raise AwsError("ThrottlingException", "Rate exceeded")
        if self._random.random() < faults.error_rate:
            raise AwsError("InternalFailure", "We encountered an internal error.", 500)
        if self._random.random() < faults.malformed_rate:
            raise MalformedReply
        return await handler(params)

    async def get_deployment_instance(self, params: Params) -> Params:
        deployment_id = _string(params, "deploymentId")
        instance_id = _string(params, "instanceId")
        self._raise_injected(deployment_id, instance_id)
        if not deployment_id:
            raise AwsError("DeploymentIdRequiredException", "Deployment ID is required.")
        if not instance_id:
            raise AwsError("InstanceIdRequiredException", "Instance ID is required.")
        if not DEPLOYMENT_ID.fullmatch(deployment_id):
            raise AwsError(
                "InvalidDeploymentIdException",
                f"Specified DeploymentId is not in the valid format: {deployment_id}",
            )
        deployment = self.data.deployments.get(deployment_id)
        if deployment is None:
            raise AwsError(
                "DeploymentDoesNotExistException",
                f"The deployment {deployment_id} could not be found.",
            )
        if deployment.compute_platform != "Server":
            raise AwsError(
                "InvalidComputePlatformException",
                "The computePlatform is invalid. The computePlatform should be Server.",
            )
        summary = deployment.find_instance(instance_id)
        if summary is None:
            raise AwsError(
                "InstanceDoesNotExistException",
                f"The instance {instance_id} does not belong to the deployment {deployment_id}.",
            )
        return {"instanceSummary": summary}

    def _raise_injected(self, deployment_id: str, instance_id: str) -> None:
        for key in (f"{deployment_id}/{instance_id}", deployment_id):
            injected = self.data.errors.get(key)
            if injected is not None:
                raise AwsError(injected.type, injected.message, injected.status)


def _string(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not isinstance(value, str):
        raise AwsError("SerializationException", f"{name} must be a string")
    return value


def create_emulator_app(emulator: Emulator) -> Starlette:
    """The HTTP face: ``POST /`` with ``X-Amz-Target``, as AWS's JSON 1.1 services take it."""

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            if "authorization" not in request.headers:
                raise AwsError(
                    "MissingAuthenticationTokenException", "Missing Authentication Token"
                )
            target = request.headers.get("x-amz-target", "")
            if not target.startswith(TARGET_PREFIX):
                raise AwsError("UnknownOperationException", f"Unknown target {target!r}")
            try:
                params = json.loads(await request.body() or b"{}")
            except ValueError as exc:
                raise AwsError("SerializationException", "Body is not valid JSON") from exc
            if not isinstance(params, dict):
                raise AwsError("SerializationException", "Body must be a JSON object")
            reply = await emulator.handle(target.removeprefix(TARGET_PREFIX), params)
            status = 200
        except AwsError as error:
            reply = {"__type": error.type, "message": error.message}
            status = error.status
        except MalformedReply:
            return Response(b'{"instanceSummary": {"deploymentId": "d-', media_type=CONTENT_TYPE)
        return Response(
            json.dumps(reply),
            status_code=status,
            media_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])
