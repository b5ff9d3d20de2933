"""The GraphQL schema: thin resolvers over the shared resolver layer."""

import asyncio
import logging
from collections.abc import Iterator
from functools import partial
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from service.errors import GatewayError, InvalidRequest
from service.graphql.context import Context, Info
from service.graphql.deployment import Deployment, load_instance
from service.graphql.errors import gateway_extensions
from service.graphql.limits import GRAPHQL_CORE_LIMITS, Limits, validation_rules
from service.graphql.types import InstanceSummary

logger = logging.getLogger(__name__)


# Ids one deploymentInstances field may ask for: four upstream batches at most.
MAX_INSTANCE_IDS = 100


async def resolve_deployment_instance(
    info: Info, deployment_id: strawberry.ID, instance_id: strawberry.ID
) -> InstanceSummary | None:
    return await load_instance(info, deployment_id, instance_id)


async def resolve_deployment_instances(
    info: Info, deployment_id: strawberry.ID, instance_ids: list[strawberry.ID]
) -> list[InstanceSummary | None]:
    if len(instance_ids) > MAX_INSTANCE_IDS:
        raise InvalidRequest(
            f"At most {MAX_INSTANCE_IDS} instanceIds per field.", code="BatchLimitExceededException"
        )
    outcomes = await asyncio.gather(
        *(load_instance(info, deployment_id, instance_id) for instance_id in instance_ids),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, GatewayError):
            raise outcome
    # graphql-core answers an exception in a list with null there and an error at its path.
    return cast(list[InstanceSummary | None], outcomes)


def resolve_deployment(deployment_id: strawberry.ID) -> Deployment | None:
    return Deployment(deployment_id=deployment_id)


@strawberry.type
class Query:
    deployment_instance: InstanceSummary | None = strawberry.field(
        resolver=resolve_deployment_instance,
        description=(
            "One instance of an EC2/on-premises deployment. Null, with an error at this "
            "path, when CodeDeploy has no such instance or fails. All instance reads of one "
            "operation are batched: misses go upstream 25 ids a call."
        ),
    )
    deployment_instances: list[InstanceSummary | None] = strawberry.field(
        resolver=resolve_deployment_instances,
        description=(
            f"Up to {MAX_INSTANCE_IDS} instances of one deployment, in the order asked; "
            "null, with an error at its path, for each id CodeDeploy does not know."
        ),
    )
    deployment: Deployment | None = strawberry.field(
        resolver=resolve_deployment,
        description="A deployment, its instances and its targets, any compute platform.",
    )


def error_extensions(error: GraphQLError) -> dict[str, Any]:
    """``extensions`` for one error: the same code and status REST would answer."""
    original = error.original_error
    if isinstance(original, GatewayError):
        return gateway_extensions(original)
    if original is None:
        code = (error.extensions or {}).get("code")
        for prefix, limit in GRAPHQL_CORE_LIMITS.items():
            if prefix in error.message:
                code = limit
        return {"code": code or "GRAPHQL_VALIDATION_FAILED", "status": 400}
    return {"code": "INTERNAL_SERVER_ERROR", "status": 500}


def format_error(error: GraphQLError) -> GraphQLError:
    """``error`` with ``extensions.code`` and ``status``; an unexpected one's text hidden.

    Applied to every HTTP result by the router, parse errors included (Strawberry's parser
    cache raises those outside any extension's reach).
    """
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


class OperationMetrics(SchemaExtension):
    """Counts operations by name (bounded: see Metrics.graphql_operation)."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, Context):
            context.metrics.graphql_operation(self.execution_context.operation_name)


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


def make_schema(limits: Limits) -> GatewaySchema:
    return GatewaySchema(
        query=Query,
        extensions=[
            OperationMetrics,
            partial(MaxTokensLimiter, limits.max_tokens),
            ParserCache,
            partial(AddValidationRules, validation_rules(limits)),
            ValidationCache,
        ],
    )


# The schema with the default limits: what schema.graphql is exported from.
schema = make_schema(Limits())
