"""Relay-style connections over CodeDeploy's paged lists: the window and its cursors come
from ``service.reads.pages`` (one way for both faces); here, how GraphQL shows them."""

from typing import Any

import strawberry

from service.reads.pages import MAX_COUNTED_PAGES, Listing, Window


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(window: Window, after: str | None) -> PageInfo:
    """Relay's page information; with no edges but more behind them (CodeDeploy answered
    empty pages), ``endCursor`` is where the next window starts, so a client goes on."""
    found = window.found
    return PageInfo(
        has_next_page=window.has_next,
        has_previous_page=after is not None,
        start_cursor=window.seal(found[0][0]) if found else None,
        end_cursor=window.seal(found[-1][0]) if found else window.next_cursor,
    )


async def _count(parent: strawberry.Parent[Any]) -> int | None:
    listing: Listing = parent.listing
    return await listing.total()


def total_count(what: str) -> Any:
    """A connection's ``totalCount``: its list counted from its id pages (cached, the first
    of which a first page reads anyway); null past the bound."""
    return strawberry.field(
        resolver=_count,
        description=f"All {what}, counted from up to {MAX_COUNTED_PAGES} id pages (cached); "
        "null for a longer list.",
    )
