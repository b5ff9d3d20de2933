"""Pages of CodeDeploy's paged id lists, one way for both faces: a window of ``first`` ids
from a cursor, the cursors sealed and bound to their list (``service.tokens``), and the
list's count where it can be had within a bound.

CodeDeploy pages by its own size (100) and tokens; a window walks as many of its pages as
its size needs (``costs.list_pages``: what a caller is charged), so any page size from
any cursor reads the list without gaps or repeats.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from service.cache import Cached
from service.errors import CacheInfo, InvalidRequest
from service.models import IdPage
from service.reads.costs import list_pages
from service.tokens import Cursors, Position

ListPage = Callable[[str | None], Awaitable[Cached[IdPage]]]
"""One page of an id list, by CodeDeploy's ``nextToken`` it starts at."""

# One page size everywhere, REST's `pageSize` and GraphQL's `first`. Larger pages would
# mean more than four upstream batch calls for one page of summaries.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# Counting a list walks its id pages; past this many pages the count is left unknown.
MAX_COUNTED_PAGES = 10

BEFORE_FIRST: Position = (None, -1)


@dataclass(frozen=True, slots=True)
class Window:
    """Up to ``first`` ids of a list, each with its cursor, and the pages they were read from."""

    items: list[tuple[str, str]]
    has_next: bool
    caches: list[CacheInfo]

    @property
    def ids(self) -> list[str]:
        return [id_ for _, id_ in self.items]


@dataclass(frozen=True, slots=True)
class Listing:
    """One of CodeDeploy's id lists (``binding`` names it, its parent and its filters) as
    both faces page through it."""

    binding: str
    list_page: ListPage
    cursors: Cursors

    def cursor(self, position: Position) -> str:
        return self.cursors.seal(self.binding, position)

    def position(self, after: str | None) -> Position:
        return BEFORE_FIRST if after is None else self.cursors.open(self.binding, after)

    def next_cursor(self, window: Window, after: str | None) -> str | None:
        """Where the window after ``window`` starts (REST's ``nextToken``): its last item's
        cursor; for an empty window with more behind it, where it started."""
        if not window.has_next:
            return None
        if window.items:
            return window.items[-1][0]
        return after or self.cursor(BEFORE_FIRST)

    async def window(self, first: int, after: str | None) -> Window:
        """``first`` ids after the cursor ``after``, from at most ``list_pages(first, …)``
        pages, what callers are charged: when CodeDeploy answers with smaller pages than its
        usual 100, the window is shorter and says there is more, rather than cost more."""
        check_page_size(first)
        token, index = self.position(after)
        start = index + 1
        items: list[tuple[str, str]] = []
        caches: list[CacheInfo] = []
        for _ in range(list_pages(first, after=after is not None)):
            page = await self.list_page(token)
            caches.append(page.cache)
            taken = page.value.ids[start : start + first - len(items)]
            items.extend(
                (self.cursor((token, start + offset)), id_) for offset, id_ in enumerate(taken)
            )
            if start + len(taken) < len(page.value.ids):
                return Window(items, True, caches)
            if page.value.next_token is None:
                return Window(items, False, caches)
            if len(items) == first:
                return Window(items, True, caches)
            token, start = page.value.next_token, 0
        return Window(items, True, caches)

    async def total(self) -> int | None:
        """Every id of the list, counted from its id pages (cached); None past the bound."""
        total, token = 0, None
        for _ in range(MAX_COUNTED_PAGES):
            page = (await self.list_page(token)).value
            total += len(page.ids)
            token = page.next_token
            if token is None:
                return total
        return None


def check_page_size(first: int) -> None:
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"A page size (`first`, `pageSize`) is 0 to {MAX_PAGE_SIZE}.")
