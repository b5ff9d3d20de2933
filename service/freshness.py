"""HTTP's conditional and refresh semantics, the same on both faces: entity tags,
``If-None-Match`` and ``Cache-Control: no-cache``; and what a read in this context may
settle for, told from the layer that knows to the ones that act on it."""

import asyncio
import contextvars
import hashlib
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

stale_allowed: ContextVar[bool] = ContextVar("stale_allowed", default=True)
"""Whether this request takes a stale answer when a read fails: not when its
``Cache-Control`` says ``no-cache`` or ``max-stale=0`` (set by the edge's gate)."""


@dataclass(slots=True)
class Reading:
    """How a read under way may wait for the budget toward CodeDeploy. Shared by all who
    wait on one (single-flight): a caller joining a background read makes it a caller's,
    one who takes no stale answer takes its fallback away; the read looks again at each
    turn it waits."""

    background: bool = False
    """Nobody's request (a watcher's, a refresh behind a stale answer): callers first."""
    fallback: bool = False
    """A stale answer stands ready for everyone waiting: fail at once rather than wait."""


reading: ContextVar[Reading | None] = ContextVar("reading", default=None)
"""The read this context makes (None: a caller's, with no fallback)."""


def in_the_background(
    work: Coroutine[Any, Any, T], name: str | None = None, read: Reading | None = None
) -> "asyncio.Task[T]":
    """``work`` as nobody's request: a task in a context of its own — none of the request
    that started it (its upstream request ids, its trace), however long it runs — whose
    reads are ``read`` (by default a background one: callers' reads go first)."""
    context = contextvars.Context()
    context.run(reading.set, read or Reading(background=True))
    return asyncio.create_task(work, name=name, context=context)


def in_background() -> bool:
    current = reading.get()
    return current is not None and current.background


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
    if refresh_requested(cache_control):
        return True
    return "max-stale=0" in {
        part.strip().lower().replace(" ", "") for part in cache_control.split(",")
    }


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names ``etag`` (weak comparison, as for GET)."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
