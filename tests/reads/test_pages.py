"""Windows over CodeDeploy's paged lists: any page size from any cursor reads the list
whole, without gaps or repeats, whatever pages CodeDeploy answers with."""

import pytest

from service.cache import Cached
from service.errors import CacheInfo, InvalidRequest
from service.models import IdPage
from service.reads.pages import Listing
from service.tokens import Cursors

FRESH = CacheInfo(hit=False, max_age=5)


def listing(*pages: list[str]) -> tuple[Listing, list[str | None]]:
    """A list CodeDeploy answers in ``pages`` (tokens "1", "2", …), and the tokens asked."""
    asked: list[str | None] = []

    async def list_page(token: str | None) -> Cached[IdPage]:
        asked.append(token)
        number = int(token or 0)
        following = str(number + 1) if number + 1 < len(pages) else None
        return Cached(IdPage(ids=pages[number], next_token=following), FRESH)

    return Listing("a list", list_page, Cursors(b"k" * 32).scoped("here")), asked


async def walk(pages: Listing, first: int) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(50):
        window = await pages.window(first, after)
        seen += window.ids
        if window.next_cursor is None:
            return seen
        after = window.next_cursor
    raise AssertionError(f"the walk never ended: {seen}")


@pytest.mark.parametrize("first", [1, 2, 3, 7, 100])
async def test_every_page_size_reads_the_list_once(first: int) -> None:
    pages, _ = listing(["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"])
    assert await walk(pages, first) == list("abcdefghi")


async def test_empty_pages_with_more_behind_them_are_walked_past() -> None:
    pages, asked = listing(["a", "b"], [], [], [], ["c"])
    assert await walk(pages, 2) == ["a", "b", "c"]
    assert asked.count("2") == 1  # each empty page read once, never again


async def test_a_last_page_filled_exactly_says_there_is_no_more() -> None:
    pages, _ = listing(["a", "b"], ["c", "d"])
    window = await pages.window(2, (await pages.window(2, None)).next_cursor)
    assert (window.ids, window.next_cursor) == (["c", "d"], None)


async def test_a_page_of_none_moves_nothing() -> None:
    pages, _ = listing(["a", "b"])
    window = await pages.window(0, None)
    assert window.ids == []
    assert (await pages.window(5, window.next_cursor)).ids == ["a", "b"]


async def test_a_cursor_of_another_list_or_scope_is_refused() -> None:
    pages, asked = listing(["a", "b", "c"])
    cursor = (await pages.window(1, None)).next_cursor
    assert cursor is not None
    other = Listing("another list", pages.list_page, pages.cursors)
    elsewhere = Listing(pages.binding, pages.list_page, Cursors(b"k" * 32).scoped("there"))
    asked.clear()
    for stranger in (other, elsewhere):
        with pytest.raises(InvalidRequest):
            await stranger.window(1, cursor)
    assert asked == []  # refused before any page is read
