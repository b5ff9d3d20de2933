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
    """Up to ``first`` ids of a list, each with its cursor, the pages they were read from,
    and where the next window starts (None at the end): past the last page read, even when
    CodeDeploy answered empty pages that still had more behind them."""

    found: list[tuple[Position, str]]
    caches: list[CacheInfo]
    next_cursor: str | None
    seal: Callable[[Position], str]

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def ids(self) -> list[str]:
        return [id_ for _, id_ in self.found]

    @property
    def items(self) -> list[tuple[str, str]]:
        """Each id with its cursor, sealed on asking: REST needs only ``next_cursor``."""
        return [(self.seal(position), id_) for position, id_ in self.found]


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

    async def window(self, first: int, after: str | None) -> Window:
        """``first`` ids after the cursor ``after``, from at most ``list_pages(first, …)``
        pages, what callers are charged: when CodeDeploy answers with smaller pages than its
        usual 100, the window is shorter and says there is more, rather than cost more."""
        check_page_size(first)
        token, index = self.position(after)
        found: list[tuple[Position, str]] = []
        caches: list[CacheInfo] = []
        for _ in range(list_pages(first, after=after is not None)):
            page = await self.list_page(token)
            caches.append(page.cache)
            taken = page.value.ids[index + 1 : index + 1 + first - len(found)]
            found.extend(((token, index + 1 + offset), id_) for offset, id_ in enumerate(taken))
            index += len(taken)
            if index + 1 < len(page.value.ids):
                break
            if page.value.next_token is None:
                return Window(found, caches, None, self.cursor)
            token, index = page.value.next_token, -1
            if len(found) == first:
                break
        return Window(found, caches, self.cursor((token, index)), self.cursor)

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
