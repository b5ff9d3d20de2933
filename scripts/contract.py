"""The published contract, checked against the last release: a breaking change to the GraphQL
schema or the OpenAPI document fails unless the release before deprecated what it breaks
and ``## [Unreleased]`` in CHANGELOG.md names it. Clients get one release of warning.

``python -m scripts.contract check`` runs the check (``make test`` runs it through
tests/test_contract.py); ``python -m scripts.contract release`` makes the current documents
the baseline, which is what a release does; ``export`` writes openapi.json (``make schema``)."""

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_specified_scalar_type,
    resolve_schema_coordinate,
)
from graphql.utilities import (
    BreakingChange,
    BreakingChangeType,
    ResolvedDirective,
    ResolvedDirectiveArgument,
    ResolvedEnumValue,
    ResolvedField,
    ResolvedFieldArgument,
    ResolvedInputField,
    ResolvedNamedType,
    find_schema_changes,
)

ROOT = Path(__file__).parents[1]
BASELINE, SCHEMA, OPENAPI = ROOT / "contract", ROOT / "schema.graphql", ROOT / "openapi.json"
CHANGELOG = ROOT / "CHANGELOG.md"
RULE = (
    "a removal or type change needs a deprecation released first (GraphQL @deprecated, "
    "OpenAPI deprecated: true) and an entry under ## [Unreleased] in CHANGELOG.md naming `{}`"
)


@dataclass(frozen=True)
class Change:
    """One breaking change, named by the coordinate the changelog must mention."""

    face: Literal["graphql", "rest"]
    coordinate: str
    description: str


# GraphQL: graphql-core finds the changes; its messages name the element as a schema
# coordinate, so one pattern per kind reads it back. A message these patterns don't know
# fails loudly (after a graphql-core upgrade, say) rather than being let through.
_C = r"(?P<c>@?\w+(?:\.\w+)?(?:\(\w+:\))?)"
_MESSAGES = {
    kind: re.compile(pattern.replace("{c}", _C))
    for kind, pattern in {
        BreakingChangeType.TYPE_REMOVED: r"(?:Standard scalar )?{c} was removed\b.*",
        BreakingChangeType.TYPE_CHANGED_KIND: r"{c} changed from .*",
        BreakingChangeType.TYPE_REMOVED_FROM_UNION: r"\w+ was removed from union type {c}\.",
        BreakingChangeType.VALUE_REMOVED_FROM_ENUM: r"Enum value {c} was removed\.",
        BreakingChangeType.REQUIRED_INPUT_FIELD_ADDED: r"A required field {c} was added\.",
        BreakingChangeType.IMPLEMENTED_INTERFACE_REMOVED: r"{c} no longer implements .*",
        BreakingChangeType.FIELD_REMOVED: r"Field {c} was removed\.",
        BreakingChangeType.FIELD_CHANGED_KIND: r"Field {c} changed type .*",
        BreakingChangeType.REQUIRED_ARG_ADDED: r"A required argument {c} was added\.",
        BreakingChangeType.ARG_REMOVED: r"Argument {c} was removed\.",
        BreakingChangeType.ARG_CHANGED_KIND: r"Argument {c} has changed type .*",
        BreakingChangeType.DIRECTIVE_REMOVED: r"Directive {c} was removed\.",
        BreakingChangeType.DIRECTIVE_ARG_REMOVED: r"Argument {c} was removed\.",
        BreakingChangeType.REQUIRED_DIRECTIVE_ARG_ADDED: r"A required argument {c} was added\.",
        BreakingChangeType.DIRECTIVE_REPEATABLE_REMOVED: r"Repeatable flag was removed from {c}\.",
        BreakingChangeType.DIRECTIVE_LOCATION_REMOVED: r"\w+ was removed from {c}\.",
    }.items()
}


def graphql_breaking(old_sdl: str, new_sdl: str) -> list[Change]:
    old = build_schema(old_sdl)
    found = []
    # find_breaking_changes is deprecated in graphql-core 3.3 in favour of this filter.
    for change in find_schema_changes(old, build_schema(new_sdl)):
        if not isinstance(change, BreakingChange):
            continue
        match = _MESSAGES[change.type].fullmatch(change.description)
        if match is None:
            raise ValueError(f"unrecognised graphql-core message: {change.description}")
        coordinate = match["c"]
        # A standard scalar goes with the last field or argument using it, reported itself.
        named = old.get_type(coordinate)
        if named is not None and is_specified_scalar_type(named):
            continue
        found.append(Change("graphql", coordinate, change.description))
    return found


def graphql_deprecated(old_sdl: str, coordinate: str) -> bool:
    """Whether the baseline deprecated the element. Types cannot be deprecated in GraphQL:
    a type counts as deprecated when all its fields (or values) were, and a scalar or union,
    which have none, when every field, argument and input field of that type was. A
    required argument or input field that is new counts as deprecated when its parent was."""
    schema = build_schema(old_sdl)
    element = resolve_schema_coordinate(schema, coordinate)
    if element is None:
        parent = re.sub(r"\(\w+:\)$|\.\w+$", "", coordinate)
        return parent != coordinate and graphql_deprecated(old_sdl, parent)
    match element:
        case ResolvedNamedType(type=named):
            return _type_deprecated(schema, named)
        case ResolvedDirective():
            return False
        case (
            ResolvedField(field=member)
            | ResolvedInputField(input_field=member)
            | ResolvedEnumValue(enum_value=member)
            | ResolvedFieldArgument(field_argument=member)
            | ResolvedDirectiveArgument(directive_argument=member)
        ):
            return member.deprecation_reason is not None
    return False


def _type_deprecated(schema: GraphQLSchema, named: GraphQLNamedType) -> bool:
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        members: list[Any] = list(named.fields.values())
    elif isinstance(named, GraphQLEnumType):
        members = list(named.values.values())
    else:
        members = []
        for other in schema.type_map.values():
            if isinstance(other, GraphQLObjectType | GraphQLInterfaceType):
                for field in other.fields.values():
                    members += [field, *field.args.values()]
            elif isinstance(other, GraphQLInputObjectType):
                members += other.fields.values()
        members = [member for member in members if get_named_type(member.type) is named]
    return all(member.deprecation_reason is not None for member in members)


# OpenAPI: what a client of the old document relies on. A request must still be accepted,
# so the server may accept more but not less; a response must still be understood, so it
# may say less but not more.
Json = dict[str, Any]
Side = Literal["request", "response"]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAMETER_PLACES = ("path", "query", "header", "cookie")
COMPONENT = "#/components/schemas/"
NULL = {"type": "null"}
ANY = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})


@dataclass(frozen=True)
class _View:
    """A schema seen through ``$ref``, one-element ``allOf`` and FastAPI's optional
    ``anyOf: [X, null]``, with what the wrappers said along the way."""

    schema: Json
    kinds: frozenset[str]  # the JSON types it allows, "null" included
    component: str | None
    deprecated: bool
    extensible: bool  # the baseline said its enum may grow (x-extensible-enum)


def _pointer(doc: Json, ref: str) -> Json:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, not {ref}")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def _resolve(doc: Json, node: Json) -> Json:
    while "$ref" in node:
        node = _pointer(doc, node["$ref"])
    return node


def _view(doc: Json, schema: Json) -> _View:
    component, deprecated, extensible, null = None, False, False, False
    while True:
        deprecated = deprecated or schema.get("deprecated") is True
        extensible = extensible or "x-extensible-enum" in schema
        branches = schema.get("anyOf") or schema.get("oneOf") or []
        if "$ref" in schema:
            if schema["$ref"].startswith(COMPONENT):
                component = schema["$ref"].removeprefix(COMPONENT)
            schema = _pointer(doc, schema["$ref"])
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        elif len(branches) == 2 and NULL in branches:
            null = True
            schema = next(branch for branch in branches if branch != NULL)
        else:
            break
    declared = schema.get("type")
    if isinstance(declared, str | list):
        kinds = {declared} if isinstance(declared, str) else set(declared)
    elif branches:
        kinds = set().union(*(_view(doc, branch).kinds for branch in branches))
    elif "properties" in schema or "additionalProperties" in schema:
        kinds = {"object"}
    elif "items" in schema:
        kinds = {"array"}
    else:
        kinds = set(ANY)
    if null or schema.get("nullable") is True:  # OpenAPI 3.0's spelling
        kinds.add("null")
    if "number" in kinds:
        kinds.add("integer")
    return _View(schema, frozenset(kinds), component, deprecated, extensible)


@dataclass(frozen=True)
class _At:
    """Where a change is: an operation's place (``GET /p 200``) or a component, and the
    path below it (``items[].status``, ``tags{}`` for additionalProperties). A parameter is
    deprecated as a whole, so it names everything inside it (``fixed``)."""

    root: str
    path: str = ""
    fixed: bool = False

    def child(self, segment: str) -> "_At":
        if self.fixed:
            return self
        joined = f"{self.path}.{segment}" if self.path else segment
        return _At(self.root, self.path + segment if segment in ("[]", "{}") else joined)

    def __str__(self) -> str:
        if not self.path:
            return self.root
        separator = " " if " " in self.root else "" if self.path[0] in "[{" else "."
        return f"{self.root}{separator}{self.path}"


def _kinds(kinds: frozenset[str]) -> str:
    return "any" if kinds == ANY else "|".join(sorted(kinds))


def _is_json(media: str) -> bool:
    media = media.split(";")[0].strip()
    return media == "application/json" or media.endswith("+json")


def _parameters(doc: Json, item: Json, method: str) -> dict[tuple[str, str], Json]:
    found = {}
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        parameter = _resolve(doc, parameter)
        found[(parameter["in"], parameter["name"])] = parameter
    return found


def _not_null(schema: Json) -> Json:
    """``schema`` without its null: the other branch of an ``anyOf`` with null, or its
    ``type`` list less "null"."""
    branches = schema.get("anyOf", [])
    if len(branches) == 2 and NULL in branches:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        return {**rest, **next(branch for branch in branches if branch != NULL)}
    if isinstance(schema.get("type"), list):
        return {**schema, "type": [kind for kind in schema["type"] if kind != "null"]}
    return schema


class _Diff:
    def __init__(self, old: Json, new: Json) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []
        self.entered: set[tuple[str, str | None, Side]] = set()  # also ends recursive refs

    def report(self, at: _At | str, description: str) -> None:
        self.changes.append(Change("rest", str(at), description))

    def operation(self, op: str, path: str, method: str) -> None:
        old_item, new_item = self.old["paths"][path], self.new["paths"][path]
        self.parameters(op, old_item, new_item, method)
        old_op, new_op = old_item[method], new_item[method]
        old_body = _resolve(self.old, old_op.get("requestBody", {}))
        new_body = _resolve(self.new, new_op.get("requestBody", {}))
        if new_body.get("required") and not old_body.get("required"):
            self.report(f"{op} body", "request body now required")
        self.content(old_body, new_body, f"{op} body", "request")
        for status, response in old_op.get("responses", {}).items():
            # An error a route no longer answers breaks no one; a problem's shape does.
            if (new_response := new_op.get("responses", {}).get(status)) is None:
                if str(status).startswith("2"):
                    self.report(f"{op} {status}", "response removed")
                continue
            old_response, new_response = (
                _resolve(self.old, response),
                _resolve(self.new, new_response),
            )
            self.content(old_response, new_response, f"{op} {status}", "response")

    def parameters(self, op: str, old_item: Json, new_item: Json, method: str) -> None:
        old_parameters = _parameters(self.old, old_item, method)
        new_parameters = _parameters(self.new, new_item, method)
        for key, parameter in new_parameters.items():
            if key not in old_parameters and parameter.get("required"):
                self.report(f"{op} {key[0]} {key[1]}", "required parameter added")
        for key, parameter in old_parameters.items():
            at = f"{op} {key[0]} {key[1]}"
            if (new := new_parameters.get(key)) is None:
                self.report(at, "parameter removed")
                continue
            if new.get("required") and not parameter.get("required"):
                self.report(at, "parameter now required")
            # A parameter is text in the URL or a header: it is absent or given, never
            # JSON's null, so whether its schema admits null changes nothing for a caller.
            old_schema = _not_null(parameter.get("schema", {}))
            new_schema = _not_null(new.get("schema", {}))
            self.schema(old_schema, new_schema, _At(at, fixed=True), "request")

    def content(self, old: Json, new: Json, at: str, side: Side) -> None:
        for media, old_media in old.get("content", {}).items():
            if (new_media := new.get("content", {}).get(media)) is None:
                self.report(f"{at} {media}", "media type removed")
            elif _is_json(media):
                self.schema(old_media.get("schema", {}), new_media.get("schema", {}), _At(at), side)

    def schema(self, old_schema: Json, new_schema: Json, at: _At, side: Side) -> None:
        old, new = _view(self.old, old_schema), _view(self.new, new_schema)
        widened, narrowed = new.kinds - old.kinds, old.kinds - new.kinds
        if (widened if side == "response" else narrowed) == {"null"}:
            self.report(at, "may now be null" if side == "response" else "no longer accepts null")
        elif widened if side == "response" else narrowed:
            self.report(at, f"type changed from {_kinds(old.kinds)} to {_kinds(new.kinds)}")
        old_values, new_values = old.schema.get("enum"), new.schema.get("enum")
        if side == "request" and new_values is not None:
            lost = [value for value in old_values or [] if value not in new_values]
            if old_values is None or lost:
                self.report(at, f"no longer accepts {lost or 'values outside its new enum'}")
        if side == "response" and old_values is not None and not old.extensible:
            gained = [value for value in new_values or [] if value not in old_values]
            if new_values is None or gained:
                self.report(at, f"may now be {gained or 'outside its old enum'}")
        if side == "request":
            self.limits(old.schema, new.schema, at)
        if old.component is not None:
            if (old.component, new.component, side) in self.entered:
                return
            self.entered.add((old.component, new.component, side))
            at = _At(old.component)
        self.properties(old.schema, new.schema, at, side)
        for key, segment in (("items", "[]"), ("additionalProperties", "{}")):
            old_inner, new_inner = old.schema.get(key), new.schema.get(key)
            if isinstance(old_inner, dict) and isinstance(new_inner, dict):
                self.schema(old_inner, new_inner, at.child(segment), side)

    def limits(self, old: Json, new: Json, at: _At) -> None:
        """A value the old document allowed that the new one refuses: a bound moved in."""
        for key, upper in (
            ("maximum", True),
            ("exclusiveMaximum", True),
            ("maxLength", True),
            ("maxItems", True),
            ("minimum", False),
            ("exclusiveMinimum", False),
            ("minLength", False),
            ("minItems", False),
        ):
            if key not in new:
                continue
            if key not in old or (new[key] < old[key] if upper else new[key] > old[key]):
                self.report(at, f"{key} narrowed from {old.get(key, 'none')} to {new[key]}")
        if "pattern" in new and new.get("pattern") != old.get("pattern"):
            self.report(at, f"pattern changed from {old.get('pattern')!r} to {new['pattern']!r}")

    def properties(self, old: Json, new: Json, at: _At, side: Side) -> None:
        old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_property in old_properties.items():
            if name not in new_properties:
                if side == "response":
                    self.report(at.child(name), "property removed")
                elif new.get("additionalProperties") is False:
                    self.report(at.child(name), "property removed; others are refused")
                continue
            if side == "response" and name in old_required - new_required:
                self.report(at.child(name), "no longer required")
            if side == "request" and name in new_required - old_required:
                self.report(at.child(name), "now required")
            self.schema(old_property, new_properties[name], at.child(name), side)
        if side == "request":
            for name in sorted(new_required - old_properties.keys() - old_required):
                self.report(at.child(name), "required property added")


def openapi_breaking(old: Json, new: Json) -> list[Change]:
    diff = _Diff(old, new)
    for path, item in old.get("paths", {}).items():
        for method in METHODS:
            op = f"{method.upper()} {path}"
            if method not in item:
                continue
            if method not in new.get("paths", {}).get(path, {}):
                diff.report(op, "operation removed")
            else:
                diff.operation(op, path, method)
    return list(dict.fromkeys(diff.changes))


def openapi_deprecated(old: Json, coordinate: str) -> bool:
    """Whether the baseline deprecated the element: a deprecated operation covers everything
    in it, and a property counts when it or a property above it was deprecated."""
    method, _, rest = coordinate.partition(" ")
    if method.lower() not in METHODS:
        name = re.split(r"[.\[{]", coordinate, maxsplit=1)[0]
        path = coordinate.removeprefix(name)
        schema = old.get("components", {}).get("schemas", {}).get(name)
        return schema is not None and _path_deprecated(old, schema, path)
    path, _, rest = rest.partition(" ")
    item = old.get("paths", {}).get(path, {})
    operation = item.get(method.lower())
    if operation is None:
        return False
    if operation.get("deprecated") is True:
        return True
    place, _, below = rest.partition(" ")
    if place in PARAMETER_PLACES:
        parameter = _parameters(old, item, method.lower()).get((place, below), {})
        return parameter.get("deprecated") is True
    if place == "body":
        holder = operation.get("requestBody", {})
    else:
        holder = operation.get("responses", {}).get(place, {})
    content = _resolve(old, holder).get("content", {})
    return any(
        _path_deprecated(old, media["schema"], below)
        for media_type, media in content.items()
        if below and _is_json(media_type) and "schema" in media
    )


def _path_deprecated(doc: Json, schema: Json, path: str) -> bool:
    for segment in re.findall(r"\[\]|\{\}|[^.\[\]{}]+", path):
        view = _view(doc, schema)
        if view.deprecated:
            return True
        if segment == "[]":
            inner = view.schema.get("items")
        elif segment == "{}":
            inner = view.schema.get("additionalProperties")
        else:
            inner = view.schema.get("properties", {}).get(segment)
        if not isinstance(inner, dict):
            return False
        schema = inner
    return _view(doc, schema).deprecated


def unreleased_coordinates(changelog: str) -> set[str]:
    """Every backticked span under ``## [Unreleased]``: the changes this release announces."""
    section = re.search(r"^## \[Unreleased\][^\n]*\n(.*?)(?=^## |\Z)", changelog, re.M | re.S)
    return set(re.findall(r"`([^`\n]+)`", section[1])) if section else set()


def released_version(changelog: str) -> str:
    found = re.search(r"^## \[(\d+\.\d+\.\d+[^\]]*)\]", changelog, re.M)
    if found is None:
        raise ValueError("CHANGELOG.md has no released version (## [x.y.z] - date)")
    return found[1]


def _semver(version: str) -> tuple[int, int, int] | None:
    found = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?", version.strip())
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def check(
    baseline_dir: Path = BASELINE,
    schema_path: Path = SCHEMA,
    openapi_path: Path = OPENAPI,
    changelog_path: Path = CHANGELOG,
) -> list[str]:
    """The problems with the current documents; none means they may be released."""
    old_sdl, new_sdl = (baseline_dir / "schema.graphql").read_text(), schema_path.read_text()
    old_api = json.loads((baseline_dir / "openapi.json").read_text())
    new_api = json.loads(openapi_path.read_text())
    changelog = changelog_path.read_text()
    logged = unreleased_coordinates(changelog)
    problems = []
    for change in graphql_breaking(old_sdl, new_sdl) + openapi_breaking(old_api, new_api):
        if change.face == "graphql":
            deprecated = graphql_deprecated(old_sdl, change.coordinate)
        else:
            deprecated = openapi_deprecated(old_api, change.coordinate)
        missing = []
        if not deprecated:
            missing.append("not deprecated in the baseline")
        if change.coordinate not in logged:
            missing.append("not under ## [Unreleased]")
        if missing:
            problems.append(
                f"{change.face} `{change.coordinate}`: {change.description} "
                f"({' and '.join(missing)}): {RULE.format(change.coordinate)}"
            )
    try:
        released = released_version(changelog)
    except ValueError as error:
        return [*problems, str(error)]
    version = str(new_api.get("info", {}).get("version", ""))
    current, last = _semver(version), _semver(released)
    if current is None or last is None or current < last:
        problems.append(
            f"{openapi_path.name} info.version is {version!r}: it must be {released}, "
            "the last release in CHANGELOG.md, or newer"
        )
    return problems


def openapi_document() -> str:
    """The OpenAPI document as a ``--local`` gateway serves it: what openapi.json holds.
    (With authentication on, each operation also lists its security schemes and its 401.)"""
    from service.app import create_app
    from service.settings import Settings

    return json.dumps(create_app(Settings(local=True)).api.openapi(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    paths = argparse.ArgumentParser(add_help=False)
    paths.add_argument("--baseline-dir", type=Path, default=BASELINE)
    paths.add_argument("--schema", type=Path, default=SCHEMA)
    paths.add_argument("--openapi", type=Path, default=OPENAPI)
    paths.add_argument("--changelog", type=Path, default=CHANGELOG)
    parser = argparse.ArgumentParser(prog="python -m scripts.contract", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", parents=[paths], help="fail on unmarked breaking changes")
    commands.add_parser("release", parents=[paths], help="make the documents the baseline")
    commands.add_parser("export", parents=[paths], help="write openapi.json from the code")
    args = parser.parse_args(argv)
    if args.command == "export":
        args.openapi.write_text(openapi_document())
        return 0
    if args.command == "release":
        args.baseline_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.schema, args.baseline_dir / "schema.graphql")
        shutil.copyfile(args.openapi, args.baseline_dir / "openapi.json")
        print(f"contract: {args.schema.name} and {args.openapi.name} are the new baseline")
        return 0
    problems = check(args.baseline_dir, args.schema, args.openapi, args.changelog)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    released = released_version(args.changelog.read_text())
    print(f"contract: 0 unmarked breaking changes against {released}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
