"""The caching policy: how long each answer is kept."""

from service.errors import NotFound, Throttled, UpstreamError
from service.models import IdPage, InstanceSummary
from service.reads import Lifetimes
from service.settings import Settings
from service.snapshot import Snapshot

LIFETIMES = Lifetimes(changing=5, final=60, not_found=7)


def test_a_final_answer_is_kept_longer_than_a_changing_one() -> None:
    final = Snapshot(InstanceSummary(instance_id="i-1", status="Succeeded"))
    changing = Snapshot(InstanceSummary(instance_id="i-1", status="InProgress"))
    assert (LIFETIMES.snapshot(final), LIFETIMES.snapshot(changing)) == (60, 5)


def test_a_page_is_kept_as_long_as_what_changes() -> None:
    assert LIFETIMES.page(IdPage(ids=["i-1"])) == 5


def test_only_not_found_is_kept_of_the_errors() -> None:
    assert LIFETIMES.error(NotFound("gone")) == 7
    assert LIFETIMES.error(Throttled("slow down")) == 0
    assert LIFETIMES.error(UpstreamError("broken")) == 0


def test_the_lifetimes_are_the_settings() -> None:
    settings = Settings(
        auth="none",
        cache_ttl_seconds=1,
        cache_terminal_ttl_seconds=2,
        cache_negative_ttl_seconds=3,
        stale_if_error_seconds=4,
    )
    assert Lifetimes.from_settings(settings) == Lifetimes(
        changing=1, final=2, not_found=3, stale_if_error=4
    )
