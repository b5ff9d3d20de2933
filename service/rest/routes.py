"""``/v1``: CodeDeploy's answers over plain REST, with AWS's field names."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from service.models import GetDeploymentInstanceOutput
from service.rest.problems import problem_responses
from service.state import ResolverDep

router = APIRouter(prefix="/v1", tags=["deployments"])

DeploymentId = Annotated[
    str,
    Path(
        alias="deploymentId",
        description="The deployment's id, as CodeDeploy shows it (`d-` and nine characters).",
        openapi_examples={
            "in-place": {"summary": "Demo in-place deployment", "value": "d-EXAMPLE01"},
            "blue-green": {"summary": "Demo blue/green deployment", "value": "d-EXAMPLE02"},
        },
    ),
]
InstanceId = Annotated[
    str,
    Path(
        alias="instanceId",
        description="The instance's id (`i-...` for EC2) or on-premises name.",
        openapi_examples={
            "failed": {"summary": "Failed at ApplicationStart", "value": "i-0a1b2c3d4e5f60002"},
            "in-progress": {"summary": "In progress", "value": "i-0a1b2c3d4e5f60003"},
            "succeeded": {"summary": "Succeeded", "value": "i-0a1b2c3d4e5f60001"},
        },
    ),
]

_INSTANCE_EXAMPLE = {
    "instanceSummary": {
        "deploymentId": "d-EXAMPLE01",
        "instanceId": "i-0a1b2c3d4e5f60002",
        "status": "Failed",
        "lastUpdatedAt": "2026-11-24T10:00:42.800000Z",
        "lifecycleEvents": [
            {
                "lifecycleEventName": "ApplicationStart",
                "diagnostics": {
                    "errorCode": "ScriptFailed",
                    "scriptName": "scripts/start_server.sh",
                    "message": "Script at specified location: scripts/start_server.sh "
                    "run as user root failed with exit code 1",
                    "logTail": "[stderr]orders-api: error: DATABASE_URL is not set\n",
                },
                "startTime": "2026-11-24T10:00:11.500000Z",
                "endTime": "2026-11-24T10:00:42.700000Z",
                "status": "Failed",
            }
        ],
    }
}


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


@router.get(
    "/deployments/{deploymentId}/instances/{instanceId}",
    summary="Get a deployment instance",
    description=(
        "CodeDeploy's GetDeploymentInstance for an EC2/on-premises deployment, with "
        "AWS's field names and enum values. Timestamps are ISO-8601 in UTC. Answers are "
        "cached briefly (`X-Cache`, `Cache-Control`); send `Cache-Control: no-cache` to "
        "refresh, `If-None-Match` to get 304 when nothing changed."
    ),
    response_model=GetDeploymentInstanceOutput,
    responses={
        200: {
            "description": "The instance's summary.",
            "content": {"application/json": {"example": _INSTANCE_EXAMPLE}},
            "headers": {
                "X-Cache": {"description": "HIT or MISS", "schema": {"type": "string"}},
                "ETag": {
                    "description": "For If-None-Match",
                    "schema": {"type": "string"},
                },
            },
        },
        304: {"description": "Not modified: the ETag in If-None-Match still holds."},
        **problem_responses(400, 404, 422, 429, 502, 504),
    },
)
async def get_deployment_instance(
    deployment_id: DeploymentId,
    instance_id: InstanceId,
    resolver: ResolverDep,
    cache_control: Annotated[
        str | None, Header(description="`no-cache` skips the cache and refreshes it.")
    ] = None,
    if_none_match: Annotated[
        str | None, Header(description="An ETag from an earlier answer; 304 if it still holds.")
    ] = None,
) -> Response:
    refresh = cache_control is not None and "no-cache" in cache_control.lower()
    result = await resolver.deployment_instance(deployment_id, instance_id, refresh=refresh)
    body = (
        GetDeploymentInstanceOutput(instance_summary=result.value)
        .model_dump_json(by_alias=True, exclude_none=True)
        .encode()
    )
    etag = _etag(body)
    headers = {
        "X-Cache": "HIT" if result.cache.hit else "MISS",
        "Cache-Control": f"max-age={result.cache.max_age}",
        "ETag": etag,
    }
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
