"""Cost limits on GraphQL documents, checked while validating: a refused document runs
no resolver and so costs no CodeDeploy call. Each error names the limit it broke."""

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule

# graphql-core's messages for the limits it enforces itself (parser, introspection depth).
GRAPHQL_CORE_LIMITS = {
    "Document contains more than": "TOKEN_LIMIT_EXCEEDED",
    "Document is nested too deeply": "DEPTH_LIMIT_EXCEEDED",
    "Maximum introspection depth exceeded": "DEPTH_LIMIT_EXCEEDED",
}


UNWRAP = "ofType"


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 100
    max_tokens: int = 5000
    introspection: bool = True


def limit_error(message: str, code: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code, "status": 400})


class _Measure:
    """Depth and alias count of selections, following fragments (each measured once).

    Depth counts every field, introspection fields included: ``__schema { types { fields
    { type { fields ...`` is the classic depth bomb, and skipping ``__`` fields lets it by.
    The one exception is ``ofType``: it only unwraps a List or NonNull, so a chain of it
    is linear and cheap, and the standard introspection query that GraphiQL and code
    generators send nests it seven deep.
    """

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._measured: dict[str, tuple[int, int]] = {}
        self._entered: set[str] = set()

    def selections(self, node: SelectionSetNode) -> tuple[int, int]:
        depth = aliases = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                inner = (0, 0)
                if selection.selection_set is not None:
                    inner = self.selections(selection.selection_set)
                levels = selection.name.value != UNWRAP
                depth = max(depth, inner[0] + levels)
                aliases += inner[1] + (selection.alias is not None)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            depth = max(depth, inner[0])
            aliases += inner[1]
        return depth, aliases

    def _fragment(self, name: str) -> tuple[int, int]:
        if name not in self._measured:
            definition = self._fragments.get(name)
            if definition is None or name in self._entered:
                return 0, 0  # unknown or cyclic: graphql-core's own rules report those
            self._entered.add(name)
            self._measured[name] = self.selections(definition.selection_set)
        return self._measured[name]


def cost_rule(limits: Limits) -> type[ValidationRule]:
    class CostLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._measure = _Measure(context.document)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            try:
                depth, aliases = self._measure.selections(node.selection_set)
            except RecursionError:  # fragments chained hundreds deep
                depth, aliases = limits.max_depth + 1, 0
            if depth > limits.max_depth:
                self.report_error(
                    limit_error(
                        f"The operation nests {depth} fields deep; the limit is "
                        f"{limits.max_depth}.",
                        "DEPTH_LIMIT_EXCEEDED",
                        node,
                    )
                )
            if aliases > limits.max_aliases:
                self.report_error(
                    limit_error(
                        f"The operation uses {aliases} aliases; the limit is {limits.max_aliases}.",
                        "ALIAS_LIMIT_EXCEEDED",
                        node,
                    )
                )

    return CostLimits


class NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, with a code saying why, once per document."""

    reported = False

    def report_error(self, error: GraphQLError) -> None:
        if not self.reported:
            self.reported = True
            message = "Introspection is turned off here."
            super().report_error(limit_error(message, "INTROSPECTION_DISABLED", error.nodes))


def validation_rules(limits: Limits) -> list[type[ASTValidationRule]]:
    rules: list[type[ASTValidationRule]] = [cost_rule(limits)]
    if not limits.introspection:
        rules.append(NoIntrospection)
    return rules
