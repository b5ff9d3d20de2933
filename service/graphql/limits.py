"""What a GraphQL document may cost, measured before graphql-core validates it.

One pass over the document, each fragment measured once and reused wherever it is
spread, finds its depth, aliases, field selections, the most times one response name
repeats in a selection set, and its root fields. Validation is the expensive step and
it is quadratic in repeats of one name (OverlappingFieldsCanBeMerged: 400 repeats of one
field took seconds of CPU), so these are refused first, in time linear in the document.
Each error names the limit it broke.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Self

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from service.errors import ErrorCode
from service.settings import Settings

# graphql-core's messages for the limits it enforces itself (parser, introspection depth).
GRAPHQL_CORE_LIMITS = {
    "Document contains more than": ErrorCode.TOKEN_LIMIT_EXCEEDED,
    "Document is nested too deeply": ErrorCode.DEPTH_LIMIT_EXCEEDED,
    "Maximum introspection depth exceeded": ErrorCode.DEPTH_LIMIT_EXCEEDED,
}

UNWRAP = "ofType"


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 100
    max_tokens: int = 5000
    max_fields: int = 500
    max_field_repeats: int = 10
    max_root_fields: int = 100
    max_upstream_calls: int = 50
    max_result_nodes: int = 20_000
    max_response_bytes: int = 4 * 1024 * 1024
    introspection: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_fields=settings.graphql_max_fields,
            max_field_repeats=settings.graphql_max_field_repeats,
            max_root_fields=settings.graphql_max_root_fields,
            max_upstream_calls=settings.graphql_max_upstream_calls,
            max_result_nodes=settings.graphql_max_result_nodes,
            max_response_bytes=settings.graphql_max_response_bytes,
            introspection=settings.graphql_introspection,
        )


def limit_error(message: str, code: ErrorCode, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code, "status": 400})


@dataclass(slots=True)
class _Shape:
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    repeats: int = 0
    """The most times one response name appears in any one selection set within."""
    names: Counter[str] = field(default_factory=Counter)
    """Response names selected at this level, fragments' included."""


class _Measure:
    """Depth counts every field, introspection fields included: ``__schema { types {
    fields { type { fields ...`` is the classic depth bomb. The one exception is
    ``ofType``: it only unwraps a List or NonNull, so a chain of it is linear and cheap,
    and the standard introspection query that GraphiQL and code generators send nests
    it seven deep. Counts multiply through fragments spread many times: Python's
    integers do not overflow, and the limits compare them as they are.
    """

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._measured: dict[str, _Shape] = {}
        self._entered: set[str] = set()

    def selections(self, node: SelectionSetNode) -> _Shape:
        shape = _Shape()
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                inner = _Shape()
                if selection.selection_set is not None:
                    inner = self.selections(selection.selection_set)
                shape.depth = max(shape.depth, inner.depth + (selection.name.value != UNWRAP))
                shape.aliases += inner.aliases + (selection.alias is not None)
                shape.fields += inner.fields + 1
                shape.repeats = max(shape.repeats, inner.repeats)
                shape.names[(selection.alias or selection.name).value] += 1
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            shape.depth = max(shape.depth, inner.depth)
            shape.aliases += inner.aliases
            shape.fields += inner.fields
            shape.repeats = max(shape.repeats, inner.repeats)
            shape.names.update(inner.names)
        shape.repeats = max(shape.repeats, max(shape.names.values(), default=0))
        return shape

    def _fragment(self, name: str) -> _Shape:
        if name not in self._measured:
            definition = self._fragments.get(name)
            if definition is None or name in self._entered:
                return _Shape()  # unknown or cyclic: graphql-core's own rules report those
            self._entered.add(name)
            self._measured[name] = self.selections(definition.selection_set)
        return self._measured[name]


def check_document(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """The limits every operation in ``document`` breaks (validation covers them all)."""
    measure = _Measure(document)
    errors: list[GraphQLError] = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        try:
            shape = measure.selections(operation.selection_set)
        except RecursionError:  # fragments chained hundreds deep
            shape = _Shape(depth=limits.max_depth + 1)
        found = [
            ("nests fields {} deep", shape.depth, limits.max_depth, ErrorCode.DEPTH_LIMIT_EXCEEDED),
            ("uses {} aliases", shape.aliases, limits.max_aliases, ErrorCode.ALIAS_LIMIT_EXCEEDED),
            ("selects {} fields", shape.fields, limits.max_fields, ErrorCode.FIELD_LIMIT_EXCEEDED),
            (
                "repeats one response name {} times in a selection set",
                shape.repeats,
                limits.max_field_repeats,
                ErrorCode.FIELD_REPEAT_LIMIT_EXCEEDED,
            ),
            (
                "selects {} root fields",
                sum(shape.names.values()),
                limits.max_root_fields,
                ErrorCode.ROOT_FIELD_LIMIT_EXCEEDED,
            ),
        ]
        for what, value, limit, code in found:
            if value > limit:
                message = f"The operation {what.format(_count(value))}; the limit is {limit}."
                errors.append(limit_error(message, code, operation))
    return errors


def _count(value: int) -> str:
    # A count multiplied through nested fragments can run to hundreds of digits.
    return str(value) if value < 10**9 else "more than a billion"


class NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, with a code saying why, once per document."""

    reported = False

    def report_error(self, error: GraphQLError) -> None:
        if not self.reported:
            self.reported = True
            message = "Introspection is turned off here."
            super().report_error(
                limit_error(message, ErrorCode.INTROSPECTION_DISABLED, error.nodes)
            )
