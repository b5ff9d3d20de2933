"""The schema as an Apollo Federation 2 subgraph (``GATEWAY_GRAPHQL_FEDERATION``): the same
Query and Subscription, plus the two fields a router asks a subgraph for.

``_service { sdl }`` answers the public schema with ``@key`` on each object that has an id:
its natural key (account, region and CodeDeploy's names, so another subgraph can name a
deployment it knows by id alone) and its ``id``. ``_entities`` reads the objects a router
names through ``read_node``, as ``node(id:)`` does: the operation's DataLoaders, the
caller's grants, and the cost estimate and limits of any document (``service.graphql.cost``
counts its representations).
"""

from dataclasses import replace
from functools import cache
from typing import Annotated, NewType, cast

import strawberry
from graphql import (
    ConstArgumentNode,
    ConstDirectiveNode,
    DocumentNode,
    NameNode,
    ObjectTypeDefinitionNode,
    StringValueNode,
    parse,
    print_ast,
)

from service.errors import InvalidRequest
from service.graphql.context import Info, each_alone
from service.graphql.deployment import Deployment, DeploymentGroup
from service.graphql.discovery import Application
from service.graphql.ids import ENTITIES, PARTS, entity_key
from service.graphql.live import Subscription
from service.graphql.nodes import read_node
from service.graphql.schema import CONFIG, Query, schema
from service.graphql.types import (
    CloudFormationTarget,
    EcsTarget,
    InstanceSummary,
    InstanceTarget,
    LambdaTarget,
    Node,
)

FEDERATION = "https://specs.apollo.dev/federation/v2.3"
LINK = f'extend schema @link(url: "{FEDERATION}", import: ["@key"])'

Representation = NewType("Representation", object)
"""An entity a router names: its __typename and one of its @key's fields (``_Any``)."""
ANY = strawberry.scalar(
    name="_Any",
    description="An entity a router names: its __typename and one of its @key's fields.",
    serialize=lambda value: value,
    parse_value=lambda value: value,
)

Entity = Annotated[
    Application
    | DeploymentGroup
    | Deployment
    | InstanceSummary
    | InstanceTarget
    | LambdaTarget
    | EcsTarget
    | CloudFormationTarget,
    strawberry.union("_Entity"),
]


def _keys(typename: str) -> tuple[ConstDirectiveNode, ...]:
    natural = " ".join(("account", "region", *PARTS[ENTITIES[typename]]))
    return tuple(
        ConstDirectiveNode(
            name=NameNode(value="key"),
            arguments=(
                ConstArgumentNode(
                    name=NameNode(value="fields"), value=StringValueNode(value=fields)
                ),
            ),
        )
        for fields in (natural, "id")
    )


def subgraph_sdl(printed: str) -> str:
    """``printed`` (the public schema's SDL) as a subgraph declares it: linked to the
    federation spec, each entity type with its keys."""
    definitions = [
        replace(
            definition,
            directives=(*(definition.directives or ()), *_keys(definition.name.value)),
        )
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.name.value in ENTITIES
        else definition
        for definition in parse(printed).definitions
    ]
    return f"{LINK}\n\n{print_ast(DocumentNode(definitions=tuple(definitions)))}\n"


@strawberry.type(name="_Service", description="What a router composes: this subgraph's SDL.")
class Service:
    sdl: str


async def _entity(info: Info, representation: object) -> Node | None:
    found = await read_node(info, entity_key(representation))
    asked = cast(dict[str, object], representation)["__typename"]
    if found is not None and type(found).__name__ != asked:
        # A target's key names any kind of target: the router asked for this one.
        raise InvalidRequest(f"Not a {asked}: it is a {type(found).__name__}.")
    return found


async def resolve_entities(
    info: Info,
    representations: list[Representation],
) -> list[Entity | None]:
    # Every Node is one of the entities: the union names the same types.
    found = await each_alone(_entity(info, each) for each in representations)
    return cast(list[Entity | None], found)


@cache
def federated_schema() -> strawberry.Schema:
    """Made on first use: a gateway that is no subgraph never builds it."""
    sdl = subgraph_sdl(schema.as_str())

    @strawberry.type(name="Query")
    class SubgraphQuery(Query):
        service_: Service = strawberry.field(name="_service", resolver=lambda: Service(sdl=sdl))
        entities_: list[Entity | None] = strawberry.field(
            name="_entities", resolver=resolve_entities
        )

    return strawberry.Schema(
        query=SubgraphQuery,
        subscription=Subscription,
        config=CONFIG,
        scalar_overrides={Representation: ANY},
    )
