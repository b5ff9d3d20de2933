"""CodeDeploy access: the only package that knows botocore."""

from service.codedeploy.credentials import REFUSAL_HOLD_SECONDS
from service.codedeploy.upstream import (
    BATCH_LIMIT,
    LIST_PAGE_SIZE,
    NAMES_BATCH_LIMIT,
    CodeDeploy,
    UpstreamConfig,
    Upstreams,
    request_ids,
    resolve_region,
)

__all__ = [
    "BATCH_LIMIT",
    "LIST_PAGE_SIZE",
    "NAMES_BATCH_LIMIT",
    "REFUSAL_HOLD_SECONDS",
    "CodeDeploy",
    "UpstreamConfig",
    "Upstreams",
    "request_ids",
    "resolve_region",
]
