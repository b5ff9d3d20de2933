"""Relay-style cursors over CodeDeploy's paged lists.

A cursor is where an item sits: the gateway's sealed token of its page (``service.tokens``)
and its index there. Opaque to clients; a forged one is refused, never sent upstream.
"""

import base64
import binascii
import json

import strawberry

from service.errors import InvalidRequest
from service.tokens import MAX_TOKEN_CHARACTERS

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
        raise InvalidRequest("`after` is not a cursor from this API.", code="InvalidCursor")
    try:
        token, index = json.loads(base64.urlsafe_b64decode(after.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidRequest(
            "`after` is not a cursor from this API.", code="InvalidCursor"
        ) from exc
    if not (token is None or isinstance(token, str)) or not isinstance(index, int) or index < 0:
        raise InvalidRequest("`after` is not a cursor from this API.", code="InvalidCursor")
    return token, index + 1


def check_first(first: int) -> None:
    if not 0 <= first <= MAX_FIRST:
        raise InvalidRequest(f"`first` must be between 0 and {MAX_FIRST}.", code="InvalidPageSize")


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
