"""What the caches hold of an answer: its AWS-shaped JSON, parsed again only when needed."""

from typing import Generic, TypeVar

from pydantic import BaseModel

from service.freshness import entity_tag

M = TypeVar("M", bound=BaseModel)


class Snapshot(Generic[M]):
    """A model kept as its AWS-shaped JSON, which is what the cache holds.

    About a tenth of the memory of the model objects (10,000 instances with their
    lifecycle events: ~16 MB instead of ~150 MB), and REST answers the bytes as they are.
    ``model`` parses them again for the faces that need objects.
    """

    __slots__ = ("_type", "body", "etag", "terminal")

    def __init__(self, model: M) -> None:
        body = model.model_dump_json(by_alias=True, exclude_none=True).encode()
        self._fill(type(model), body, getattr(model, "is_terminal", False))

    @classmethod
    def stored(cls, model_type: type[M], body: bytes, terminal: bool) -> "Snapshot[M]":
        """A snapshot as another replica made it (the shared store's copy), not parsed."""
        snapshot: Snapshot[M] = cls.__new__(cls)
        snapshot._fill(model_type, body, terminal)
        return snapshot

    def _fill(self, model_type: type[M], body: bytes, terminal: bool) -> None:
        self._type = model_type
        self.body = body
        # An HTTP entity tag, quotes and all: made once, sent with every answer of it.
        self.etag = entity_tag(body)
        self.terminal = terminal

    @property
    def model(self) -> M:
        return self._type.model_validate_json(self.body)
