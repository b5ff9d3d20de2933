"""CodeDeploy access: the only package that knows botocore."""

from service.codedeploy.upstream import CodeDeploy, UpstreamConfig, connect, resolve_region

__all__ = ["CodeDeploy", "UpstreamConfig", "connect", "resolve_region"]
