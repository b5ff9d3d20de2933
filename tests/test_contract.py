"""The contract check of scripts/contract.py on small documents written here: what breaks a
client of the last release, what merely adds, and when a break is allowed (deprecated in
the release before, and named in the changelog)."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema
from graphql.utilities import BreakingChange, BreakingChangeType, find_schema_changes

from scripts.contract import (
    Change,
    check,
    graphql_breaking,
    graphql_deprecated,
    main,
    openapi_breaking,
    openapi_deprecated,
    openapi_document,
    released_version,
    unreleased_coordinates,
)
from tests.support import npm_install, npm_tool

ROOT = Path(__file__).parents[1]

SDL = """
directive @tag(name: String) repeatable on FIELD_DEFINITION | OBJECT
enum Status { OK UNKNOWN }
input Filter { name: String }
interface Node { id: ID! }
type A { x: Int }
type B { y: Int }
type Extra { z: Int }
union Result = A | B
type Item implements Node { id: ID! name: String! gone: Float }
type Query {
  items(status: Status, limit: Int, filter: Filter): [Item!]!
  result: Result
  gone: Boolean
}
"""

CHANGELOG = """# Changelog

## [Unreleased]

### Removed
- {entry}

## [1.0.0] - 2026-12-06

### Added
- `Query.released` and `Status.OLD`.
"""


def edit(sdl: str, old: str, new: str) -> str:
    assert sdl.count(old) == 1
    return sdl.replace(old, new)


# One case for every kind of breaking change graphql-core knows: (kind, new SDL, coordinate).
GRAPHQL_CASES = [
    (BreakingChangeType.TYPE_REMOVED, edit(SDL, "type Extra { z: Int }", ""), "Extra"),
    (BreakingChangeType.TYPE_CHANGED_KIND, edit(SDL, "type Extra", "input Extra"), "Extra"),
    (BreakingChangeType.TYPE_REMOVED_FROM_UNION, edit(SDL, "A | B", "A"), "Result"),
    (BreakingChangeType.VALUE_REMOVED_FROM_ENUM, edit(SDL, "OK UNKNOWN", "OK"), "Status.UNKNOWN"),
    (
        BreakingChangeType.REQUIRED_INPUT_FIELD_ADDED,
        edit(SDL, "name: String }", "name: String o: Int! }"),
        "Filter.o",
    ),
    (
        BreakingChangeType.IMPLEMENTED_INTERFACE_REMOVED,
        edit(SDL, "Item implements Node", "Item"),
        "Item",
    ),
    (BreakingChangeType.FIELD_REMOVED, edit(SDL, "gone: Boolean", ""), "Query.gone"),
    (
        BreakingChangeType.FIELD_CHANGED_KIND,
        edit(SDL, "name: String!", "name: String"),
        "Item.name",
    ),
    (
        BreakingChangeType.REQUIRED_ARG_ADDED,
        edit(SDL, "limit: Int,", "limit: Int, first: Int!,"),
        "Query.items(first:)",
    ),
    (BreakingChangeType.ARG_REMOVED, edit(SDL, "limit: Int,", ""), "Query.items(limit:)"),
    (
        BreakingChangeType.ARG_CHANGED_KIND,
        edit(SDL, "status: Status,", "status: [Status!],"),
        "Query.items(status:)",
    ),
    (
        BreakingChangeType.DIRECTIVE_REMOVED,
        edit(SDL, "directive @tag(name: String) repeatable on FIELD_DEFINITION | OBJECT", ""),
        "@tag",
    ),
    (
        BreakingChangeType.DIRECTIVE_ARG_REMOVED,
        edit(SDL, "@tag(name: String)", "@tag"),
        "@tag(name:)",
    ),
    (
        BreakingChangeType.REQUIRED_DIRECTIVE_ARG_ADDED,
        edit(SDL, "(name: String)", "(name: String, n: Int!)"),
        "@tag(n:)",
    ),
    (BreakingChangeType.DIRECTIVE_REPEATABLE_REMOVED, edit(SDL, " repeatable", ""), "@tag"),
    (BreakingChangeType.DIRECTIVE_LOCATION_REMOVED, edit(SDL, " | OBJECT", ""), "@tag"),
]


def test_every_kind_of_graphql_breaking_change_has_a_case() -> None:
    assert {kind for kind, _, _ in GRAPHQL_CASES} == set(BreakingChangeType)


@pytest.mark.parametrize(
    ("kind", "new", "coordinate"), GRAPHQL_CASES, ids=[kind.name for kind, _, _ in GRAPHQL_CASES]
)
def test_a_graphql_breaking_change_is_named_by_its_schema_coordinate(
    kind: BreakingChangeType, new: str, coordinate: str
) -> None:
    found = find_schema_changes(build_schema(SDL), build_schema(new))
    assert [change.type for change in found if isinstance(change, BreakingChange)] == [kind]
    assert [change.coordinate for change in graphql_breaking(SDL, new)] == [coordinate]


def test_additions_to_the_graphql_schema_are_not_breaking() -> None:
    new = edit(SDL, "gone: Boolean", "gone: Boolean\n  added(first: Int): Item\n  extra: String")
    new = edit(new, "OK UNKNOWN", "OK UNKNOWN LATER") + "type Fresh { a: Int }"
    assert graphql_breaking(SDL, new) == []


def test_a_standard_scalar_that_goes_with_its_last_field_is_not_reported_twice() -> None:
    new = edit(SDL, "gone: Float", "")
    assert [change.coordinate for change in graphql_breaking(SDL, new)] == ["Item.gone"]


@pytest.mark.parametrize(
    ("plain", "deprecated", "coordinate"),
    [
        ("gone: Boolean", "gone: Boolean @deprecated", "Query.gone"),
        ("limit: Int", 'limit: Int @deprecated(reason: "use first")', "Query.items(limit:)"),
        ("UNKNOWN", "UNKNOWN @deprecated", "Status.UNKNOWN"),
        ("{ name: String }", "{ name: String @deprecated }", "Filter.name"),
        ("{ x: Int }", "{ x: Int @deprecated }", "A"),  # every field of A
        ("result: Result", "result: Result @deprecated", "Result"),  # every field of a union's type
        ("[Item!]!", "[Item!]! @deprecated", "Query.items(first:)"),  # a new argument: its field
    ],
)
def test_the_baseline_deprecates_fields_arguments_values_and_types(
    plain: str, deprecated: str, coordinate: str
) -> None:
    assert graphql_deprecated(edit(SDL, plain, deprecated), coordinate)
    assert not graphql_deprecated(SDL, coordinate)


def test_a_directive_is_never_deprecated() -> None:
    assert not graphql_deprecated(SDL, "@tag")


API: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "synthetic", "version": "1.0.0"},
    "paths": {
        "/v1/deployments/{deploymentId}": {
            "get": {
                "parameters": [
                    {
                        "name": "deploymentId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "instanceType",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/InstanceType"},
                                {"type": "null"},
                            ]
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/DeploymentInfo"}
                            }
                        },
                    },
                    "404": {
                        "description": "Not found",
                        "content": {"application/problem+json": {"schema": {"type": "object"}}},
                    },
                },
            }
        },
        "/v1/deployments": {
            "get": {
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/DeploymentInfo"},
                                }
                            }
                        },
                    }
                },
            },
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/NewDeployment"}
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Created",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"deploymentId": {"type": "string"}},
                                    "required": ["deploymentId"],
                                }
                            }
                        },
                    }
                },
            },
        },
    },
    "components": {
        "schemas": {
            "DeploymentInfo": {
                "type": "object",
                "properties": {
                    "deploymentId": {"type": "string"},
                    "status": {"$ref": "#/components/schemas/Status"},
                    "phase": {
                        "type": "string",
                        "enum": ["Build", "Ship"],
                        "x-extensible-enum": True,
                    },
                    "creator": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "previous": {
                        "anyOf": [{"$ref": "#/components/schemas/DeploymentInfo"}, {"type": "null"}]
                    },
                },
                "required": ["deploymentId", "status"],
            },
            "Status": {"type": "string", "enum": ["Created", "Succeeded"]},
            "InstanceType": {"type": "string", "enum": ["Blue", "Green"]},
            "NewDeployment": {
                "type": "object",
                "properties": {
                    "application": {"type": "string"},
                    "description": {"type": "string"},
                },
                "required": ["application"],
                "additionalProperties": False,
            },
        }
    },
}
ONE = "GET /v1/deployments/{deploymentId}"


def api() -> dict[str, Any]:
    return copy.deepcopy(API)


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def coordinates_between(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [change.coordinate for change in openapi_breaking(old, new)]


def coordinates(new: dict[str, Any]) -> list[str]:
    return coordinates_between(API, new)


def test_identical_openapi_documents_have_no_breaking_changes() -> None:
    assert openapi_breaking(API, api()) == []


def test_a_removed_operation_is_breaking() -> None:
    new = api()
    del new["paths"]["/v1/deployments/{deploymentId}"]
    assert openapi_breaking(API, new) == [Change("rest", ONE, "operation removed")]


def test_a_removed_response_property_is_named_once_by_its_component() -> None:
    new = api()
    del component(new, "DeploymentInfo")["properties"]["creator"]
    assert openapi_breaking(API, new) == [
        Change("rest", "DeploymentInfo.creator", "property removed")
    ]


def test_a_response_property_no_longer_required_is_breaking() -> None:
    new = api()
    component(new, "DeploymentInfo")["required"] = ["deploymentId"]
    assert coordinates(new) == ["DeploymentInfo.status"]


@pytest.mark.parametrize(
    "nullable",
    [
        {"type": ["string", "null"]},
        {"anyOf": [{"type": "string"}, {"type": "null"}]},  # what FastAPI writes
        {"type": "string", "nullable": True},  # OpenAPI 3.0
    ],
)
def test_a_response_property_that_may_become_null_is_breaking(nullable: dict[str, Any]) -> None:
    new = api()
    component(new, "DeploymentInfo")["properties"]["deploymentId"] = nullable
    assert openapi_breaking(API, new) == [
        Change("rest", "DeploymentInfo.deploymentId", "may now be null")
    ]


def test_a_response_property_of_another_type_is_breaking() -> None:
    new = api()
    component(new, "DeploymentInfo")["properties"]["deploymentId"] = {"type": "integer"}
    assert coordinates(new) == ["DeploymentInfo.deploymentId"]


def test_a_value_added_to_a_response_enum_is_breaking() -> None:
    new = api()
    component(new, "Status")["enum"].append("Failed")
    assert openapi_breaking(API, new) == [
        Change("rest", "DeploymentInfo.status", "may now be ['Failed']")
    ]


def test_a_value_added_to_an_extensible_response_enum_is_not_breaking() -> None:
    new = api()
    component(new, "DeploymentInfo")["properties"]["phase"]["enum"].append("Verify")
    assert openapi_breaking(API, new) == []


def test_a_property_in_an_inline_response_is_named_by_its_operation() -> None:
    new = api()
    del new["paths"]["/v1/deployments"]["post"]["responses"]["201"]["content"]["application/json"][
        "schema"
    ]["properties"]["deploymentId"]
    assert coordinates(new) == ["POST /v1/deployments 201 deploymentId"]


def test_a_removed_success_response_and_media_type_are_breaking() -> None:
    new = api()
    del new["paths"]["/v1/deployments"]["post"]["responses"]["201"]
    new["paths"][ONE.split(" ")[1]]["get"]["responses"]["200"]["content"] = {"text/plain": {}}
    assert sorted(coordinates(new)) == [f"{ONE} 200 application/json", "POST /v1/deployments 201"]


def test_an_error_response_may_change() -> None:
    new = api()
    del new["paths"][ONE.split(" ")[1]]["get"]["responses"]["404"]
    assert openapi_breaking(API, new) == []


def test_a_new_required_query_parameter_is_breaking() -> None:
    new = api()
    parameter = {"name": "region", "in": "query", "required": True, "schema": {"type": "string"}}
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"].append(parameter)
    assert openapi_breaking(API, new) == [
        Change("rest", f"{ONE} query region", "required parameter added")
    ]


def test_a_new_optional_query_parameter_is_not_breaking() -> None:
    new = api()
    parameter = {"name": "region", "in": "query", "required": False, "schema": {"type": "string"}}
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"].append(parameter)
    assert openapi_breaking(API, new) == []


def test_a_parameter_removed_or_made_required_is_breaking() -> None:
    new = api()
    parameters = new["paths"][ONE.split(" ")[1]]["get"]["parameters"]
    parameters[1]["required"] = True
    assert coordinates(new) == [f"{ONE} query instanceType"]
    del parameters[1]
    assert coordinates(new) == [f"{ONE} query instanceType"]


def test_a_value_removed_from_a_parameter_enum_is_breaking() -> None:
    new = api()
    component(new, "InstanceType")["enum"] = ["Blue"]
    assert openapi_breaking(API, new) == [
        Change("rest", f"{ONE} query instanceType", "no longer accepts ['Green']")
    ]


def test_a_parameter_names_a_change_inside_it() -> None:
    old, new = api(), api()
    items = {"type": "array", "items": {"type": "string", "enum": ["Blue", "Green"]}}
    old["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["schema"] = items  # repeatable
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["schema"] = copy.deepcopy(items)
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["schema"]["items"]["enum"] = ["Blue"]
    assert coordinates_between(old, new) == [f"{ONE} query instanceType"]


def test_a_parameter_that_no_longer_admits_null_is_not_breaking() -> None:
    """A query parameter is absent or given: JSON's null never reaches it."""
    old, new = api(), api()
    items = {"type": "array", "items": {"type": "string"}}
    old["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["schema"] = {
        "anyOf": [items, {"type": "null"}]
    }
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["schema"] = items
    assert coordinates_between(old, new) == []
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["schema"] = {"type": "integer"}
    assert coordinates_between(old, new) == [f"{ONE} query instanceType"]


def test_a_value_added_to_a_parameter_enum_is_not_breaking() -> None:
    new = api()
    component(new, "InstanceType")["enum"].append("Red")
    assert openapi_breaking(API, new) == []


def test_a_request_body_that_asks_for_more_is_breaking() -> None:
    new = api()
    body = component(new, "NewDeployment")
    body["properties"]["region"] = {"type": "string"}
    body["required"] = ["application", "region", "description"]
    body["properties"]["application"] = {"type": "integer"}
    assert openapi_breaking(API, new) == [
        Change("rest", "NewDeployment.application", "type changed from string to integer"),
        Change("rest", "NewDeployment.description", "now required"),
        Change("rest", "NewDeployment.region", "required property added"),
    ]


def test_a_property_wrapped_in_a_one_element_all_of_is_the_same_property() -> None:
    new = api()
    properties = component(new, "DeploymentInfo")["properties"]
    properties["status"] = {"allOf": [properties["status"]], "description": "Where it is."}
    assert openapi_breaking(API, new) == []


def test_a_number_takes_integers_but_does_not_return_only_integers() -> None:
    new = api()
    component(new, "NewDeployment")["properties"]["application"] = {"type": "string"}
    new["paths"][ONE.split(" ")[1]]["get"]["parameters"][0]["schema"] = {"type": "number"}
    old = copy.deepcopy(new)
    old["paths"][ONE.split(" ")[1]]["get"]["parameters"][0]["schema"] = {"type": "integer"}
    assert openapi_breaking(old, new) == []
    component(old, "DeploymentInfo")["properties"]["deploymentId"] = {"type": "integer"}
    component(new, "DeploymentInfo")["properties"]["deploymentId"] = {"type": "number"}
    assert coordinates_between(old, new) == ["DeploymentInfo.deploymentId"]


def test_a_change_seen_in_two_media_types_is_reported_once() -> None:
    old, new = api(), api()
    content = old["paths"]["/v1/deployments"]["post"]["responses"]["201"]["content"]
    content["application/hal+json"] = copy.deepcopy(content["application/json"])
    new["paths"]["/v1/deployments"]["post"]["responses"]["201"]["content"] = {
        media: {"schema": {"type": "object"}} for media in content
    }
    assert coordinates_between(old, new) == ["POST /v1/deployments 201 deploymentId"]


def test_a_request_body_made_required_is_breaking() -> None:
    old = api()
    old["paths"]["/v1/deployments"]["post"]["requestBody"]["required"] = False
    changes = openapi_breaking(old, api())
    assert changes == [Change("rest", "POST /v1/deployments body", "request body now required")]


def test_a_request_property_removed_breaks_only_a_closed_body() -> None:
    new = api()
    del component(new, "NewDeployment")["properties"]["description"]
    assert coordinates(new) == ["NewDeployment.description"]
    del component(new, "NewDeployment")["additionalProperties"]
    assert coordinates(new) == []


def test_a_request_body_that_accepts_more_is_not_breaking() -> None:
    new = api()
    body = component(new, "NewDeployment")
    body["properties"]["region"] = {"type": "string"}
    body["properties"]["application"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    body["required"] = []
    body["additionalProperties"] = True
    assert openapi_breaking(API, new) == []


def test_the_baseline_deprecates_operations_parameters_and_properties() -> None:
    old = api()
    assert not openapi_deprecated(old, "DeploymentInfo.creator")
    component(old, "DeploymentInfo")["properties"]["creator"]["deprecated"] = True
    old["paths"][ONE.split(" ")[1]]["get"]["parameters"][1]["deprecated"] = True
    old["paths"]["/v1/deployments"]["post"]["deprecated"] = True
    assert openapi_deprecated(old, "DeploymentInfo.creator")
    assert openapi_deprecated(old, "DeploymentInfo.previous.creator")  # through a $ref
    assert openapi_deprecated(old, f"{ONE} query instanceType")
    assert openapi_deprecated(old, "POST /v1/deployments 201 deploymentId")
    assert not openapi_deprecated(old, "DeploymentInfo.status")
    assert not openapi_deprecated(old, "DeploymentInfo.previous.status")
    component(old, "DeploymentInfo")["properties"]["previous"]["deprecated"] = True
    assert openapi_deprecated(old, "DeploymentInfo.previous.status")  # below a deprecated one
    assert not openapi_deprecated(old, f"{ONE} path deploymentId")
    assert not openapi_deprecated(old, ONE)


def test_only_the_unreleased_section_logs_changes() -> None:
    changelog = CHANGELOG.format(entry="`Query.gone` and `DeploymentInfo.creator`, gone.")
    assert unreleased_coordinates(changelog) == {"Query.gone", "DeploymentInfo.creator"}
    assert released_version(changelog) == "1.0.0"
    assert unreleased_coordinates("# Changelog\n\n## [1.0.0] - 2026-12-06\n- `Query.a`\n") == set()


def write(
    where: Path,
    new_sdl: str,
    *,
    old_sdl: str = SDL,
    old_api: dict[str, Any] = API,
    new_api: dict[str, Any] = API,
    entry: str = "Nothing yet.",
) -> list[str]:
    """The documents as the repository holds them; the arguments for ``check``."""
    (where / "contract").mkdir()
    (where / "contract" / "schema.graphql").write_text(old_sdl)
    (where / "contract" / "openapi.json").write_text(json.dumps(old_api))
    (where / "schema.graphql").write_text(new_sdl)
    (where / "openapi.json").write_text(json.dumps(new_api))
    (where / "CHANGELOG.md").write_text(CHANGELOG.format(entry=entry))
    return [
        str(where / name) for name in ("contract", "schema.graphql", "openapi.json", "CHANGELOG.md")
    ]


def run_check(paths: list[str]) -> list[str]:
    return check(*(Path(path) for path in paths))


WITHOUT_GONE = edit(SDL, "gone: Boolean", "")
DEPRECATED_GONE = edit(SDL, "gone: Boolean", "gone: Boolean @deprecated")


def test_the_repository_keeps_its_published_contract() -> None:
    assert check() == []


def test_openapi_json_is_the_codes_own() -> None:
    assert (ROOT / "openapi.json").read_text() == openapi_document(), (
        "openapi.json is stale: run `make schema`"
    )


def test_a_breaking_change_to_the_real_contract_fails_until_deprecated_and_logged(
    tmp_path: Path,
) -> None:
    """The repository's own documents: removing a released field fails; the same removal
    after a release that deprecated it, named under Unreleased, passes."""
    released = (ROOT / "contract" / "schema.graphql").read_text()
    field = "  creator: String\n"
    assert field in released
    removed = released.replace(field, "", 1)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    api = (ROOT / "contract" / "openapi.json").read_text()

    def problems(baseline: str, log: str) -> list[str]:
        (tmp_path / "contract").mkdir(exist_ok=True)
        (tmp_path / "contract" / "schema.graphql").write_text(baseline)
        (tmp_path / "contract" / "openapi.json").write_text(api)
        (tmp_path / "schema.graphql").write_text(removed)
        (tmp_path / "openapi.json").write_text(api)
        (tmp_path / "CHANGELOG.md").write_text(log)
        return check(
            tmp_path / "contract",
            tmp_path / "schema.graphql",
            tmp_path / "openapi.json",
            tmp_path / "CHANGELOG.md",
        )

    [problem] = problems(released, changelog)
    assert "`Deployment.creator`" in problem
    deprecated = released.replace(field, '  creator: String @deprecated(reason: "gone")\n', 1)
    logged = changelog.replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n### Removed\n- `Deployment.creator`.\n", 1
    )
    assert len(problems(deprecated, changelog)) == 1  # deprecated, not logged
    assert len(problems(released, logged)) == 1  # logged, never deprecated
    assert problems(deprecated, logged) == []


def test_identical_documents_pass(tmp_path: Path) -> None:
    assert run_check(write(tmp_path, SDL)) == []


def test_a_removed_field_fails(tmp_path: Path) -> None:
    [problem] = run_check(write(tmp_path, WITHOUT_GONE))
    assert problem.startswith("graphql `Query.gone`: Field Query.gone was removed.")
    assert "(not deprecated in the baseline and not under ## [Unreleased])" in problem
    assert "naming `Query.gone`" in problem


def test_a_deprecated_and_logged_removal_passes(tmp_path: Path) -> None:
    paths = write(tmp_path, WITHOUT_GONE, old_sdl=DEPRECATED_GONE, entry="`Query.gone`")
    assert run_check(paths) == []


def test_a_deprecated_removal_that_is_not_logged_fails(tmp_path: Path) -> None:
    [problem] = run_check(write(tmp_path, WITHOUT_GONE, old_sdl=DEPRECATED_GONE))
    assert "(not under ## [Unreleased])" in problem


def test_a_logged_removal_that_was_not_deprecated_fails(tmp_path: Path) -> None:
    [problem] = run_check(write(tmp_path, WITHOUT_GONE, entry="`Query.gone`"))
    assert "(not deprecated in the baseline)" in problem


def test_a_removal_logged_in_a_released_section_only_fails(tmp_path: Path) -> None:
    new = edit(SDL, "items(", "released: Int\n  items(")
    paths = write(tmp_path, SDL, old_sdl=edit(new, "released: Int", "released: Int @deprecated"))
    [problem] = run_check(paths)  # CHANGELOG names `Query.released` under [1.0.0] only
    assert "`Query.released`" in problem


def test_a_deprecated_and_logged_openapi_removal_passes(tmp_path: Path) -> None:
    old, new = api(), api()
    component(old, "DeploymentInfo")["properties"]["creator"]["deprecated"] = True
    del component(new, "DeploymentInfo")["properties"]["creator"]
    paths = write(tmp_path, SDL, old_api=old, new_api=new, entry="`DeploymentInfo.creator`")
    assert run_check(paths) == []
    del component(new, "DeploymentInfo")["properties"]["phase"]
    (tmp_path / "openapi.json").write_text(json.dumps(new))
    assert [problem.split(":")[0] for problem in run_check(paths)] == [
        "rest `DeploymentInfo.phase`"
    ]


@pytest.mark.parametrize(
    ("version", "ok"), [("1.0.0", True), ("1.1.0", True), ("0.9.9", False), ("", False)]
)
def test_the_openapi_version_is_the_released_one_or_newer(
    tmp_path: Path, version: str, ok: bool
) -> None:
    new = api()
    new["info"]["version"] = version
    problems = run_check(write(tmp_path, SDL, new_api=new))
    assert problems == (
        []
        if ok
        else [
            f"openapi.json info.version is {version!r}: it must be 1.0.0, the last release in CHANGELOG.md, or newer"
        ]
    )


def test_release_makes_the_documents_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, schema, openapi, changelog = write(tmp_path, WITHOUT_GONE)
    options = [
        "--baseline-dir",
        baseline,
        "--schema",
        schema,
        "--openapi",
        openapi,
        "--changelog",
        changelog,
    ]
    assert main(["check", *options]) == 1
    assert main(["release", *options]) == 0
    assert (tmp_path / "contract" / "schema.graphql").read_text() == WITHOUT_GONE
    assert main(["check", *options]) == 0
    assert capsys.readouterr().out.endswith("contract: 0 unmarked breaking changes against 1.0.0\n")


@pytest.mark.processes
def test_the_command_fails_on_an_unmarked_breaking_change(tmp_path: Path) -> None:
    def command(where: Path, new_sdl: str) -> subprocess.CompletedProcess[str]:
        where.mkdir()
        baseline, schema, openapi, changelog = write(where, new_sdl)
        options = [
            "--baseline-dir",
            baseline,
            "--schema",
            schema,
            "--openapi",
            openapi,
            "--changelog",
            changelog,
        ]
        return subprocess.run(
            [sys.executable, "-m", "scripts.contract", "check", *options],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    broken = command(tmp_path / "broken", WITHOUT_GONE)
    assert broken.returncode == 1
    assert "`Query.gone`" in broken.stdout
    same = command(tmp_path / "same", SDL)
    assert same.returncode == 0
    assert same.stdout == "contract: 0 unmarked breaking changes against 1.0.0\n"


# graphql-inspector, the GraphQL diff tool of The Guild, as a second opinion on what breaks.
INSPECTOR = ["@graphql-inspector/cli@7.0.0", "graphql@16.15.0"]
# Its completion hook receives the changes it found; this one writes their paths down.
PATHS_HOOK = """module.exports = ({ breakingChanges }) => {
  require("fs").writeFileSync(process.env.PATHS_FILE, JSON.stringify(breakingChanges.map((c) => c.path)));
};
"""


@pytest.fixture(scope="session")
def inspector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """graphql-inspector installed from the npm registry (npm's cache makes later runs quick)."""
    where = npm_install(tmp_path_factory.mktemp("graphql-inspector"), *INSPECTOR)
    (where / "paths.cjs").write_text(PATHS_HOOK)
    return where


def inspector_says(inspector: Path, tmp_path: Path, old: str, new: str) -> tuple[int, set[str]]:
    """graphql-inspector's exit code and the paths of what it calls breaking, written as
    schema coordinates (it writes ``Query.items.status`` for ``Query.items(status:)``)."""
    (tmp_path / "old.graphql").write_text(old)
    (tmp_path / "new.graphql").write_text(new)
    diff = [
        str(inspector / "node_modules" / ".bin" / "graphql-inspector"),
        "diff",
        "old.graphql",
        "new.graphql",
    ]
    exit_code = subprocess.run(diff, cwd=tmp_path, capture_output=True, timeout=60).returncode
    paths_file = tmp_path / "paths.json"
    paths_file.unlink(missing_ok=True)  # with no changes at all the hook is not called
    environment = {**os.environ, "PATHS_FILE": str(paths_file)}
    hooked = [*diff, "--onComplete", str(inspector / "paths.cjs")]
    subprocess.run(
        hooked, cwd=tmp_path, env=environment, capture_output=True, check=True, timeout=60
    )
    paths = json.loads(paths_file.read_text()) if paths_file.exists() else []
    return exit_code, {re.sub(r"^(\w+\.\w+)\.(\w+)$", r"\1(\2:)", path) for path in paths}


@npm_tool
def test_graphql_inspector_agrees_on_what_breaks(inspector: Path, tmp_path: Path) -> None:
    new = edit(
        edit(edit(SDL, "status: Status,", "status: [Status!],"), "OK UNKNOWN", "OK"),
        "gone: Boolean",
        "",
    )
    new = edit(new, "name: String!", "name: String")
    exit_code, paths = inspector_says(inspector, tmp_path, SDL, new)
    ours = {change.coordinate for change in graphql_breaking(SDL, new)}
    assert exit_code == 1
    assert paths == ours == {"Query.items(status:)", "Status.UNKNOWN", "Query.gone", "Item.name"}
    assert inspector_says(inspector, tmp_path, SDL, SDL) == (0, set())
    assert graphql_breaking(SDL, SDL) == []


@npm_tool
def test_graphql_inspector_finds_nothing_breaking_since_the_release(
    inspector: Path, tmp_path: Path
) -> None:
    released = (ROOT / "contract" / "schema.graphql").read_text()
    current = (ROOT / "schema.graphql").read_text()
    assert inspector_says(inspector, tmp_path, released, current) == (0, set())


def released_api() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "contract" / "openapi.json").read_text())
    return document


def test_a_new_error_code_is_no_breaking_change() -> None:
    old, new = released_api(), released_api()
    new["components"]["schemas"]["ErrorCode"]["enum"].append("NEW_CODE")
    assert openapi_breaking(old, new) == []


def test_a_problem_losing_a_field_is_a_breaking_change() -> None:
    old, new = released_api(), released_api()
    del new["components"]["schemas"]["Problem"]["properties"]["upstreamCode"]
    assert [change.coordinate for change in openapi_breaking(old, new)] == ["Problem.upstreamCode"]


def test_a_narrower_parameter_is_a_breaking_change() -> None:
    old, new = released_api(), released_api()
    path = new["paths"]["/v1/deployments/{deploymentId}/instances"]["get"]
    [page_size] = [p for p in path["parameters"] if p["name"] == "pageSize"]
    page_size["schema"]["maximum"] = 10
    [change] = openapi_breaking(old, new)
    assert change.coordinate == "GET /v1/deployments/{deploymentId}/instances query pageSize"
    assert "maximum narrowed from 100 to 10" in change.description
