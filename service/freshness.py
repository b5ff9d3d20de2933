"""HTTP's conditional and refresh semantics, the same on both faces: entity tags,
``If-None-Match`` and ``Cache-Control: no-cache``; and what a read in this context may
settle for, told from the layer that knows to the ones that act on it."""

import hashlib
from contextvars import ContextVar

stale_allowed: ContextVar[bool] = ContextVar("stale_allowed", default=True)
"""Whether this request takes a stale answer when a read fails: not when its
``Cache-Control`` says ``no-cache`` or ``max-stale=0`` (set by the edge's gate)."""
stale_fallback: ContextVar[bool] = ContextVar("stale_fallback", default=False)
"""A stale answer stands ready for the read under way (set by the cache): rather than wait
for the budget toward CodeDeploy, it may fail at once and be answered stale."""
background: ContextVar[bool] = ContextVar("background", default=False)
"""The read is nobody's request (a watcher's, a refresh behind a stale answer): it yields
the budget toward CodeDeploy to callers' reads."""


def entity_tag(body: bytes) -> str:
    """A strong ETag naming ``body``'s bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def refresh_requested(cache_control: str | None) -> bool:
    """``Cache-Control: no-cache`` asks for the answer CodeDeploy gives now."""
    return cache_control is not None and "no-cache" in cache_control.lower()


def forbids_stale(cache_control: str | None) -> bool:
    """``Cache-Control: no-cache`` or ``max-stale=0``: this caller takes no answer past
    its lifetime, even when CodeDeploy's read fails (it gets the error)."""
    if cache_control is None:
        return False
    directives = {part.strip().lower().replace(" ", "") for part in cache_control.split(",")}
    return "no-cache" in directives or "max-stale=0" in directives


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names ``etag`` (weak comparison, as for GET)."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
