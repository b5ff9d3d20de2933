"""GraphQL documents by the SHA-256 of their text, and the trusted ones.

A document is parsed, measured against the limits and validated once; what that found
is kept with it (``Documents``), so a document sent again costs a lookup. The same store
keeps the texts of Apollo's automatic persisted queries: a hash a client sent with its
document finds it again until the store, bounded in bytes, lets it go.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache
from graphql import DocumentNode

from service.graphql.errors import GraphQLErrorDict
from service.settings import ConfigurationError

# A parsed document holds 50 to 90 bytes per character of its text (tracemalloc,
# graphql-core 3.3, locations kept for error messages): each is charged 100.
BYTES_PER_CHARACTER = 100
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Document:
    """A document ready to run (``node``), or why it never will (``errors``)."""

    text: str
    node: DocumentNode | None
    errors: list[GraphQLErrorDict] = field(default_factory=list)

    @property
    def size(self) -> int:
        """A syntax tree's bytes for a document that runs; a refusal keeps its text and
        errors only (each error charged a generous 1 KiB)."""
        if self.node is None:
            return len(self.text) + 1024 * len(self.errors)
        return (len(self.text) + 1) * BYTES_PER_CHARACTER


def load_trusted(path: Path) -> dict[str, str]:
    """The documents of a trusted-documents file, by hash, each hash checked.

    Two formats: graphql-codegen's persisted-documents.json (``{"<sha256>": "<document>"}``)
    and Apollo's persisted query manifest (``{"operations": [{"id", "body"}, ...]}``).
    """
    where = f"GATEWAY_GRAPHQL_TRUSTED_DOCUMENTS ({path})"
    try:
        content = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{where} is not a readable JSON file: {exc}") from exc
    if isinstance(content, dict) and isinstance(content.get("operations"), list):
        pairs = [
            (operation.get("id"), operation.get("body"))
            for operation in content["operations"]
            if isinstance(operation, dict)
        ]
    elif isinstance(content, dict):
        pairs = list(content.items())
    else:
        raise ConfigurationError(f"{where} must be a JSON object")
    trusted: dict[str, str] = {}
    for digest, text in pairs:
        if not isinstance(text, str) or not isinstance(digest, str):
            raise ConfigurationError(f"{where}: every entry needs a hash and a document")
        if digest.removeprefix("sha256:") != sha256(text):
            raise ConfigurationError(f"{where}: {digest!r} is not the SHA-256 of its document")
        trusted[sha256(text)] = text
    return trusted


class Documents(LRUCache[str, Document]):
    """Documents by the SHA-256 of their text, at most ``max_bytes`` of them by
    ``Document.size``, least recently used first out."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=lambda document: document.size)

    def put(self, digest: str, document: Document) -> None:
        if document.size <= self.maxsize:  # a larger one is simply not kept
            self[digest] = document
