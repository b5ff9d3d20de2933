"""What each read costs, written once, against what the reads make of CodeDeploy."""

import pytest

from service.codedeploy import BATCH_LIMIT, LIST_PAGE_SIZE
from service.reads import costs


@pytest.mark.parametrize(("ids", "calls"), [(0, 0), (1, 1), (25, 1), (26, 2), (100, 4)])
def test_a_batch_read_is_one_call_per_batch(ids: int, calls: int) -> None:
    assert costs.batch(ids) == calls


def test_names_batch_by_a_hundred() -> None:
    assert (costs.names_batch(100), costs.names_batch(101)) == (1, 2)


@pytest.mark.parametrize(
    ("count", "after", "pages"), [(0, False, 1), (100, False, 1), (101, False, 2), (100, True, 2)]
)
def test_a_window_reads_its_pages_and_one_more_from_a_cursor(
    count: int, after: bool, pages: int
) -> None:
    assert costs.list_pages(count, after=after) == pages


def test_the_statistics_bound_is_made_of_its_pages_and_batches() -> None:
    most = costs.MAX_STATS_DEPLOYMENTS
    assert costs.STATS == most // LIST_PAGE_SIZE + most // BATCH_LIMIT == 25


def test_a_page_of_groups_is_its_list_and_one_batch_read() -> None:
    assert costs.PAGE_OF_GROUPS == 2


def test_a_watch_read_is_bounded_by_its_pages() -> None:
    assert costs.watch(1000, max_pages=10) == 1 + 10 + 40
    assert costs.watch(1000, max_pages=3) == 1 + 3 + 40
    assert costs.watch(0, max_pages=10) == 1 + 1 + 0
