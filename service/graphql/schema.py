"""The GraphQL schema: thin resolvers over the shared resolver layer."""

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.fastapi import BaseContext
from strawberry.types import ExecutionContext

from service.errors import GatewayError
from service.graphql.types import InstanceSummary
from service.resolver import Resolver

logger = logging.getLogger(__name__)


class Context(BaseContext):
    def __init__(self, resolver: Resolver) -> None:
        super().__init__()
        self.resolver = resolver


Info = strawberry.Info[Context, None]


async def resolve_deployment_instance(
    info: Info, deployment_id: strawberry.ID, instance_id: strawberry.ID
) -> InstanceSummary | None:
    result = await info.context.resolver.deployment_instance(deployment_id, instance_id)
    return InstanceSummary.from_model(result.value)


@strawberry.type
class Query:
    deployment_instance: InstanceSummary | None = strawberry.field(
        resolver=resolve_deployment_instance,
        description=(
            "One instance of an EC2/on-premises deployment (CodeDeploy GetDeploymentInstance). "
            "Null, with an error at this path, when CodeDeploy has no such instance or fails."
        ),
    )


def error_extensions(error: GraphQLError) -> dict[str, Any]:
    """``extensions`` for one error: the same code and status REST would answer."""
    original = error.original_error
    if isinstance(original, GatewayError):
        extensions: dict[str, Any] = {
            "code": original.code,
            "status": original.status,
            "type": original.type,
        }
        if original.request_id:
            extensions["requestId"] = original.request_id
        return extensions
    if original is None:
        return {"code": "GRAPHQL_VALIDATION_FAILED", "status": 400}
    return {"code": "INTERNAL_SERVER_ERROR", "status": 500}


class GatewayErrors(SchemaExtension):
    """Gives every error ``extensions.code`` and ``status``; hides unexpected ones' text."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._format(error) for error in result.errors]

    @staticmethod
    def _format(error: GraphQLError) -> GraphQLError:
        extensions = error_extensions(error)
        unexpected = extensions["status"] == 500
        return GraphQLError(
            "The gateway failed unexpectedly." if unexpected else error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None if unexpected else error.original_error,
            extensions={**(error.extensions or {}), **extensions},
        )


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are answers, not incidents: one quiet line each."""
        for error in errors:
            original = error.original_error
            if isinstance(original, GatewayError) or original is None:
                logger.info("graphql error at %s: %s", error.path, error.message)
            else:
                logger.error("graphql resolver failed", exc_info=original)


schema = GatewaySchema(query=Query, extensions=[GatewayErrors, ParserCache, ValidationCache])
