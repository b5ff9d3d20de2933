"""Any object read again by its id: ``node(id:)`` and ``nodes(ids:)`` (GraphQL's Global
Object Identification), and the federation's ``_entities`` by the same road. An object is
read through the operation's DataLoaders, so a hundred ids of one deployment are a few
batch reads, and its account is checked against the caller's grants as any field's is."""

import strawberry

from service.errors import InvalidRequest
from service.graphql.context import Info, each_alone
from service.graphql.deployment import DeploymentGroup, load_deployment
from service.graphql.discovery import Application
from service.graphql.fleet import load_instance, load_target
from service.graphql.ids import Kind, NodeKey
from service.graphql.types import Node
from service.reads import MAX_BATCH_IDS


async def read_node(info: Info, key: NodeKey) -> Node | None:
    """The object ``key`` names, as it is now; its account and region's errors first (a
    FORBIDDEN or ACCOUNT_NOT_FOUND before any read), then CodeDeploy's (a not found)."""
    reads = info.context.at(key.where.account, key.where.region)
    match key.kind, key.parts:
        case Kind.APPLICATION, (name,):
            found = await reads.applications.load(name)
            return Application(reads=reads, application_name=found.application_name or name)
        case Kind.DEPLOYMENT_GROUP, (application, group):
            await reads.groups.load((application, group))
            return DeploymentGroup(
                reads=reads, application_name=application, deployment_group_name=group
            )
        case Kind.DEPLOYMENT, (deployment_id,):
            return await load_deployment(reads, deployment_id)
        case Kind.INSTANCE, (deployment_id, instance_id):
            return await load_instance(reads, deployment_id, instance_id)
        case Kind.TARGET, (deployment_id, target_id):
            return await load_target(reads, deployment_id, target_id)
    raise AssertionError(f"NodeKey.of let {key} through")


async def resolve_node(info: Info, id: strawberry.ID) -> Node | None:
    return await read_node(info, NodeKey.parse(id))


async def resolve_nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None] | None:
    if len(ids) > MAX_BATCH_IDS:
        raise InvalidRequest(f"At most {MAX_BATCH_IDS} ids per field.")
    return await each_alone(resolve_node(info, id) for id in ids)
