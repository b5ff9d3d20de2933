"""``/healthz``, ``/readyz`` and ``/metrics``: answered from memory, never by calling AWS."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel

from service.edge.paths import HEALTHZ, METRICS, READYZ
from service.errors import NotReady
from service.rest.dependencies import HealthDep, MetricsDep
from service.rest.problems import problem_responses

router = APIRouter(tags=["operations"])


class ProbeStatus(StrEnum):
    OK = "ok"
    READY = "ready"


class Status(BaseModel):
    status: ProbeStatus


@router.get(
    HEALTHZ,
    operation_id="Healthz",
    summary="Liveness",
    description="200 while the process serves. Calls nothing upstream.",
)
async def healthz() -> Status:
    return Status(status=ProbeStatus.OK)


@router.get(
    READYZ,
    operation_id="Readyz",
    summary="Readiness",
    description=(
        "200 once the CodeDeploy client is ready; 503 while starting and while draining "
        "after SIGTERM. Calls nothing upstream: CodeDeploy's health is not the pod's."
    ),
    responses=problem_responses(503),
)
async def readyz(health: HealthDep) -> Status:
    if not health.ready:
        raise NotReady("Draining before shutdown." if health.draining else "Starting.")
    return Status(status=ProbeStatus.READY)


@router.get(METRICS, include_in_schema=False)
async def metrics(registry: MetricsDep, accept: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus text format (OpenMetrics, with exemplars, when asked): requests,
    upstream calls, cache, GraphQL operations."""
    body, media_type = registry.exposition(accept)
    return Response(body, media_type=media_type)
