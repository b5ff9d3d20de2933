"""A deployment group's statistics: its deployments created in a window, counted."""

import statistics
from collections import Counter
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.codedeploy import DeploymentFilter
from service.errors import GatewayError
from service.models import DeploymentStatus
from service.reads.costs import MAX_STATS_DEPLOYMENTS
from service.reads.resolver import Resolver


class GroupStats(BaseModel):
    """A deployment group's deployments created in a window, counted: the one model both
    faces answer with (REST adds what was asked, GraphQL takes it as it is)."""

    model_config = ConfigDict(frozen=True)

    total: int
    succeeded: int
    failed: int
    stopped: int
    in_progress: int = Field(description="Not finished yet.")
    median_duration_seconds: float | None = Field(
        description="Of the finished deployments that started: start to completion."
    )
    change_failure_rate: float | None = Field(
        description="Failed among the finished (succeeded, failed, stopped); null before any."
    )
    complete: bool = Field(
        description=f"False when more than {MAX_STATS_DEPLOYMENTS} deployments were created "
        "in the window: the newest were counted."
    )


async def group_stats(
    resolver: Resolver, application: str, group: str, since: datetime
) -> GroupStats:
    """The group's deployments created since ``since``, counted: the newest
    ``MAX_STATS_DEPLOYMENTS`` of them, read through the cache."""
    listed = DeploymentFilter(application=application, group=group, created_after=since)
    ids: list[str] = []
    token = None
    while len(ids) < MAX_STATS_DEPLOYMENTS:
        page = await resolver.deployment_ids(listed, next_token=token)
        ids += page.value.ids
        token = page.value.next_token
        if token is None:
            break
    complete = token is None and len(ids) <= MAX_STATS_DEPLOYMENTS
    infos = [
        outcome.value.model
        for outcome in await resolver.deployments(ids[:MAX_STATS_DEPLOYMENTS])
        if not isinstance(outcome, GatewayError)
    ]
    statuses = Counter(info.status for info in infos)
    durations = sorted(
        (info.complete_time - info.start_time).total_seconds()
        for info in infos
        if info.is_terminal and info.start_time and info.complete_time
    )
    succeeded = statuses[DeploymentStatus.SUCCEEDED]
    failed = statuses[DeploymentStatus.FAILED]
    stopped = statuses[DeploymentStatus.STOPPED]
    finished = succeeded + failed + stopped
    return GroupStats(
        total=len(infos),
        succeeded=succeeded,
        failed=failed,
        stopped=stopped,
        in_progress=len(infos) - finished,
        median_duration_seconds=statistics.median(durations) if durations else None,
        change_failure_rate=failed / finished if finished else None,
        complete=complete,
    )
