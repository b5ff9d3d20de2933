"""REST's lists: a page of ``pageSize`` ids after ``nextToken``, the same window, cursors
and bounds as GraphQL's connections (``service.reads.pages``)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query, Response

from service.cache import Cached
from service.errors import CacheInfo
from service.guard.ratelimit import Budget
from service.reads import costs
from service.reads.pages import MAX_PAGE_SIZE, Listing
from service.rest.render import json_object, render_json
from service.snapshot import Snapshot

PageSize = Annotated[
    int,
    Query(
        alias="pageSize",
        ge=0,
        le=MAX_PAGE_SIZE,
        description=f"Items a page holds, 0 to {MAX_PAGE_SIZE} (GraphQL's `first`).",
    ),
]
NextToken = Annotated[
    str | None,
    Query(
        alias="nextToken",
        description="The previous page's `nextToken`: a cursor bound to this list, its "
        "filters, account and region (any other is 400 `INVALID_CURSOR`).",
    ),
]


@dataclass(frozen=True, slots=True)
class Page:
    ids: list[str]
    next_token: str | None
    cache: CacheInfo


def combined(infos: list[CacheInfo]) -> CacheInfo:
    """A HIT only if every part was; fresh only as long as the stalest part; stale if a
    part was, as old as the oldest."""
    stale = [info for info in infos if info.stale]
    return CacheInfo(
        hit=all(i.hit for i in infos),
        max_age=min(i.max_age for i in infos),
        stale=stale[0].stale if stale else None,
        age=max((info.age for info in stale), default=0),
        directives=infos[0].directives,
    )


async def read_page(
    listing: Listing, page_size: int, next_token: str | None, budget: Budget
) -> Page:
    """The page, its pages past the first charged to the caller's budget first; a cursor
    that is not this list's is refused before anything is charged."""
    listing.position(next_token)
    more = costs.list_pages(page_size, after=next_token is not None) - costs.ONE
    if more:
        await budget.spend(more)
    window = await listing.window(page_size, next_token)
    return Page(window.ids, window.next_cursor, combined(window.caches))


def items_page(
    page: Page, key: str, found: Sequence[Cached[Snapshot[Any]]], if_none_match: str | None
) -> Response:
    """``page`` with the items its ids name, read, under ``key``: a HIT only if the page
    and every item were, fresh as long as the stalest."""
    body = json_object(**{key: [item.value.body for item in found]}, nextToken=page.next_token)
    cache = combined([page.cache, *(item.cache for item in found)])
    return render_json(body, cache, if_none_match).response()
