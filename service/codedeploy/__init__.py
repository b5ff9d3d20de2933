"""CodeDeploy access: the only package that knows botocore."""

from service.codedeploy.upstream import (
    BATCH_LIMIT,
    LIST_PAGE_SIZE,
    CodeDeploy,
    UpstreamConfig,
    connect,
    resolve_region,
)

__all__ = [
    "BATCH_LIMIT",
    "LIST_PAGE_SIZE",
    "CodeDeploy",
    "UpstreamConfig",
    "connect",
    "resolve_region",
]
