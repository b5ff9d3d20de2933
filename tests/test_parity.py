"""One resource model on both faces: every field of a REST resource is a field of its
GraphQL type, and every filter of a REST list an argument of its connection, under the
same name, unless listed below as intended, with why. What REST passes through untyped
(fields AWS adds, a deployment's configuration blocks) is in neither document, and in
GraphQL not at all: docs/rest.md says so."""

from typing import Any

from graphql import GraphQLObjectType

from service.app import create_app
from service.graphql.schema import schema
from service.settings import Settings

OPENAPI = create_app(Settings(local=True)).api.openapi()
SCHEMAS = OPENAPI["components"]["schemas"]
TYPES = schema._schema.type_map

# REST's resource → GraphQL's type.
RESOURCES = {
    "DeploymentInfo": "Deployment",
    "DeploymentOverview": "DeploymentOverview",
    "DeploymentStyle": "DeploymentStyle",
    "ErrorInformation": "ErrorInformation",
    "RevisionLocation": "RevisionLocation",
    "S3Location": "S3Location",
    "GitHubLocation": "GitHubLocation",
    "AppSpecContent": "AppSpecContent",
    "RollbackInfo": "RollbackInfo",
    "InstanceSummary": "InstanceSummary",
    "LifecycleEvent": "LifecycleEvent",
    "Diagnostics": "Diagnostics",
    "InstanceTarget": "InstanceTarget",
    "LambdaTarget": "LambdaTarget",
    "LambdaFunctionInfo": "LambdaFunctionInfo",
    "EcsTarget": "EcsTarget",
    "EcsTaskSet": "EcsTaskSet",
    "CloudFormationTarget": "CloudFormationTarget",
    "ApplicationInfo": "Application",
    "DeploymentGroupInfo": "DeploymentGroup",
    "DeploymentGroupStats": "DeploymentGroupStats",
}
# REST's list → the GraphQL connection that pages the same list.
LISTS = {
    "/v1/deployments/{deploymentId}/instances": ("Deployment", "instances"),
    "/v1/deployments/{deploymentId}/targets": ("Deployment", "targets"),
    "/v1/deployments": ("Query", "deployments"),
    "/v1/applications": ("Query", "applications"),
    "/v1/applications/{applicationName}/deployment-groups": ("Application", "deploymentGroups"),
    "/v1/applications/{applicationName}/deployment-groups/{deploymentGroupName}/stats": (
        "DeploymentGroup",
        "stats",
    ),
}
# One name on each face for the same thing.
RENAMED = {"pageSize": "first", "nextToken": "after"}

INTENDED = {
    ("EcsTaskSet", "identifer"): "GraphQL spells it identifier (CodeDeploy's JSON does not)",
    ("EcsTaskSet", "targetGroup"): "GraphQL flattens it to targetGroupName",
    ("DeploymentGroupStats", "applicationName"): "REST echoes the path; GraphQL has the parent",
    ("DeploymentGroupStats", "deploymentGroupName"): "as applicationName",
    ("DeploymentGroupStats", "createdAfter"): "REST echoes the window; GraphQL's argument",
    ("DeploymentGroupStats", "since"): "as createdAfter (deprecated)",
}
INTENDED_FILTERS = {
    "include": "GraphQL selects the nodes it wants instead of asking for summaries",
}


def rest_fields(name: str) -> set[str]:
    schema_: dict[str, Any] = SCHEMAS[name]
    fields = set(schema_.get("properties", {}))
    if name == "DeploymentOverview":  # CodeDeploy capitalises these keys; GraphQL camelCases
        return {field[0].lower() + field[1:] for field in fields}
    return fields


def graphql_fields(name: str) -> set[str]:
    kind = TYPES[name]
    assert isinstance(kind, GraphQLObjectType)
    return set(kind.fields)


def test_every_rest_field_is_a_graphql_field_of_the_same_name() -> None:
    missing = {
        (rest, field)
        for rest, graph in RESOURCES.items()
        for field in rest_fields(rest) - graphql_fields(graph)
        if (rest, field) not in INTENDED and (graph, field) not in INTENDED
    }
    assert not missing, f"on REST, not in GraphQL: {sorted(missing)}"


def test_every_rest_filter_is_an_argument_of_the_same_name() -> None:
    for path, (parent, field) in LISTS.items():
        operation = OPENAPI["paths"][path]["get"]
        filters = {
            RENAMED.get(parameter["name"], parameter["name"])
            for parameter in operation["parameters"]
            if parameter["in"] == "query" and parameter["name"] not in INTENDED_FILTERS
        }
        kind = TYPES[parent]
        assert isinstance(kind, GraphQLObjectType)
        arguments = set(kind.fields[field].args) - {"account", "region"}
        assert filters == arguments, (path, filters ^ arguments)


def test_filters_take_lists_alike() -> None:
    """A filter REST repeats is a list argument in GraphQL."""
    for path, (parent, field) in LISTS.items():
        kind = TYPES[parent]
        assert isinstance(kind, GraphQLObjectType)
        for parameter in OPENAPI["paths"][path]["get"]["parameters"]:
            schema_ = parameter["schema"]
            repeated = any(
                option.get("type") == "array" for option in schema_.get("anyOf", [schema_])
            )
            name = RENAMED.get(parameter["name"], parameter["name"])
            if repeated:
                assert str(kind.fields[field].args[name].type).startswith("["), (path, name)


def test_the_intended_differences_are_still_differences() -> None:
    """A difference listed here that is gone is taken off the list."""
    for rest, field in INTENDED:
        graph = RESOURCES[rest]
        assert field in rest_fields(rest), (rest, field)
        assert field not in graphql_fields(graph), (rest, field)
