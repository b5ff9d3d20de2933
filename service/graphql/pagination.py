"""Relay-style cursors over CodeDeploy's paged lists.

A cursor is where an item sits: the gateway's sealed token of its page (``service.tokens``)
and its index there. Opaque to clients; a forged one is refused, never sent upstream.
"""

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import strawberry

from service.cache import Cached
from service.errors import ErrorCode, InvalidRequest
from service.models import IdPage
from service.reads.costs import list_pages
from service.tokens import MAX_TOKEN_CHARACTERS

ListPage = Callable[[str | None], Awaitable[Cached[IdPage]]]
"""One page of an id list, by the ``nextToken`` it starts at."""

# Larger pages would mean more than four upstream batch calls for one field.
MAX_FIRST = 100
# A sealed token, its index and their JSON, in base64.
MAX_CURSOR_CHARACTERS = 2 * MAX_TOKEN_CHARACTERS


def encode_cursor(token: str | None, index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([token, index]).encode()).decode()


def decode_cursor(after: str | None) -> tuple[str | None, int]:
    """Where the page after ``after`` starts: ``(token, index)`` of its first item."""
    if after is None:
        return None, 0
    if len(after) > MAX_CURSOR_CHARACTERS:
        raise InvalidRequest(
            "`after` is not a cursor from this API.", code=ErrorCode.INVALID_CURSOR
        )
    try:
        token, index = json.loads(base64.urlsafe_b64decode(after.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidRequest(
            "`after` is not a cursor from this API.", code=ErrorCode.INVALID_CURSOR
        ) from exc
    if not (token is None or isinstance(token, str)) or not isinstance(index, int) or index < 0:
        raise InvalidRequest(
            "`after` is not a cursor from this API.", code=ErrorCode.INVALID_CURSOR
        )
    return token, index + 1


def check_first(first: int) -> None:
    if not 0 <= first <= MAX_FIRST:
        raise InvalidRequest(
            f"`first` must be between 0 and {MAX_FIRST}.", code=ErrorCode.BAD_USER_INPUT
        )


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class Window:
    """Up to ``count`` ids from a paged list, each with the position a cursor can resume at."""

    items: list[tuple[str | None, int, str]]
    has_next: bool


async def window(page: ListPage, *, token: str | None, start: int, count: int) -> Window:
    """``count`` ids from position ``start`` of the page at ``token`` onwards, read from
    at most ``list_pages(count, token)`` pages, what the GraphQL estimate counts: when
    CodeDeploy answers with smaller pages than its usual 100, the window is shorter and
    says there is more, rather than cost more than the caller was charged."""
    items: list[tuple[str | None, int, str]] = []
    for _ in range(list_pages(count, after=token is not None or start > 0)):
        ids = (await page(token)).value
        taken = ids.ids[start : start + count - len(items)]
        items.extend((token, start + offset, id_) for offset, id_ in enumerate(taken))
        if start + len(taken) < len(ids.ids):
            return Window(items, has_next=True)
        if ids.next_token is None:
            return Window(items, has_next=False)
        if len(items) == count:
            return Window(items, has_next=True)
        token, start = ids.next_token, 0
    return Window(items, has_next=True)


async def page_of(list_page: ListPage, first: int, after: str | None) -> Window:
    """The window a connection's ``first`` and ``after`` ask for, checked."""
    check_first(first)
    token, start = decode_cursor(after)
    return await window(list_page, token=token, start=start, count=first)


def page_info(window: Window, after: str | None) -> PageInfo:
    cursors = [encode_cursor(token, index) for token, index, _ in window.items]
    return PageInfo(
        has_next_page=window.has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
