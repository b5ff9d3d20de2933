"""CodeDeploy access: the only package that knows botocore."""

from service.codedeploy.upstream import (
    CodeDeploy,
    ConfigurationError,
    UpstreamConfig,
    connect,
    resolve_region,
)

__all__ = ["CodeDeploy", "ConfigurationError", "UpstreamConfig", "connect", "resolve_region"]
