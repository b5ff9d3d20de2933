"""A GraphQL request's parameters, as every transport takes them (GraphQL over HTTP's
JSON object; graphql-transport-ws's ``subscribe`` payload is the same object)."""

from dataclasses import dataclass, field
from typing import Any

from service.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """What a client sent, once the transport found it well-formed."""

    query: str | None
    operation_name: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    persisted_hash: str | None = None
    """``extensions.persistedQuery.sha256Hash`` (Apollo's automatic persisted queries)."""


class NotGraphQL(Exception):
    """The request is not a well-formed GraphQL-over-HTTP request: 400 under any type."""

    def __init__(
        self, message: str, status: int = 400, code: ErrorCode = ErrorCode.BAD_REQUEST
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def request_of(fields: Any) -> GraphQLRequest:
    """The spec's request parameters, each of its type; anything else is refused."""
    if not isinstance(fields, dict):
        raise NotGraphQL("A GraphQL request is a JSON object.")
    query = fields.get("query")
    name = fields.get("operationName")
    variables = fields.get("variables")
    extensions = fields.get("extensions")
    if query is not None and not is_text(query):
        raise NotGraphQL("`query` must be a string of Unicode text.")
    if name is not None and not is_text(name):
        raise NotGraphQL("`operationName` must be a string of Unicode text.")
    if variables is not None and not isinstance(variables, dict):
        raise NotGraphQL("`variables` must be an object.")
    if extensions is not None and not isinstance(extensions, dict):
        raise NotGraphQL("`extensions` must be an object.")
    persisted = (extensions or {}).get("persistedQuery")
    digest = None
    if persisted is not None:
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise NotGraphQL("`extensions.persistedQuery` must be {version: 1, sha256Hash}.")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str):
            raise NotGraphQL("`extensions.persistedQuery.sha256Hash` must be a string.")
    if query is None and digest is None:
        raise NotGraphQL("A GraphQL request needs `query` (or a persisted query's hash).")
    return GraphQLRequest(query, name, variables or {}, digest)


def is_text(value: object) -> bool:
    """A string that is text: JSON's \\ud800 escapes decode to lone surrogates, not text."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
