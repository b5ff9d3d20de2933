"""HTTP's conditional and refresh semantics, the same on both faces: entity tags,
``If-None-Match`` and ``Cache-Control: no-cache``."""

import hashlib


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
