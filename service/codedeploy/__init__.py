"""CodeDeploy access: the only package that knows botocore.

``clients`` makes the clients (session, TLS, credentials), ``calls`` is the policy every
call follows (deadline, attempts, metrics, error translation), ``operations`` and
``instances`` are the reads, ``batch`` how a batch read is made, ``inputs`` what
CodeDeploy accepts, checked before a call.
"""

from service.codedeploy.batch import BATCH_LIMIT, LIST_PAGE_SIZE, NAMES_BATCH_LIMIT
from service.codedeploy.calls import request_ids
from service.codedeploy.clients import UpstreamConfig, Upstreams, resolve_region
from service.codedeploy.credentials import REFUSAL_HOLD_SECONDS
from service.codedeploy.operations import CodeDeploy, DeploymentFilter

__all__ = [
    "BATCH_LIMIT",
    "LIST_PAGE_SIZE",
    "NAMES_BATCH_LIMIT",
    "REFUSAL_HOLD_SECONDS",
    "CodeDeploy",
    "DeploymentFilter",
    "UpstreamConfig",
    "Upstreams",
    "request_ids",
    "resolve_region",
]
